"""Cached re-runs on the local backend with a run storage folder, both directions: the same
inputs come back from storage without running (log, outputs; the panel says so), and any
change of input runs again: a captured value, a pinned package version (two real kernels with
two versions installed), the cell; --cache refresh runs anyway and becomes the entry."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.notebook_jobs.conftest import run

ROOT = Path(__file__).resolve().parents[2]
CELL = ("%%fairing_train --name fit --cache --outputs total\n"
        "import os\n"
        "print('training in', os.getpid())\n"
        "total = sum(values) * weight\n"
        "print(f'loss={1 / total:.4f}')\n")


def _train(shell, cell: str = CELL):
    result = run(shell, cell)
    assert result.success, result.error_in_exec
    return shell.user_ns["_"]


def test_same_inputs_come_back_from_storage_and_changed_inputs_run(shell, tmp_path, capsys):
    shell.run_cell("values = [1, 2, 3]\nweight = 2.0", store_history=True)
    first = _train(shell)
    out = capsys.readouterr().out
    assert first.status == "Succeeded" and "Running (pid" in out
    pid = out.split("training in ")[1].split()[0]
    shell.user_ns["total"] = None

    second = _train(shell)
    out = capsys.readouterr().out
    assert second.name != first.name and second.cached_from == first.name
    assert second.status == "Succeeded" and "Running (pid" not in out  # no process started
    assert f"cached: same inputs as run {first.name} (0 s ago)" in second.summary
    assert f"cached: same inputs as run {first.name}" in out  # the panel says it
    assert shell.user_ns["total"] == 12.0 and second.outputs == {"total": 12.0}
    assert f"training in {pid}" in second.logs() and "loss=0.0833" in second.logs()  # its log
    # and its metrics, found again in the replayed lines (run.metrics imports pandas, whose numpy
    # adds warnings filters to the kernel: not an input, so the runs below are reused alike)
    metrics = second.metrics
    assert list(metrics["name"]) == ["loss"] and list(metrics["value"]) == [0.0833]

    shell.run_cell("values = [1, 2, 3, 4]", store_history=True)  # a captured value changes
    third = _train(shell)
    assert getattr(third, "cached_from", None) is None and shell.user_ns["total"] == 20.0
    assert "Running (pid" in capsys.readouterr().out

    shell.run_cell("values = [1, 2, 3]", store_history=True)  # back: the first run's inputs
    fourth = _train(shell)
    assert fourth.cached_from == first.name and shell.user_ns["total"] == 12.0

    fifth = _train(shell, CELL.replace("weight\n", "weight + 0\n"))  # the cell changes
    assert getattr(fifth, "cached_from", None) is None


def test_refresh_runs_and_becomes_the_entry_and_the_setting_turns_it_on(shell, capsys):
    shell.run_cell("values = [5]\nweight = 1.0", store_history=True)
    first = _train(shell)
    refreshed = _train(shell, CELL.replace("--cache", "--cache refresh"))
    assert getattr(refreshed, "cached_from", None) is None and refreshed.name != first.name
    plain = CELL.replace(" --cache", "")
    assert getattr(_train(shell, plain), "cached_from", None) is None  # off by default
    shell.run_cell("%fairing_config --cache on")
    again = _train(shell, plain)
    assert again.cached_from == refreshed.name  # the newest successful run is the entry
    off = _train(shell, plain.replace("--name fit", "--name fit --cache off"))
    assert getattr(off, "cached_from", None) is None


def test_the_setting_on_without_storage_is_refused_naming_the_setting(shell, capsys):
    shell.run_cell("values = [5]\nweight = 1.0", store_history=True)
    shell.run_cell("%fairing_config --cache on --storage ''")
    plain = CELL.replace(" --cache", "")
    for cell in (plain, plain.replace("--outputs total", "--outputs total --dry-run")):
        result = run(shell, cell)  # the dry run reports what the real run refuses
        assert not result.success  # the cell fails, so papermill and CI see it
        assert ("the cache setting is on (%fairing_config --cache on) and reuses runs kept in run "
                "storage, and none is set") in str(result.error_in_exec)
        assert "%fairing_config --cache off" in str(result.error_in_exec)
    result = run(shell, CELL)  # the flag itself: the refusal names the flag
    assert not result.success and "or drop --cache" in str(result.error_in_exec)


def test_a_failed_run_is_never_reused(shell, tmp_path):
    cell = "%%fairing_train --cache\nraise ValueError('not yet')\n"
    first = run(shell, cell)
    second = run(shell, cell)  # ran again, and failed again: nothing was recorded for reuse
    assert not first.success and not second.success
    names = [str(r.error_in_exec).split("(run ")[1].split(";")[0] for r in (first, second)]
    assert names[0] != names[1]
    assert not list((tmp_path / "storage").glob("cache/*.json"))


def _fake_distribution(site: Path, version: str) -> None:
    """An installed distribution ``fairingpin`` of ``version`` (a dist-info as pip writes it)."""
    site.mkdir(parents=True)
    (site / "fairingpin.py").write_text(f"VERSION = {version!r}\n")
    info = site / f"fairingpin-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fairingpin\nVersion: {version}\n")
    (info / "top_level.txt").write_text("fairingpin\n")
    (info / "RECORD").write_text("")


def _notebook_run(folder: Path, storage: Path, site: Path, monkeypatch) -> str:
    """Run the cell in a fresh kernel that has ``site`` installed; the cell's printed outcome."""
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}:{site}")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(text) for text in (
        "%load_ext fairing_magics",
        f"%fairing_config --storage {storage} --cache on",
        "import fairingpin\ndata = [1, 2]",
        "%%fairing_train --name pinned --outputs seen\nseen = (fairingpin.VERSION, sum(data))",
        "r = _\nprint('RESULT', r.name, getattr(r, 'cached_from', None), seen)")]
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    return text.split("RESULT ")[1].strip()


