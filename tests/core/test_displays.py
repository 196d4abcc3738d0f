"""Rich outputs without a kernel: the runtime's formatting and final-expression compiling, the
wire from the runtime's markers through the terminal to the run's collector (caps, secrets,
updates in place, what is saved), and which replica is the chief."""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import zlib

import pytest

from fairing_magics import events as ev
from fairing_magics.backends.lines import Terminal, marker_event
from fairing_magics.displays import DisplayCollector, read_displays
from fairing_magics.runtime import display as rt
from fairing_magics.runtime.bootstrap import replica_of
from fairing_magics.runtime.live import LiveStream, _LineState, write_markers


def png(width: int = 2, height: int = 1, text: bytes = b"") -> bytes:
    """A real PNG (an ``tEXt`` chunk holding ``text`` when given)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    extra = chunk(b"tEXt", b"Comment\0" + text) if text else b""
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Table:
    def _repr_html_(self):
        return "<table><tr><td>1</td></tr></table>"

    def __repr__(self):
        return "Table(1)"


class Picture:
    def _repr_png_(self):
        return png(), {"width": 20}


class Bundled:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return ({"text/markdown": "**bold**", "application/json": {"a": 1}},
                {"text/markdown": {"x": 1}})


class Broken:
    def _repr_html_(self):
        raise RuntimeError("no html today")

    def __repr__(self):
        return "Broken()"


class MakesUpAttributes:
    def __getattr__(self, name):
        return lambda *a, **k: "<b>made up</b>"

    def __repr__(self):
        return "MakesUp()"


def test_objects_become_mime_bundles_as_ipython_would(capsys):
    assert rt.plain_format(Table()) == ({"text/html": "<table><tr><td>1</td></tr></table>",
                                         "text/plain": "Table(1)"}, {})
    data, metadata = rt.plain_format(Picture())
    assert base64.b64decode(data["image/png"]) == png() and metadata == {"image/png": {"width": 20}}
    data, metadata = rt.plain_format(Bundled())
    assert data["text/markdown"] == "**bold**" and data["application/json"] == {"a": 1}
    assert metadata == {"text/markdown": {"x": 1}} and data["text/plain"].startswith("<")
    assert rt.plain_format(Broken())[0] == {"text/plain": "Broken()"}  # the broken form is left out
    assert "Broken._repr_html_() failed: RuntimeError: no html today" in capsys.readouterr().err
    assert rt.plain_format(MakesUpAttributes())[0] == {"text/plain": "MakesUp()"}
    assert rt.plain_format(Table(), include={"text/html"})[0] == {
        "text/html": "<table><tr><td>1</td></tr></table>"}
    assert rt.plain_format(3.5) == ({"text/plain": "3.5"}, {})


@pytest.mark.parametrize("source, shown", [
    ("x = 2\nx * 21\n", 42),
    ("x = 2\nx * 21;\n", None),  # a trailing ';' shows nothing, as in IPython
    ("x = 2\nx * 21  ;  # quiet\n", None),
    ("x = 2\nif x:\n    x * 21\n", None),  # only a last top-level expression is shown
    ("x = [1]\nx.append(2)\n", None),  # None is never shown
    ("from __future__ import annotations\ndef f(a: Missing) -> int:\n    return 1\n"
     "f.__annotations__['a']\n",
     "Missing"),
    ("'a;b'\n", "a;b"),
])
def test_the_final_expression_is_split_off_as_ipython_shows_it(source, shown):
    body, final = rt.compile_cell(source, "main.py")
    namespace: dict = {}
    exec(body, namespace)
    value = None if final is None else eval(final, namespace)
    assert value == shown


def test_a_final_expression_that_raises_points_at_its_line():
    body, final = rt.compile_cell("x = 1\n\n1 / (x - 1)\n", "/b/main.py")
    namespace: dict = {}
    exec(body, namespace)
    with pytest.raises(ZeroDivisionError) as caught:
        eval(final, namespace)
    frame = caught.traceback[-1]
    assert (str(frame.path), frame.lineno + 1) == ("/b/main.py", 3)


def _collect(folder, payloads_by_source, **limits) -> tuple[DisplayCollector, list]:
    """Marker payloads (as the runtime writes them) through the kernel's terminal, marker_event
    and a collector; every event it emits, in order."""
    collector = DisplayCollector(folder, **limits)
    emitted = []
    for source, payloads in payloads_by_source:
        out = io.StringIO()
        write_markers(payloads, LiveStream(out, _LineState()))
        terminal = Terminal()
        assert terminal.feed(out.getvalue()) == () and terminal.close() == ()
        for marker in terminal.take_markers():
            event = marker_event(marker, source)
            emitted.extend(collector.add(event) if isinstance(event, ev.DisplayPart) else [event])
    return collector, emitted


def _payloads(message: dict, display_id: str = "7.1") -> list[str]:
    return rt.message_markers(display_id, rt.encode_message(message))


def test_a_large_figure_crosses_in_parts_and_is_saved_with_its_image(tmp_path):
    image = png(400, 300)
    # no compression: many parts
    noise = base64.b64encode(random.Random(3).randbytes(60000)).decode()
    message = {"kind": "figure", "data": {"image/png": base64.b64encode(image).decode(),
                                          "text/plain": "<Figure size 640x480 with 1 Axes>",
                                          "application/x-noise": noise}, "metadata": {}}
    payloads = _payloads(message)
    assert len(payloads) > 10 and all(len(p) < rt.CHUNK + 60 for p in payloads)
    collector, emitted = _collect(tmp_path, [("", payloads[::-1])])  # in any order
    (shown,) = [e.display for e in emitted if isinstance(e, ev.DisplayShown)]
    assert shown.index == 1 and shown.kind == "figure" and shown.image.read_bytes() == image
    assert (shown.image.name == "001.png"
            and json.loads(open(shown.files[0]).read())["kind"] == "figure")
    assert read_displays(tmp_path) == collector.shown() == [shown]
    assert shown.placeholder() == f"figure 1: {shown.image}"
    assert shown._repr_mimebundle_(include={"image/png"})[0] == {
        "image/png": message["data"]["image/png"]}


def test_caps_per_display_and_per_run_leave_out_with_one_notice(tmp_path):
    small = {"kind": "display", "data": {"text/plain": "x" * 100}, "metadata": {}}
    big = {"kind": "display", "data": {"text/plain": "y" * 5000}, "metadata": {}}
    payloads = [*_payloads(small, "1.1"), *_payloads(big, "1.2"), *_payloads(small, "1.3"),
                *_payloads(small, "1.4"), *_payloads(small, "1.5")]
    collector, emitted = _collect(tmp_path, [("", payloads)], display_limit=1000,
                                  displays_limit=250)
    notices = [e.text for e in emitted if isinstance(e, ev.Notice)]
    assert [d.index for d in collector.shown()] == [1, 2]
    assert len(notices) == 2, notices
    assert "of 4.9 KiB was left out: over the cap of 1000 bytes per display" in notices[0]
    assert "over the run's cap of 250 bytes are left out from here on" in notices[1]


def test_credentials_are_masked_in_text_and_an_image_holding_one_is_left_out(tmp_path):
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    html = f"<p>aws_access_key_id = {key}</p>"
    message = {"kind": "display",
               "data": {"text/html": html, "text/plain": f"key {key}",
                        "image/png": base64.b64encode(png(text=key.encode())).decode()},
               "metadata": {}}
    collector, emitted = _collect(tmp_path, [("", _payloads(message))])
    (shown,) = collector.shown()
    assert key not in json.dumps(dict(shown.data)) and "image/png" not in shown.data
    assert "text/html" in shown.data
    assert any("image/png display held what looks like a credential" in e.text
               for e in emitted if isinstance(e, ev.Notice))
    saved = b"".join(p.read_bytes() for p in (tmp_path / "displays").iterdir())
    assert key.encode() not in saved


def test_an_update_replaces_its_display_in_place_and_replicas_are_kept_apart(tmp_path):
    first = {"kind": "display", "data": {"text/plain": "epoch 1"}, "display_id": "d1",
             "metadata": {}}
    second = {**first, "data": {"text/plain": "epoch 2"}, "update": True}
    collector, emitted = _collect(tmp_path, [
        ("chief-0", _payloads(first, "3.1")), ("worker-0", _payloads(first, "3.1")),
        ("chief-0", _payloads(second, "3.2"))])
    shown = [(e.display.index, e.display.source, e.display.text, e.replaces)
             for e in emitted if isinstance(e, ev.DisplayShown)]
    assert shown == [(1, "chief-0", "epoch 1", False), (2, "worker-0", "epoch 1", False),
                     (1, "chief-0", "epoch 2", True)]
    assert [(d.index, d.source, d.text) for d in collector.shown()] == [(1, "chief-0", "epoch 2"),
                                                                        (2, "worker-0", "epoch 1")]
    assert sorted(p.name for p in (tmp_path / "displays").iterdir()) == ["001-chief-0.json",
                                                                         "002-worker-0.json"]
    assert [d.text for d in read_displays(tmp_path)] == ["epoch 2", "epoch 1"]


def test_damaged_or_unfitting_parts_are_a_notice_not_a_crash(tmp_path):
    good = _payloads({"kind": "display", "data": {"text/plain": "ok"}, "metadata": {}}, "5.1")
    parts = ["display=5.2;part=1;of=1;data=bm90IHpsaWI=", "display=5.3;part=3;of=2;data=AAAA",
             *good]
    collector, emitted = _collect(tmp_path, [("", parts)])
    notices = [e.text for e in emitted if isinstance(e, ev.Notice)]
    assert len(notices) == 2 and "damaged" in notices[0] and "did not fit" in notices[1]
    assert [d.text for d in collector.shown()] == ["ok"]


def test_a_runtime_notice_marker_is_a_notice_of_its_replica():
    event = marker_event(rt.notice_marker("a figure (image/png) of 5.2 MB was left out; 100% sure"),
                         "worker-1")
    assert event == ev.Notice("a figure (image/png) of 5.2 MB was left out; 100% sure", "warning",
                              "worker-1")


@pytest.mark.parametrize("environ, expected", [
    ({}, ("", True)),
    ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a"], "worker": ["b"]},
                               "task": {"type": "chief", "index": 0}})}, ("chief-0", True)),
    ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a"], "worker": ["b"]},
                               "task": {"type": "worker", "index": 0}})}, ("worker-0", False)),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a", "b"]},
                               "task": {"type": "worker", "index": 0}})},
     ("worker-0", True)),  # no chief: worker 0 is
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a"], "ps": ["b"]},
                               "task": {"type": "ps", "index": 0}})},
     ("ps-0", False)),
    ({"RANK": "0", "WORLD_SIZE": "3"}, ("master-0", True)),
    ({"RANK": "2", "WORLD_SIZE": "3"}, ("worker-1", False)),
    ({"PET_NODE_RANK": "1", "PET_NNODES": "2"}, ("node-1", False)),
    ({"PET_NODE_RANK": "0", "PET_NNODES": "2"}, ("node-0", True)),
    ({"JOB_COMPLETION_INDEX": "3"}, ("index-3", False)),
    ({"TF_CONFIG": "not json", "RANK": "0"}, ("master-0", True)),
])
def test_which_replica_a_process_is(environ, expected):
    assert replica_of(environ) == expected


def test_a_bundle_run_by_hand_prints_displays_and_keeps_figures_and_the_value(tmp_path):
    """No kernel reads the markers: display() prints its text as IPython's terminal would, a
    figure is saved under the output folder and the value kept, neither printed (stdout stays
    what a kernel's stdout is)."""
    import os
    import pickle
    import subprocess
    import sys

    from fairing_magics.capture import capture_cell, write_bundle

    cell = ("import matplotlib.pyplot as plt\n"
            "display({'epochs': 3})\n"
            "plt.plot([1, 2, 3])\n"
            "plt.show()\n"
            "print('trained')\n"
            "sum([1, 2, 3])\n")
    bundle = write_bundle(capture_cell(cell, {}, [cell], cwd=tmp_path), tmp_path / "bundle")
    (tmp_path / "work").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRING_")}
    env["FAIRING_OUTPUT_DIR"] = str(tmp_path / "out")
    done = subprocess.run([sys.executable, str(bundle / "fairing_bootstrap.py")],
                          cwd=tmp_path / "work", env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{'epochs': 3}\ntrained\n" and "\x1b" not in done.stdout
    assert (tmp_path / "out" / "displays" / "001.png").read_bytes().startswith(b"\x89PNG")
    assert pickle.loads((tmp_path / "out" / "result.pkl").read_bytes()) == 6
