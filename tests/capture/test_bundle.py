"""Properties of captured bundles: readable main.py, determinism, version, report, options."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fairing_magics.capture import capture_cell, write_bundle
from fairing_magics.capture.cell import CELL_MARKER
from fairing_magics.capture.requirements import find_package, pin_requirements
from fairing_magics.errors import CaptureError
from tests.harness import ipython_shell

HISTORY = [
    "import numpy as np\nfrom math import sqrt",
    "weights = np.linspace(0.0, 1.0, 50)\nscale = 3\nsq = lambda v: v * v",
    "def norm(v):\n    return sqrt(float((np.asarray(v) ** 2).sum()))",
    "def report(v):\n    return f'norm={norm(v) * scale:.3f}'",
    "class Unit:\n    def __init__(self, n):\n        self.n = n",
    "unit = Unit(2)",
]
CELL = "print(report(weights), sq(scale), unit.n)\n"


@pytest.fixture(scope="module")
def shell():
    sh = ipython_shell()
    namespace = sh.user_ns
    for key in set(namespace) - {"__builtin__", "__builtins__", "__name__"}:
        del namespace[key]
    sh.init_user_ns()
    for cell in HISTORY:
        assert sh.run_cell(cell, store_history=False).success
    return sh


def capture(shell, cell=CELL, **kw):
    kw.setdefault("cwd", Path("/"))
    return capture_cell(cell, shell.user_ns, [*HISTORY, cell], **kw)


def test_main_is_readable(shell):
    bundle = capture(shell)
    source = bundle.source
    assert source.startswith("# Captured by fairing_magics")
    assert "# Loaded into __main__ from values.pkl (one pickle): sq, unit, weights" in source
    header, cell = source.split(CELL_MARKER + "\n")
    assert cell == CELL
    lines = header.splitlines()
    assert lines.index("import numpy as np") < lines.index("from math import sqrt") < lines.index("scale = 3")
    assert header.index("def norm(v):") < header.index("def report(v):")
    assert bundle.report.definitions == ("norm", "report")
    assert set(bundle.report.names) == {"np", "sqrt", "scale", "sq", "weights", "norm", "report", "unit"}


def test_same_inputs_give_identical_bytes(shell):
    first, second = capture(shell), capture(shell)
    assert first.members() == second.members()
    assert first.digest == second.digest


SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from fairing_magics.capture import capture_cell
    sys.path.insert(0, {root!r})
    from tests.capture.test_bundle import HISTORY, CELL
    from tests.harness import ipython_shell
    sh = ipython_shell()
    for cell in HISTORY:
        assert sh.run_cell(cell, store_history=False).success
    print(capture_cell(CELL, sh.user_ns, HISTORY, cwd=Path("/")).digest)
    """
)


