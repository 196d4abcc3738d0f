"""The bad-input catalogue: each row is a cell a user could type, run through the real magics in a
real IPython shell, with the one-line message it must fail with and the advice that message must
give. After each row nothing may be left behind: no run folder or run record for input errors, no
process of the run alive, no Job or pod in the emulator's namespace, no manifest in the registry.

The unit-tier table needs no service (KUBECONFIG points nowhere, the registry is a closed port that
is never contacted because the input is refused first). Rows that need a service are e2e tests
further down, one per service, with the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from IPython.core.error import UsageError

from fairing_magics.errors import FairingError
from tests.core.conftest import run
from tests.hardening.leftovers import processes_mentioning, run_folders

K8S = "--backend kubernetes --registry 127.0.0.1:9/hardening"


@dataclass(frozen=True)
class Case:
    id: str
    cell: str
    problem: str  # fragment naming what is wrong
    advice: str  # fragment saying what to do
    setup: str = ""


def train(flags: str, body: str = "print(1)") -> str:
    return f"%%fairing_train {flags}\n{body}\n"


CASES = [
    # -- malformed flags and values ---------------------------------------------------------
    Case("memory-space", train(f'--memory "2 Gi" {K8S}'),
         "memory '2 Gi' is not a Kubernetes quantity", "did you mean 2Gi?"),
    Case("memory-word", train(f"--memory lots {K8S}"), "memory 'lots'", "write it like 2Gi"),
    Case("cpu-bad", train(f"--cpu 1.2.3 {K8S}"), "cpu '1.2.3'", "write it like 500m"),
    Case("gpus-negative", train(f"--gpus -1 {K8S}"), "gpus '-1'", "for example --gpus 1"),
    Case("gpus-not-int", train(f"--gpus two {K8S}"), "invalid int value: 'two'", "--gpus"),
    Case("name-bad", train("--name Bad_Name!"), "'Bad_Name!' is not a valid Kubernetes name",
         "for example 'bad-name'"),
    Case("name-too-long", train("--name " + "a" * 60), "is 60 characters long",
         "at most 43 characters"),
    Case("name-digit-first", train("--name 9lives"), "--name '9lives'", "starting with a letter"),
    Case("name-missing-value", train("--name"), "--name: expected one argument", "--name"),
    Case("backend-unknown", train("--backend nomad"), "--backend 'nomad' is unknown",
         "use one of local"),
    Case("config-backend-unknown", "%fairing_config --backend nomad\n", "'nomad' is not one of",
         "local"),
    Case("config-ui-unknown", "%fairing_config --ui fancy\n", "'fancy' is not one of", "widget"),
    Case("kind-unknown", train(f"--kind mpijob {K8S}"), "--kind 'mpijob'",
         "job, tfjob, pytorchjob"),
    Case("workers-on-job", train(f"--workers 2 {K8S}"), "--workers 2",
         "needs --kind tfjob or pytorchjob"),
    Case("workers-negative", train(f"--kind tfjob --workers -2 {K8S}"), "workers '-2'",
         "0 or more"),
    Case("toleration-bad", train(f"--toleration =:Bad {K8S}"), "toleration '=:Bad'",
         "must look like key=value:NoSchedule"),
    Case("volume-kind", train(f"--volume nfs:x {K8S}"), "volume 'nfs:x'",
         "must look like pvc:CLAIM"),
    Case("volume-no-mount", train(f"--volume pvc:data {K8S}"), "volume 'pvc:data'",
         "must look like pvc:CLAIM"),
    Case("node-selector-bad", train(f"--node-selector foo {K8S}"), "--node-selector 'foo'",
         "KEY=VALUE"),
    Case("env-no-equals", train("--env JUSTKEY"), "--env 'JUSTKEY'", "KEY=VALUE"),
    Case("env-bad-key", train("--env 1BAD=x"), "--env '1BAD=x'", "letters, digits and '_'"),
    Case("outputs-bad", train("--outputs a,1b"), "'1b' is not a Python variable name", "--outputs"),
    Case("timeout-negative", train("--timeout -3"), "--timeout -3", "positive number of seconds"),
    Case("timeout-not-number", train("--timeout abc"), "invalid float value: 'abc'", "--timeout"),
    Case("flag-unknown", train("--bogus-flag"), "unknown flag --bogus-flag", "--bogus-flag"),
    Case("requirements-missing", train("--requirements /nonexistent/req.txt"), "cannot read it",
         "give a requirements file, 'auto' or 'none'"),
    Case("include-missing", train("--include nothere.py"), "--include nothere.py",
         "check the path"),
    Case("registry-invalid", train("--backend kubernetes --registry bad!ref/x"),
         "invalid repository component", "bad!ref"),
    Case("registry-uppercase", train("--image-only --registry 127.0.0.1:9/UPPER"),
         "invalid repository component", "repository names are lowercase"),
    Case("registry-unset", train("--backend kubernetes"), "no registry is set",
         "%fairing_config --registry"),
    Case("kubeconfig-missing", train(K8S), "no kubeconfig file at /nonexistent/kubeconfig",
         "point KUBECONFIG at a kubeconfig file"),
    # -- the cell itself --------------------------------------------------------------------
    Case("syntax-error", train("", "print(1"), "syntax error on line 1",
         "Fix it and run the cell again"),
    Case("undefined-name", train("", "print(undefined_thing)"),
         "'undefined_thing', defined neither", "define it in an earlier cell"),
    Case("unpicklable-lock", train("", "print(lock)"), "'lock', a _thread.lock that cannot be sent",
         "create the lock inside the cell", setup="import threading\nlock = threading.Lock()"),
    Case("unpicklable-socket", train("", "print(sock)"),
         "'sock', a socket.socket that cannot be sent", "connect inside the cell",
         setup="import socket\nsock = socket.socket()"),
    Case("unpicklable-generator", train("", "print(list(gen))"), "'gen', a builtins.generator",
         "turn it into a list first", setup="gen = (i for i in range(3))"),
    Case("unpicklable-file", train("", "wfile.write('x')"), "'wfile'", "inside the cell",
         setup="wfile = open('scratch.txt', 'w')"),
    Case("huge-value", train("", "print(big.sum())"), "more than the 1.0 MiB limit",
         "put it in storage (--storage)",
         setup="import numpy as np\nbig = np.zeros(3 * 2**20)\n"
               "%config FairingMagics.value_limit_mb = 1"),
    Case("huge-bytes", train("", "print(len(blob))"), "'blob'", "storage",
         setup="blob = b'x' * (2 * 2**20)\n%config FairingMagics.value_limit_mb = 1"),
    # -- the other magics -------------------------------------------------------------------
    Case("cancel-unknown-run", "%fairing_cancel nope\n", "no run 'nope' in this kernel",
         "%fairing_jobs --all lists the recorded runs"),
    Case("logs-unknown-run", "%fairing_logs nope\n", "no run 'nope'",
         "%fairing_jobs --all lists the recorded runs"),
    Case("deploy-unknown-variable", "%fairing_deploy nomodel\n", "there is no variable 'nomodel'",
         "name the variable holding the model"),
    Case("deploy-nothing", "%fairing_deploy\n", "name the model to deploy", "--from-run RUN"),
    Case("deploy-predictor-unknown", "%fairing_deploy m --predictor nofunc\n",
         "--predictor 'nofunc'", "no such variable", setup="m = 3"),
]


def assert_refused(result, problem: str, advice: str) -> str:
    """The cell failed with one FairingError/UsageError line naming the problem and the fix."""
    assert result.success is False
    error = result.error_in_exec or result.error_before_exec
    assert isinstance(error, (FairingError, UsageError)), f"{type(error).__name__}: {error}"
    message = str(error)
    assert "\n" not in message, f"not one line: {message!r}"
    assert problem in message, message
    assert advice in message, message
    return message


def assert_nothing_left(shell, tmp_path) -> None:
    assert run_folders(tmp_path / "home") == []
    magics = shell.magics_manager.registry["FairingMagics"]
    assert list(magics.runs.all()) == []
    assert processes_mentioning(str(tmp_path)) == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_in_one_line(case, shell, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.delenv("FAIRING_REGISTRY", raising=False)
    if case.setup:
        assert run(shell, case.setup).success
    try:
        result = run(shell, case.cell)
        assert_refused(result, case.problem, case.advice)
        assert_nothing_left(shell, tmp_path)
    finally:
        shell.run_cell("%config FairingMagics.value_limit_mb = 100")
        for name in ("sock", "wfile"):
            if name in shell.user_ns and hasattr(shell.user_ns[name], "close"):
                shell.user_ns.pop(name).close()
        for name in ("lock", "gen", "big", "blob", "m"):
            shell.user_ns.pop(name, None)


def test_catalogue_has_forty_cases():
    assert len(CASES) >= 40


def test_quoted_flag_values_lose_their_quotes(shell, capsys):
    """``--name "linreg"`` is the name linreg (IPython's splitter used to keep the quotes)."""
    result = run(shell, '%%fairing_train --name "quoted-run" --env "MSG=hello world" '
                        '--outputs \'w\' --dry-run\nw = 1\n')
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "Dry run of 'quoted-run'" in out and "Outputs brought back: w" in out
