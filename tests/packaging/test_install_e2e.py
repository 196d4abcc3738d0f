"""The package as a user gets it: ``python -m build`` makes a wheel and an sdist holding every
module (the runtime files that run inside containers included); both install in a clean venv
made the README's way (``python3 -m venv``, ``pip install '...[examples]'``), where every notebook
of ``examples/`` runs headless with ``fairing-magics run`` and nothing of this checkout is on the
path. One venv per session: pip's cache is warm from the suite's own install, so this costs
about a minute."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from tests.harness import need

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.ipynb"))


@dataclass(frozen=True)
class Release:
    source: Path  # a copy of the checkout, as a clone has it
    wheel: Path
    sdist: Path


def _checkout_files() -> list[str]:
    """The files a clone has (tracked, plus new files not ignored), relative to the root."""
    done = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                          cwd=ROOT, capture_output=True, check=True, timeout=60)
    listed = done.stdout.decode().split("\0")
    return [name for name in listed if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Release:
    need(importlib.util.find_spec("build") is not None,
         "the build package is not installed (pip install build)")
    need(shutil.which("git") is not None, "git is not installed")
    root = tmp_path_factory.mktemp("release")
    source = root / "source"
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "build",
                           "--outdir", str(root / "dist"), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (root / "dist").glob("*.whl")
    (sdist,) = (root / "dist").glob("*.tar.gz")
    return Release(source, wheel, sdist)


def clean_env(venv: Path, home: Path, **extra: str) -> dict:
    """The environment of a user's shell with the venv activated: nothing of this checkout on the
    path, no AWS credentials or cluster, a private FAIRING_HOME and Jupyter data folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH")
           and not k.startswith(("AWS_", "FAIRING_", "KUBE"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               FAIRING_HOME=str(home / "fairing"), FAIRING_UI="text",
               KUBECONFIG=str(home / "no-kubeconfig"), AWS_CONFIG_FILE=str(home / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-creds"),
               AWS_EC2_METADATA_DISABLED="true", JUPYTER_DATA_DIR=str(home / "jupyter"))
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def venv(release, tmp_path_factory) -> Path:
    """``python3 -m venv`` + ``pip install 'fairing_magics-...whl[examples]'``, once per session."""
    folder = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    proc = subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q",
                           f"{release.wheel}[examples]"],
                          capture_output=True, text=True, timeout=900,
                          env=clean_env(folder, tmp_path_factory.mktemp("pip-home")))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder


def test_wheel_and_sdist_hold_every_module_and_the_runtime_files(release):
    modules = sorted(name for name in _checkout_files()
                     if name.startswith("fairing_magics/") and name.endswith(".py"))
    assert ("fairing_magics/runtime/bootstrap.py" in modules
            and "fairing_magics/runtime/serve.py" in modules)
    wheel = zipfile.ZipFile(release.wheel)
    names = set(wheel.namelist())
    assert [m for m in modules if m not in names] == []
    metadata = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "Provides-Extra: examples" in metadata
    assert 'Requires-Dist: boto3>=1.28; extra == "examples"' in metadata
    entry_points = next(wheel.read(n).decode() for n in names
                        if n.endswith(".dist-info/entry_points.txt"))
    assert "fairing-magics = fairing_magics.cli:main" in entry_points
    with tarfile.open(release.sdist) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(top + "/") for name in sdist.getnames()}
    assert [m for m in [*modules, "README.md", "pyproject.toml"] if m not in in_sdist] == []


@pytest.mark.parametrize("notebook", EXAMPLES)
def test_every_example_runs_in_the_fresh_venv(release, venv, notebook, tmp_path):
    proc = subprocess.run([str(venv / "bin" / "fairing-magics"), "run", f"examples/{notebook}"],
                          cwd=release.source, env=clean_env(venv, tmp_path), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"{notebook}: all cells ran." in proc.stdout
    assert "Traceback" not in proc.stdout and "without encryption" not in proc.stderr


def _probe_notebook(folder: Path) -> Path:
    """A notebook that says which Python and which fairing_magics its kernel uses, and trains on
    the local backend (the bundle's runtime files come from the installed package)."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import sys, fairing_magics\nprint('python', sys.executable)\n"
                                  "print('package', fairing_magics.__file__)"),
        nbformat.v4.new_code_cell("%load_ext fairing_magics"),
        nbformat.v4.new_code_cell("%%fairing_train --name probe --outputs answer\nanswer = 6 * 7"),
        nbformat.v4.new_code_cell("print('answer', answer)"),
    ])
    path = folder / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_kernel_uses_the_venv_and_the_installed_package(venv, tmp_path):
    proc = subprocess.run([str(venv / "bin" / "fairing-magics"), "run",
                           str(_probe_notebook(tmp_path))],
                          cwd=tmp_path, env=clean_env(venv, tmp_path), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"python {venv / 'bin' / 'python'}" in proc.stdout
    assert (f"package {venv}/lib/" in proc.stdout
            and "/site-packages/fairing_magics/__init__.py" in proc.stdout)
    assert "answer 42" in proc.stdout


def test_the_sdist_installs_and_works(release, venv, tmp_path):
    target = tmp_path / "from-sdist"
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                           "--target", str(target), str(release.sdist)],
                          env=clean_env(venv, tmp_path), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (target / "fairing_magics" / "runtime" / "bootstrap.py").is_file()
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "fairing_magics.cli", "run",
                           str(_probe_notebook(tmp_path))], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600,
                          env=clean_env(venv, tmp_path, PYTHONPATH=str(target)))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (f"package {target}/fairing_magics/__init__.py" in proc.stdout
            and "answer 42" in proc.stdout)
