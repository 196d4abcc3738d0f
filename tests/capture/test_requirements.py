"""Requirement mapping for distributions installed into a temporary site folder."""

from __future__ import annotations

import importlib
import sys

import pytest

from fairing_magics.capture import requirements as req


def _install(site, dist, version, files, top_level=None, direct_url=None):
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    record = []
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        record.append(f"{rel},,")
    (info / "RECORD").write_text("\n".join(record) + "\n")
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level + "\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(direct_url)


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    for cached in (req._distributions_by_import, req._dist_facts, req._guess_distribution):
        cached.cache_clear()
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] in ("nsfair", "fairmod", "fairedit")]:
        del sys.modules[name]
    for cached in (req._distributions_by_import, req._dist_facts, req._guess_distribution):
        cached.cache_clear()
    importlib.invalidate_caches()


def test_namespace_package_parts_map_to_their_own_distributions(site):
    _install(site, "nsfair-alpha", "1.0", {"nsfair/alpha/__init__.py": "A = 1\n"})
    _install(site, "nsfair-beta", "2.0", {"nsfair/beta/__init__.py": "B = 2\n"})
    importlib.invalidate_caches()
    importlib.import_module("nsfair.alpha")
    importlib.import_module("nsfair.beta")
    packages, notes = req.pin_requirements({"nsfair.alpha", "nsfair.beta.x"})
    assert notes == ()
    assert {(p.import_name, p.dist, p.version) for p in packages} == {
        ("nsfair.alpha", "nsfair-alpha", "1.0"), ("nsfair.beta", "nsfair-beta", "2.0")}


def test_import_name_differs_from_distribution(site):
    _install(site, "fair-module-dist", "3.1", {"fairmod/__init__.py": ""}, top_level="fairmod")
    importlib.invalidate_caches()
    info = req.find_package("fairmod.sub")
    assert (info.import_name, info.dist, info.version, info.reproducible) == (
        "fairmod", "fair-module-dist", "3.1", True)
    assert req.requirement_lines((info,)) == ("fair-module-dist==3.1",)


def test_local_install_is_not_reproducible(site):
    _install(site, "fairedit", "0.1", {"fairedit/__init__.py": ""}, top_level="fairedit",
             direct_url='{"url": "file:///home/me/fairedit", "dir_info": {}}')  # path ok
    importlib.invalidate_caches()
    info = req.find_package("fairedit")
    assert not info.reproducible and "file:///home/me/fairedit" in info.note  # path ok
    assert req.requirement_lines((info,)) == ()