def test_a_pinned_package_version_is_an_input(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    one, two = tmp_path / "site-1.0", tmp_path / "site-2.0"
    _fake_distribution(one, "1.0")
    _fake_distribution(two, "2.0")
    storage = tmp_path / "storage"
    work = tmp_path / "work"  # the installed packages are not under the notebook's folder
    work.mkdir()
    first = _notebook_run(work, storage, one, monkeypatch).split()
    assert first[1] == "None" and first[2:] == ["('1.0',", "3)"]
    requirements = (storage / "runs" / first[0] / "bundle" / "requirements.txt").read_text()
    assert "fairingpin==1.0" in requirements
    upgraded = _notebook_run(work, storage, two, monkeypatch).split()
    assert upgraded[1] == "None" and upgraded[2:] == ["('2.0',", "3)"]  # ran: another pin
    back = _notebook_run(work, storage, one, monkeypatch).split()
    assert back[1] == first[0] and back[2:] == ["('1.0',", "3)"]  # reused the 1.0 run


def test_a_class_pickled_by_value_keeps_its_bytes_after_an_instance_was_pickled():
    """Pickling an instance (a run's outputs coming back, joblib.dump) caches __slotnames__ on
    its class; the capture computes it first, so the bundle, and the cache key, stay the same."""
    import cloudpickle

    from fairing_magics.capture import capture_cell

    namespace = {"__name__": "__main__"}
    # no source: by value
    exec("class Model:\n    def __init__(self):\n        self.w = 1\n", namespace)
    before = capture_cell("m = Model()", namespace, []).digest
    cloudpickle.loads(cloudpickle.dumps(namespace["Model"]()))
    assert capture_cell("m = Model()", namespace, []).digest == before


def test_methods_a_load_reset_read_the_notebook_again_in_the_job(tmp_path):
    """cloudpickle's load in the kernel resets a notebook class's methods to copies with a
    snapshot of the globals (cloudpipe/cloudpickle#439): the capture pickles them as the
    originals were, so the bundle is unchanged and the job's methods read its ``__main__``
    (a property, a static method and __init__ see the notebook's new ``scale``)."""
    import cloudpickle

    from fairing_magics.capture import capture_cell
    from tests.capture.test_fidelity import run_bundle

    namespace = {"__name__": "__main__"}
    exec("scale = 3\n"
         "class Model:\n"
         "    def __init__(self):\n        self.w = scale\n"
         "    @property\n    def doubled(self):\n        return self.w * scale\n"
         "    @staticmethod\n    def factor():\n        return scale\n", namespace)  # no source
    cell = "m = Model()\nprint(m.w, m.doubled, Model.factor())"
    before = capture_cell(cell, namespace, [], cwd=tmp_path)
    cloudpickle.loads(cloudpickle.dumps(namespace["Model"]()))
    assert namespace["Model"].__init__.__globals__ is not namespace  # reset: a snapshot now
    assert capture_cell(cell, namespace, [], cwd=tmp_path).members() == before.members()
    namespace["scale"] = 5
    changed = capture_cell(cell, namespace, [], cwd=tmp_path)
    assert changed.digest != before.digest  # the methods' global is an input
    assert run_bundle(changed, tmp_path).stdout == "5 25 5\n"
