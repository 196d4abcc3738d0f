"""Tab completion of the magics: through IPython's completion API in a real shell (what terminal
IPython calls on TAB), and through a real kernel's ``complete_request`` (what JupyterLab and
Notebook send)."""

from __future__ import annotations

import os

import pytest
from IPython.core.completer import provisionalcompleter
from jupyter_client.manager import start_new_kernel

from tests.core.conftest import run


def complete(shell, text: str) -> list[str]:
    """The completions IPython offers with the cursor at the end of the first line of ``text``."""
    cursor = len(text.split("\n", 1)[0])
    with provisionalcompleter():
        completions = list(shell.Completer.completions(text, cursor))
    return [text[:c.start] + c.text for c in completions]


@pytest.mark.filterwarnings(
    "ignore:`Completer.complete` is pending deprecation:PendingDeprecationWarning")
def test_flags_complete_for_cell_and_line_magics(shell):
    assert complete(shell, "%%fairing_train --cp") == ["%%fairing_train --cpu"]
    assert complete(shell, "%%fairing_train --out") == ["%%fairing_train --outputs",
                                                         "%%fairing_train --outputs-from"]
    assert complete(shell, "%%fairing_train --outputs-from ") == [
        "%%fairing_train --outputs-from all", "%%fairing_train --outputs-from chief"]
    assert complete(shell, "%%fairing_train --no-\nmodel = fit()") == ["%%fairing_train --no-wait"]
    assert complete(shell, "%fairing_config --index") == ["%fairing_config --index-url"]
    assert "%fairing_deploy model --replicas" in complete(shell, "%fairing_deploy model --re")
    # A flag given once is not offered again; a repeatable one is.
    assert "%%fairing_train --name a --name" not in complete(shell, "%%fairing_train --name a --na")
    assert complete(shell, "%%fairing_train --env A=1 --en") == ["%%fairing_train --env A=1 --env"]
    # The legacy API (ipykernel's default path) gives the same.
    assert shell.complete("", "%%fairing_train --cp", 20)[1] == ["--cpu"]


def test_backends_kinds_and_other_values_complete(shell):
    assert complete(shell, "%%fairing_train --backend ") == [
        "%%fairing_train --backend docker", "%%fairing_train --backend kubernetes",
        "%%fairing_train --backend local"]
    assert complete(shell, "%%fairing_train --backend=ku") == [
        "%%fairing_train --backend=kubernetes"]
    assert complete(shell, "%%fairing_train --kind t") == ["%%fairing_train --kind tfjob",
                                                           "%%fairing_train --kind trainjob"]
    assert "%fairing_doctor --kind inferenceservice" in complete(shell, "%fairing_doctor --kind ")
    assert complete(shell, "%fairing_config --ui w") == ["%fairing_config --ui widget"]
    # the train flags' values wherever the train flags are taken, --cache with its run modes
    assert complete(shell, "%%fairing_train --cache r") == ["%%fairing_train --cache refresh"]
    assert complete(shell, "%fairing_notebook nb.ipynb --kind py") == [
        "%fairing_notebook nb.ipynb --kind pytorchjob"]
    assert complete(shell, "%fairing_config --cache o") == [
        "%fairing_config --cache off", "%fairing_config --cache on"]
    assert complete(shell, "%fairing_deploy m --expose load") == [
        "%fairing_deploy m --expose loadbalancer"]
    assert complete(shell, "%fairing_deploy m --kserve --runtime x") == [
        "%fairing_deploy m --kserve --runtime xgboost"]


def test_run_and_endpoint_names_complete(shell, tmp_path):
    assert run(shell, "%%fairing_train --name first\nx = 1").success
    assert run(shell, "%%fairing_train --name second\nx = 2").success
    runs = sorted(r.name for r in shell.find_line_magic("fairing_jobs").__self__.runs.all())
    assert len(runs) == 2 and runs[0].startswith("first-") and runs[1].startswith("second-")
    assert complete(shell, "%fairing_logs ") == [f"%fairing_logs {name}" for name in runs]
    assert complete(shell, "%fairing_cancel sec") == [f"%fairing_cancel {runs[1]}"]
    assert complete(shell, "%fairing_deploy --from-run fi") == [
        f"%fairing_deploy --from-run {runs[0]}"]
    assert run(shell, "class Model:\n    def predict(self, x):\n        return x\nmodel = Model()\n"
                      "def double(x):\n    return 2 * x\nnot_a_model = 3").success
    assert complete(shell, "ep = %fairing_deploy ") == ["ep = %fairing_deploy double",
                                                        "ep = %fairing_deploy model"]
    assert run(shell, "%fairing_deploy model --name served").success
    try:
        assert complete(shell, "%fairing_undeploy s") == ["%fairing_undeploy served"]
    finally:
        assert run(shell, "%fairing_undeploy served").success


def test_a_new_kernel_completes_the_runs_recorded_by_earlier_ones(shell, tmp_path):
    folder = tmp_path / "home" / "runs" / "old-abc123"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        '{"name": "old-abc123", "backend": "local", "phase": "Succeeded"}')
    assert complete(shell, "%fairing_logs old") == ["%fairing_logs old-abc123"]


def test_other_lines_are_left_to_ipython(shell):
    assert run(shell, "fairing_value = 1").success
    assert "fairing_value" in complete(shell, "fairing_v")
    assert complete(shell, "x = fairing_v") == ["x = fairing_value"]
    shell.run_cell("%unload_ext fairing_magics")
    assert complete(shell, "%%fairing_train --cp") == []  # unloaded: our matcher is gone
    assert shell.run_cell("%load_ext fairing_magics").success


@pytest.fixture
def kernel(tmp_path):
    env = {**os.environ, "FAIRING_HOME": str(tmp_path / "home"), "FAIRING_UI": "text"}
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_jupyter_kernel_answers_complete_requests_as_jupyterlab_sends_them(kernel):
    reply = kernel.execute_interactive("%load_ext fairing_magics", timeout=60)
    assert reply["content"]["status"] == "ok"
    code = "%%fairing_train --backend kub\nmodel = fit()"
    kernel.complete(code, len("%%fairing_train --backend kub"))
    content = kernel.get_shell_msg(timeout=60)["content"]
    assert content["status"] == "ok" and content["matches"] == ["kubernetes"]
    assert code[content["cursor_start"]:content["cursor_end"]] == "kub"
    kernel.complete("%%fairing_train --gp", len("%%fairing_train --gp"))
    assert kernel.get_shell_msg(timeout=60)["content"]["matches"] == ["--gpus"]
