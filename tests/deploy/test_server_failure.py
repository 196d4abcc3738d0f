"""The one error for a model server that crashed or never got ready: cause and advice first."""

from fairing_magics.deploy.endpoint import crash_cause, server_failure
from fairing_magics.errors import DeployError, FairingTimeout

TRACEBACK = [
    "fairing-serve: listening on http://127.0.0.1:40000 (model 'm', loading /srv/model)",
    "Traceback (most recent call last):",
    '  File "serve.py", line 250, in _unpickle',
    "RuntimeError: the weights file is corrupt",
    "",
    "fairing-serve: cannot serve model 'm': cannot load the model from /srv/model/model.pkl: "
    "RuntimeError: the weights file is corrupt (this is Python 3.11.7).",
]


def test_the_servers_own_refusal_is_the_cause():
    assert crash_cause(TRACEBACK).startswith(
        "cannot load the model from /srv/model/model.pkl: RuntimeError")


def test_else_the_last_exception_line_of_a_traceback():
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1',
             "ModuleNotFoundError: No module named 'xgboost'"]
    assert crash_cause(lines) == "ModuleNotFoundError: No module named 'xgboost'"
    assert crash_cause(
        ["numpy.core._exceptions._ArrayMemoryError: Unable to allocate"]).startswith("numpy.core")
    assert crash_cause(["Killed", "exit 137"]) == ""


def test_first_line_says_what_why_and_what_to_do():
    error = server_failure("the model server of 'm'", "exited with code 2 before it was ready",
                           TRACEBACK)
    first, *rest = str(error).splitlines()
    assert type(error) is DeployError
    assert first.startswith(
        "the model server of 'm' exited with code 2 before it was ready: cannot load the model")
    assert first.endswith("Fix that and deploy again.")
    assert (rest[0] == "Its last lines:"
            and rest[-1].startswith("  fairing-serve: cannot serve model"))
    assert (error.last_lines[-1].startswith("fairing-serve: cannot serve")
            and "" not in error.last_lines)


def test_a_timeout_or_an_unexplained_exit_gets_advice_that_fits():
    slow = server_failure("the model server of 'm'", "was not ready within 5 s", ["loading..."],
                          timeout=True)
    assert isinstance(slow, FairingTimeout)
    assert str(slow).splitlines()[0].endswith(
        "If the model loads slowly, raise --timeout; else read its log below.")
    silent = server_failure("endpoint m: pod m-1", "failed (OOMKilled)", [])
    assert str(silent).splitlines()[0] == ("endpoint m: pod m-1 failed (OOMKilled). Read its log "
                                           "below, fix the model or its packages and deploy again.")
    assert str(silent).endswith("  (no output)")
    pull = server_failure("endpoint m: pod m-1", "failed (ImagePullBackOff)", [],
                          hint="check --registry")
    assert (str(pull).splitlines()[0]
            == "endpoint m: pod m-1 failed (ImagePullBackOff). Check --registry.")
