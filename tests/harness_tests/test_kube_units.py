"""Pure parts of the emulator: selectors, patches, timestamps, log rendering, store history."""

from __future__ import annotations

import threading

import pytest

from tests.harness.kube.apierrors import ApiError
from tests.harness.kube.logbook import (
    ContainerLog,
    Dropped,
    LogStream,
    format_timestamp,
    parse_timestamp,
    render_log,
)
from tests.harness.kube.patches import json_patch, merge_patch
from tests.harness.kube.resources import find_type
from tests.harness.kube.selectors import parse_field_selector, parse_label_selector
from tests.harness.kube.store import Store

POD = find_type("", "v1", "pods")
NS = find_type("", "v1", "namespaces")


def _obj(labels: dict, phase: str = "Running") -> dict:
    return {"metadata": {"name": "x", "labels": labels}, "status": {"phase": phase}}


@pytest.mark.parametrize("selector,labels,expected", [
    ("a=b", {"a": "b"}, True), ("a=b", {"a": "c"}, False), ("a!=b", {}, True),
    ("a in (x, y),b", {"a": "y", "b": ""}, True), ("a notin (x)", {"a": "x"}, False),
    ("!a", {"a": "1"}, False), ("a,!b", {"a": "1"}, True), ("a==1,c=2", {"a": "1"}, False),
])
def test_label_selectors(selector, labels, expected):
    assert parse_label_selector(selector)(_obj(labels)) is expected


def test_bad_selectors_are_400():
    with pytest.raises(ApiError) as e:
        parse_label_selector("a in b")
    assert e.value.code == 400
    with pytest.raises(ApiError) as e:
        parse_field_selector("spec.x=1", POD.allows_field)
    assert e.value.code == 400
    assert parse_field_selector("status.phase!=Running", POD.allows_field)(_obj({}, "Failed"))


def test_merge_and_json_patch():
    doc = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert (merge_patch(doc, {"a": {"b": None, "c": [3]}, "e": 2})
            == {"a": {"c": [3]}, "d": 1, "e": 2})
    patched = json_patch(doc, [{"op": "add", "path": "/a/c/-", "value": 3},
                               {"op": "remove", "path": "/d"},
                               {"op": "copy", "from": "/a/b", "path": "/f"},
                               {"op": "replace", "path": "/a/c/0", "value": 9}])
    assert patched == {"a": {"b": 1, "c": [9, 2, 3]}, "f": 1}
    assert doc == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # the input is not changed
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "test", "path": "/d", "value": 2}])


def test_timestamps_are_rfc3339nano_like_go():
    assert format_timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert format_timestamp(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert format_timestamp(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert parse_timestamp("2023-11-14T22:13:20.12Z") == 1_700_000_000_120_000_000
    assert parse_timestamp("2023-11-14T23:13:20+01:00") == 1_700_000_000_000_000_000


def _render(log, **kw) -> bytes:
    options = dict(follow=False, timestamps=False, since_ns=None, tail=None, limit_bytes=None,
                   stopping=threading.Event())
    options.update(kw)
    stream = options.pop("stream", LogStream())
    return b"".join(render_log(log, stream, **options))


def test_render_log_options_and_drop():
    log = ContainerLog()
    for i in range(5):
        log.append(f"line {i}\n".encode(), at_ns=(i + 1) * 1_000_000_000)
    assert _render(log) == b"".join(f"line {i}\n".encode() for i in range(5))
    assert _render(log, tail=2) == b"line 3\nline 4\n"
    assert _render(log, since_ns=4_000_000_000) == b"line 3\nline 4\n"
    assert _render(log, limit_bytes=10) == b"line 0\nlin"
    assert _render(log, tail=1, timestamps=True) == b"1970-01-01T00:00:05Z line 4\n"
    got = []
    with pytest.raises(Dropped):
        for chunk in render_log(log, LogStream(drop_after=2), follow=True, timestamps=False,
                                since_ns=None, tail=None, limit_bytes=None,
                                stopping=threading.Event()):
            got.append(chunk)
    assert b"".join(got) == b"line 0\nline 1\n"


def test_follow_waits_for_new_lines_until_close():
    log = ContainerLog()
    out: list[bytes] = []
    t = threading.Thread(target=lambda: out.append(_render(log, follow=True)))
    t.start()
    log.append(b"a\n")
    log.append(b"b\n")
    log.close()
    t.join(5)
    assert out == [b"a\nb\n"]


def test_store_history_is_bounded_and_old_versions_are_gone():
    store = Store(history_limit=3)
    store.create(NS, "", {"metadata": {"name": "default"}})
    first = store.rv
    for i in range(5):
        store.create(POD, "default", {"metadata": {"name": f"p{i}"},
                                      "spec": {"containers": [{"name": "c", "image": "i:1"}]}})
    with pytest.raises(ApiError) as e:
        store.watch(POD, "default", lambda o: True, str(first))
    assert e.value.code == 410
    w = store.watch(POD, "default", lambda o: True, str(store.rv - 1))
    kind, obj = w.events.get_nowait()
    assert kind == "ADDED" and obj["metadata"]["name"] == "p4"
