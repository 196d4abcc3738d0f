"""A kernel interrupt (SIGINT to this process, as Jupyter sends it) in each stage of a cell:
build, push, submit and run. Each time the cell fails with one clear line naming the stage, the
run is recorded as cancelled (not left building or pending), and nothing is left behind: no
process, no temporary folder, no manifest for an image that was not finished, no Job or pod on
the emulated cluster (also not a Job the API server created just as the interrupt came).

The interrupt is sent by a thread once the real system is in the wanted state (an installer
running, a create request held by the emulator, a pod running): nothing of ours is mocked.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

import pytest

from fairing_magics import events as ev
from fairing_magics.errors import RunCancelled
from tests.core.conftest import run
from tests.hardening.leftovers import processes_mentioning
from tests.hardening.test_bad_inputs_services import (
    _cluster_objects,
    _kube_shell,
    tags_of,
)

# fixture: a namespace of the emulated cluster
from tests.kubernetes.test_backend_e2e import kube  # noqa: F401

pytestmark = pytest.mark.e2e


class Interrupter:
    """Sends SIGINT to this process (the kernel's thread gets KeyboardInterrupt) as soon as
    ``ready()`` is true; ``fired`` says whether it did within ``timeout`` seconds."""

    def __init__(self, ready, timeout: float = 120.0):
        self.fired = False
        self.fired_at = 0.0  # time.monotonic() when it fired
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready, timeout), daemon=True)
        self._thread.start()

    def _run(self, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            if ready():
                self.fired, self.fired_at = True, time.monotonic()
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    def join(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _the_run(shell):
    runs = shell.magics_manager.registry["FairingMagics"].runs.all()
    assert len(runs) == 1
    return runs[0]


def _assert_cancelled_in_one_line(shell, result, stage_words: str) -> str:
    assert result.success is False
    error = result.error_in_exec
    assert isinstance(error, RunCancelled), f"{type(error).__name__}: {error}"
    message = str(error)
    assert "\n" not in message and stage_words in message, message
    the_run = _the_run(shell)
    assert the_run.done and the_run.status == ev.CANCELLED
    jobs = shell.run_cell("%fairing_jobs", store_history=False)
    assert jobs.success
    return message


def test_interrupt_during_push_cancels_the_run_cleanly(shell, tmp_path, monkeypatch, kube_api,
                                                       registry, base_image):
    """The target registry accepts connections but never answers (the push waits on it)."""
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        assert run(shell, f"%fairing_config --insecure-registry {registry.host} "
                          f"--insecure-registry 127.0.0.1:{port}").success
        timer = threading.Timer(3.0, os.kill, args=(os.getpid(), signal.SIGINT))
        timer.start()
        result = run(shell, f"%%fairing_train --name intr --backend kubernetes --requirements none "
                            f"--registry 127.0.0.1:{port}/hardening/intr "
                            f"--base-image {base_image.ref}\nprint(1)\n")
        timer.join()
    message = _assert_cancelled_in_one_line(shell, result, "interrupted during push")
    print(f"[interrupt during push] {message}")
    assert processes_mentioning(str(tmp_path)) == []
    assert _cluster_objects(kube_api) == ([], [])


def test_interrupt_during_push_to_a_slow_registry(shell, tmp_path, monkeypatch, kube_api, registry,
                                                  base_image, fault_proxy):
    """The push is retrying 503s (a registry that answers, slowly): the interrupt ends it, and
    no manifest reaches the registry."""
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    fault_proxy.plan.rate = 1.0
    fault_proxy.plan.kinds = ("503",)
    fault_proxy.plan.methods = ("POST", "PUT", "PATCH")
    assert run(shell, f"%fairing_config --insecure-registry {registry.host} "
                      f"--insecure-registry {fault_proxy.host}").success
    interrupter = Interrupter(lambda: fault_proxy.plan.counts["503"] >= 2)
    result = run(shell, f"%%fairing_train --name intp --backend kubernetes --requirements none "
                        f"--registry {fault_proxy.host}/hardening/intp "
                        f"--base-image {base_image.ref}\nprint(1)\n")
    interrupter.join()
    assert interrupter.fired
    # The cell ends at once, not when the uploads still retrying 503s give up (that took ~20 s).
    assert time.monotonic() - interrupter.fired_at < 5
    message = _assert_cancelled_in_one_line(shell, result, "interrupted during push")
    print(f"[interrupt during push] {message}")
    assert "no manifest" in message
    assert tags_of(registry.host, "hardening/intp") == []
    assert processes_mentioning(str(tmp_path)) == []
    assert _cluster_objects(kube_api) == ([], [])


def test_interrupt_during_build_stops_the_installer(shell, tmp_path, monkeypatch, kube_api,
                                                    registry, base_image):
    """While the dependency layer is installed (an installer that takes its time: a ``uv`` of
    ours first on PATH, so the moment is certain): the installer is killed, its temporary
    folder removed, nothing is pushed or submitted."""
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("FAIRING_CACHE_DIR", str(cache))
    started = _slow_installer(tmp_path, monkeypatch)
    requirements = tmp_path / "req.txt"
    requirements.write_text("six==1.16.0\n")
    assert run(shell, f"%fairing_config --insecure-registry {registry.host}").success
    interrupter = Interrupter(started.exists)
    result = run(shell, "%%fairing_train --name intb --backend kubernetes "
                        f"--requirements {requirements} "
                        f"--registry {registry.host}/hardening/intb "
                        f"--base-image {base_image.ref}\nprint(1)\n")
    interrupter.join()
    assert interrupter.fired
    message = _assert_cancelled_in_one_line(shell, result, "interrupted during build")
    print(f"[interrupt during build] {message}")
    assert "nothing was pushed" in message
    # the panel does not show it still building
    assert _the_run(shell).stages["build"][0] == "failed"
    assert processes_mentioning(str(tmp_path)) == []  # the installer is gone
    assert [p for p in cache.rglob("install-*")] == []  # and its temporary folder
    assert not list(cache.rglob("layer.tar.gz")) and not list(cache.rglob("meta.json"))
    assert tags_of(registry.host, "hardening/intb") == []
    assert _cluster_objects(kube_api) == ([], [])


def _slow_installer(tmp_path, monkeypatch) -> object:
    """A ``uv`` of ours first on PATH that says it started, then takes its time; its marker."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    started = tmp_path / "installer-started"
    uv = bin_dir / "uv"
    uv.write_text(f"#!{sys.executable}\nimport pathlib, time\n"
                  f"pathlib.Path({str(started)!r}).touch()\n"
                  "time.sleep(120)\n")
    uv.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return started


def test_interrupt_during_a_model_build_fails_the_build_stage(
        shell, tmp_path, monkeypatch, kube_api, registry, base_image, capsys):
    """%fairing_deploy interrupted while its serving image installs the model's packages: the
    panel shows the build failed (the model build once caught Exception where the training build
    catches BaseException, and left "build running"), the installer is gone, nothing is pushed
    and nothing reaches the cluster."""
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("FAIRING_CACHE_DIR", str(cache))
    started = _slow_installer(tmp_path, monkeypatch)
    assert run(shell, f"%fairing_config --insecure-registry {registry.host} --registry "
                      f"{registry.host}/hardening/intm --base-image {base_image.ref}").success
    assert run(shell, "def model(x):\n    return [2 * v for v in x]\n").success
    capsys.readouterr()
    interrupter = Interrupter(started.exists)
    result = run(shell, "%fairing_deploy model --name intm --backend kubernetes")
    interrupter.join()
    assert interrupter.fired
    assert result.success is False and isinstance(result.error_in_exec, KeyboardInterrupt)
    shown = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[fairing] ")]
    print("[interrupt during a model build]\n" + "\n".join(shown))
    stages = [line.split()[2] for line in shown if line.split()[1] in ("✓", "✗")]
    assert stages == ["package", "build"], shown
    assert any(line.startswith("[fairing] ✗ build") for line in shown), shown  # failed, not running
    assert any(line.startswith("[fairing] intm Failed: KeyboardInterrupt") for line in shown), shown
    assert processes_mentioning(str(tmp_path)) == []  # the installer is gone
    assert [p for p in cache.rglob("install-*")] == []  # and its temporary folder
    assert tags_of(registry.host, "hardening/intm") == []
    assert _cluster_objects(kube_api) == ([], [])


@pytest.mark.parametrize("when", ["before", "after"],
                         ids=["held-before-create", "created-answer-held"])
def test_interrupt_during_submit_leaves_no_job(when, shell, tmp_path, monkeypatch, kube_api,
                                               registry, base_image):
    """The create request is held by the API server: ``before`` it creates the Job (which it
    then does after the client was interrupted) or ``after`` (the Job exists, its answer is
    late). Either way the Job is deleted and the cell says so."""
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    assert run(shell, f"%fairing_config --insecure-registry {registry.host}").success
    hold = 3.0
    kube_api.emulator.hold_requests(hold, path=r"/namespaces/[^/]+/jobs$", method="POST", when=when)
    interrupter = Interrupter(kube_api.emulator.faults.holding.is_set)
    held_at = time.monotonic()
    result = run(shell, f"%%fairing_train --name ints --backend kubernetes --requirements none "
                        f"--registry {registry.host}/hardening/ints "
                        f"--base-image {base_image.ref}\nprint(1)\n")
    interrupter.join()
    assert interrupter.fired
    message = _assert_cancelled_in_one_line(shell, result, "interrupted during submit")
    print(f"[interrupt during submit, {when}] {message}")
    assert "deleted" in message
    assert _the_run(shell).stages["submit"][0] == "failed"
    # The held request has been answered by now (the cancel waited for it); give the deletion
    # (foreground: pods first) a moment, and stay past the hold so a late create would show.
    time.sleep(max(0.0, held_at + hold + 1.0 - time.monotonic()))
    kube_api.emulator.wait_for(lambda: _cluster_objects(kube_api) == ([], []), 20,
                               what="the Job created by the interrupted submit deleted")
    assert any(m == "POST" and p.endswith("/jobs") for m, p in kube_api.emulator.requests)
    assert processes_mentioning(str(tmp_path)) == []


def test_interrupted_kube_run_is_deleted_when_on_interrupt_is_cancel(
        shell, kube, tmp_path):  # noqa: F811
    """A Job running a long sleep in a real pod; ``on_interrupt = cancel``: the Job and its pod
    are deleted and the run ends Cancelled. (The default, ``auto``, detaches from cluster runs,
    which go on: that is the test below.)"""
    from kubernetes.client import BatchV1Api, CoreV1Api

    _kube_shell(shell, kube)
    core, batch = CoreV1Api(kube.client), BatchV1Api(kube.client)

    def running() -> bool:
        return any(p.status.phase == "Running"
                   for p in core.list_namespaced_pod(kube.namespace).items)

    def left() -> tuple[list, list]:
        return (batch.list_namespaced_job(kube.namespace).items,
                core.list_namespaced_pod(kube.namespace).items)

    shell.run_cell("%config FairingMagics.on_interrupt = 'cancel'")
    try:
        interrupter = Interrupter(running, timeout=180)
        result = run(shell, "%%fairing_train --name intk --requirements none\n"
                            "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n")
        interrupter.join()
    finally:
        shell.run_cell("%config FairingMagics.on_interrupt = 'auto'")
    assert interrupter.fired
    message = _assert_cancelled_in_one_line(shell, result, "interrupted during run")
    print(f"[interrupt during run] {message}")
    assert "nothing is left running" in message
    kube.cluster.emulator.wait_for(lambda: left() == ([], []), 60,
                                   what="the Job and its pod deleted")
    assert processes_mentioning(_the_run(shell).name) == []


def test_interrupted_kube_run_detaches_by_default(shell, kube, tmp_path):  # noqa: F811
    from kubernetes.client import BatchV1Api, CoreV1Api

    _kube_shell(shell, kube)
    core, batch = CoreV1Api(kube.client), BatchV1Api(kube.client)
    interrupter = Interrupter(lambda: any(p.status.phase == "Running"
                                          for p in core.list_namespaced_pod(kube.namespace).items),
                              timeout=180)
    result = run(shell, "%%fairing_train --name intd --requirements none\n"
                        "import time\ntime.sleep(600)\n")
    interrupter.join()
    assert interrupter.fired and result.success is False
    error = result.error_in_exec
    assert isinstance(error, RunCancelled) and "\n" not in str(error), error
    name = _the_run(shell).name
    assert (f"detached from run {name}, which goes on" in str(error)
            and f"%fairing_cancel {name}" in str(error))
    assert batch.list_namespaced_job(kube.namespace).items  # it goes on
    assert run(shell, f"%fairing_cancel {name}").success
    kube.cluster.emulator.wait_for(lambda: not batch.list_namespaced_job(kube.namespace).items
                                   and not core.list_namespaced_pod(kube.namespace).items, 60,
                                   what="the Job and its pod deleted by %fairing_cancel")