def test_digest_is_the_same_in_another_kernel():
    """Two fresh kernels that ran the same cells (hash seeds differ) give the same bundle."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    runs = [subprocess.run([sys.executable, "-c", SCRIPT.format(root=root)], capture_output=True, text=True,
                           env=env, cwd=root, timeout=120) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    digests = {run.stdout.strip() for run in runs}
    assert len(digests) == 1 and digests.pop().startswith("sha256:")


def test_python_version_recorded_and_enforced(shell, tmp_path):
    bundle = capture(shell)
    assert bundle.manifest["python"] == ".".join(map(str, sys.version_info[:3]))
    assert bundle.report.python == bundle.python
    other = dataclasses.replace(bundle, python=f"3.{sys.version_info[1] + 1}.0")
    folder = write_bundle(other, tmp_path / "b")
    work = tmp_path / "w"
    work.mkdir()
    run = subprocess.run([sys.executable, str(folder / "fairing_bootstrap.py")], cwd=work, capture_output=True,
                         text=True, env={**os.environ, "FAIRING_OUTPUT_DIR": str(tmp_path / "out")}, timeout=60)
    assert run.returncode == 2
    assert f"captured on Python 3.{sys.version_info[1] + 1}.0" in run.stderr


def test_report_lists_everything(shell):
    bundle = capture(shell, outputs=["result"])
    text = bundle.report.render_text()
    assert text.startswith("Capture report (Python {}.{}".format(*sys.version_info[:2]))
    assert "    weights: numpy.ndarray," in text and "(pickled)" in text
    assert "    scale: int, 10 B (as source)" in text
    assert "numpy -> numpy==" in text and "cloudpickle -> cloudpickle==" in text
    sizes = {v.name: v.size for v in bundle.report.values}
    assert 400 < sizes["weights"] < len(bundle.pickle)  # 50 float64s, in the one pickle
    assert bundle.values == ("sq", "unit", "weights")
    assert bundle.manifest["outputs"] == ["result"]


def test_requirements_none_and_file(shell, tmp_path):
    assert capture(shell, requirements="none").requirements == ()
    (tmp_path / "req.txt").write_text("# pinned by hand\nnumpy==1.0\n\nrequests\n")
    bundle = capture(shell, requirements="req.txt", cwd=tmp_path)
    assert bundle.requirements == ("numpy==1.0", "requests")
    with pytest.raises(CaptureError, match="--requirements missing.txt"):
        capture(shell, requirements="missing.txt", cwd=tmp_path)


def test_editable_install_is_reported_not_required(shell, tmp_path):
    info = find_package("fairing_magics")
    assert info is not None and not info.reproducible and "editable" in info.note
    # fairing_magics itself is never required: the run's runtime provides what a cell uses of it
    bundle = capture(shell, cell="import fairing_magics\nfairing_magics.log_metric('loss', 1)\n", cwd=tmp_path)
    assert not any(line.lower().startswith("fairing-magics") for line in bundle.requirements)
    assert not any(path.startswith("fairing_magics/") for path in bundle.files)
    assert any("provided by the run's runtime" in note for note in bundle.report.notes)
    assert "provided by the run's runtime" in bundle.report.render_text()


def test_include_missing_path(shell, tmp_path):
    with pytest.raises(CaptureError, match="--include nothere"):
        capture(shell, includes=["nothere"], cwd=tmp_path)


def test_include_file_and_manifest(shell, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.json").write_text(json.dumps({"a": 1}))
    (tmp_path / "conf" / "__pycache__").mkdir()
    (tmp_path / "conf" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    bundle = capture(shell, includes=["conf"], cwd=tmp_path)
    assert bundle.manifest["files"] == ["conf/a.json"]
    assert ("conf/a.json", 8) in bundle.report.files


@pytest.mark.parametrize(
    "module, dist",
    [("sklearn", "scikit-learn"), ("yaml", "PyYAML"), ("numpy", "numpy"), ("IPython", "ipython"),
     ("sklearn.linear_model", "scikit-learn"), ("dateutil", "python-dateutil")],
)
def test_import_names_map_to_distributions(module, dist):
    info = find_package(module)
    assert info is not None and info.dist.lower() == dist.lower() and info.version


def test_stdlib_and_unknown_modules():
    packages, notes = pin_requirements({"os", "json", "collections.abc", "not_a_module_anywhere"})
    assert packages == ()
    assert notes == ("module 'not_a_module_anywhere' comes from no installed distribution; it is not in requirements.txt",)


def test_kernel_file_names_do_not_change_pickles():
    """ipykernel compiles cells as /tmp/ipykernel_<pid>/<hash>.py; the pid must not reach the bundle."""
    from fairing_magics.capture.values import pickle_state

    pickles = []
    for pid in (111, 222):
        namespace = {"__name__": "__main__"}
        code = compile("def f(x):\n    return (lambda y: y + 1)(x)\n", f"/tmp/ipykernel_{pid}/123.py", "exec")
        exec(code, namespace)
        pickles.append(pickle_state({"f": namespace["f"]}, {}, {}, [], namespace=namespace, main_refs={},
                                    limit=2**20).data)
    assert pickles[0] == pickles[1]
    assert b"ipykernel_111" not in pickles[0]


def test_report_notes_ipython_syntax_in_earlier_definitions(shell):
    definition = "def shout():\n    !echo loud\n    return 1"
    assert shell.run_cell(definition, store_history=False).success
    cell = "%time n = shout()\nprint(n)\n"
    bundle = capture_cell(cell, shell.user_ns, [*HISTORY, definition, cell], cwd=Path("/"))
    assert "    __import__('subprocess').run('echo loud', shell=True)\n" in bundle.source
    assert bundle.report.notes[:2] == (
        "line 1: %time n = shout(): runs the statement, without timing",
        "shout (from an earlier cell): !echo loud: translated to subprocess.run",
    )
