"""Layers, config and manifest: reproducible bytes, the spec's fields, the bundle's layout."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from fairing_magics.capture.bundle import Bundle
from fairing_magics.image.layout import CMD, DIGEST_LABEL, bundle_payload, code_layer
from fairing_magics.oci import (
    Layer,
    append_layers,
    layer_from_entries,
    layer_from_folder,
    parse_reference,
)
from fairing_magics.oci.image import BaseImage
from fairing_magics.oci.layer import TarEntry
from fairing_magics.oci.manifest import (
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def small_bundle(text: str = "hello") -> Bundle:
    return Bundle(source=f"print({text!r})\n", values={"x": b"\x80\x04K\x01."}, outputs=("y",),
                  files={"lib/mod.py": b"A = 1\n"}, python="3.11.2")


def tar_members(layer: Layer) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer.open().read()), mode="r:gz") as tar:
        return tar.getmembers()


def test_code_layer_entries_are_normalised():
    layer = code_layer(small_bundle())
    members = tar_members(layer)
    names = [m.name for m in members]
    assert names == sorted(names)
    assert "fairing/bundle/main.py" in names and "fairing/bundle/files/lib/mod.py" in names
    assert "fairing/bundle/fairing_bootstrap.py" in names
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 0), m.name
        assert m.mode in (0o644, 0o755, 0o1777), (m.name, oct(m.mode))
    # Every parent folder comes before its children.
    seen = set()
    for name in names:
        parent = name.rsplit("/", 1)[0] if "/" in name else None
        assert parent is None or parent in seen, name
        seen.add(name)


def test_gzip_header_has_no_mtime_nor_name():
    data = code_layer(small_bundle()).open().read()
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\0\0\0\0"  # MTIME
    assert data[3] & 0x08 == 0  # no FNAME flag


def test_digest_and_diff_id_match_the_bytes():
    layer = code_layer(small_bundle())
    raw = layer.open().read()
    assert layer.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(raw)).hexdigest()
    assert layer.size == len(raw)
    # Recomputed from the bytes alone (no precomputed sums), the same values come out.
    fresh = Layer(description="x", data=raw)
    assert (fresh.digest, fresh.diff_id, fresh.size) == (layer.digest, layer.diff_id, layer.size)


def test_source_date_epoch_sets_mtime_and_created(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    layer = code_layer(small_bundle())
    assert {m.mtime for m in tar_members(layer)} == {1700000000}
    image = append_layers(None, [layer])
    assert image.config["created"] == "2023-11-14T22:13:20Z"


def test_folder_layer_keeps_exec_bit_and_symlinks(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("X = 1\n")
    tool = src / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o700)
    (src / "link").symlink_to("pkg/__init__.py")
    layer = layer_from_folder(src, "fairing/deps", "deps", tmp_path / "blob.tar.gz")
    by_name = {m.name: m for m in tar_members(layer)}
    assert by_name["fairing/deps/bin/tool"].mode == 0o755
    assert by_name["fairing/deps/pkg/__init__.py"].mode == 0o644
    link = by_name["fairing/deps/link"]
    assert link.issym() and link.linkname == "pkg/__init__.py"
    assert layer.path == tmp_path / "blob.tar.gz"


def test_paths_outside_the_image_are_refused():
    with pytest.raises(ValueError):
        layer_from_entries([TarEntry("../etc/passwd", data=b"x")], "bad")


def test_config_and_manifest_fields():
    bundle = small_bundle()
    layer = code_layer(bundle)
    image = append_layers(None, [layer], **bundle_payload(bundle).config({}, with_deps=True))
    cfg = image.config
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
    assert cfg["history"][-1]["created_by"].startswith("fairing-magics: code layer")
    run = cfg["config"]
    assert run["Cmd"] == list(CMD)
    assert run["WorkingDir"] == "/fairing/work"
    assert "FAIRING_OUTPUT_DIR=/fairing/output" in run["Env"]
    assert "PYTHONPATH=/fairing/deps" in run["Env"]
    assert run["Labels"][DIGEST_LABEL] == bundle.digest
    manifest = json.loads(image.manifest_bytes)
    assert manifest["mediaType"] == OCI_MANIFEST and manifest["schemaVersion"] == 2
    assert manifest["config"]["digest"] == image.config_descriptor.digest
    assert manifest["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": layer.digest, "size": layer.size}]
    assert image.digest == "sha256:" + hashlib.sha256(image.manifest_bytes).hexdigest()


def test_docker_base_keeps_its_format_layers_and_env():
    base_cfg = {"architecture": "amd64", "os": "linux", "container_config": {"Cmd": ["sh"]},
                "config": {"Env": ["PATH=/usr/bin", "PYTHONPATH=/opt/x"], "Entrypoint": ["/init"],
                           "Labels": {"base": "yes"}},
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
                "history": [{"created_by": "base layer"}]}
    base = BaseImage(ref=parse_reference("127.0.0.1:5000/base@sha256:" + "2" * 64),
                     media_type=DOCKER_MANIFEST, config_bytes=json.dumps(base_cfg).encode(),
                     layers=(Descriptor(DOCKER_LAYER_GZIP, "sha256:" + "3" * 64, 100),))
    bundle = small_bundle()
    image = append_layers(base, [code_layer(bundle)],
                          **bundle_payload(bundle).config(base.env, with_deps=True))
    manifest = json.loads(image.manifest_bytes)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert [x["mediaType"] for x in manifest["layers"]] == [DOCKER_LAYER_GZIP] * 2
    assert manifest["layers"][0]["digest"] == "sha256:" + "3" * 64
    cfg = image.config
    assert "container_config" not in cfg
    assert len(cfg["rootfs"]["diff_ids"]) == 2 and len(cfg["history"]) == 2
    assert "Entrypoint" not in cfg["config"]  # it would prefix our Cmd
    assert cfg["config"]["Labels"] == {"base": "yes", DIGEST_LABEL: bundle.digest}
    env = cfg["config"]["Env"]
    assert env[0] == "PATH=/usr/bin" and "PYTHONPATH=/fairing/deps:/opt/x" in env
    assert json.loads(base.config_bytes) == base_cfg  # the base value is untouched


def test_equal_bundles_equal_digests_different_bundles_differ():
    one = append_layers(None, [code_layer(small_bundle())])
    two = append_layers(None, [code_layer(small_bundle())])
    other = append_layers(None, [code_layer(small_bundle("bye"))])
    assert one.digest == two.digest
    assert one.digest != other.digest


_BUILD_SCRIPT = textwrap.dedent("""
    import os, sys, time
    # A different clock: every time source the build could read is moved by years.
    offset = float(sys.argv[3])
    real_time, real_ns = time.time, time.time_ns
    time.time = lambda: real_time() + offset
    time.time_ns = lambda: real_ns() + int(offset * 1e9)
    os.umask(int(sys.argv[2], 8))
    from pathlib import Path
    from fairing_magics.capture.bundle import Bundle, write_bundle
    from fairing_magics.image.layout import bundle_payload, code_layer
    from fairing_magics.oci import append_layers, layer_from_folder
    work = Path(sys.argv[1])
    deps = work / "deps"
    (deps / "pkg").mkdir(parents=True)
    (deps / "pkg" / "__init__.py").write_text("VALUE = 42\\n")
    (deps / "pkg" / "data.bin").write_bytes(bytes(range(256)) * 50)
    os.utime(deps / "pkg" / "__init__.py", (time.time(), time.time()))
    bundle = Bundle(source="print('hi')\\n", values={"x": b"abc"}, outputs=("y",), python="3.11.2")
    write_bundle(bundle, work / "bundle")
    dep_layer = layer_from_folder(deps, "fairing/deps", "deps", work / "deps.tar.gz")
    config = bundle_payload(bundle).config({}, with_deps=True)
    image = append_layers(None, [dep_layer, code_layer(bundle)], **config)
    print(dep_layer.digest, image.digest)
""")


def test_builds_in_different_folders_umask_and_clock_give_the_same_digest(tmp_path):
    results = []
    for name, umask, offset in (("a", "022", "0"), ("deeper/b", "077", "315360000")):
        work = tmp_path / name
        work.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["TZ"] = "Asia/Shanghai" if umask == "077" else "UTC"
        out = subprocess.run([sys.executable, "-c", _BUILD_SCRIPT, str(work), umask, offset],
                             cwd=work, env=env, capture_output=True, text=True, check=True)
        results.append(out.stdout.split())
    assert results[0] == results[1]
    assert all(part.startswith("sha256:") for part in results[0])
