"""A kernel interrupt while an image is pushed (to a registry that does not answer, so the push
is retrying when the interrupt comes): the cell fails with a clear message, the run is recorded
as cancelled (not left building), and nothing reached the cluster."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fairing_magics import events as ev
from fairing_magics.errors import FairingError
from tests.core.conftest import run
from tests.hardening.leftovers import processes_mentioning
from tests.hardening.test_bad_inputs_services import _cluster_objects, closed_port

pytestmark = pytest.mark.e2e


def test_interrupt_during_push_cancels_the_run_cleanly(shell, tmp_path, monkeypatch, kube_api, registry,
                                                       base_image):
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    port = closed_port()
    assert run(shell, f"%fairing_config --insecure-registry {registry.host} --insecure-registry 127.0.0.1:{port}").success
    timer = threading.Timer(3.0, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    result = run(shell, f"%%fairing_train --name intr --backend kubernetes --requirements none "
                        f"--registry 127.0.0.1:{port}/hardening/intr --base-image {base_image.ref}\nprint(1)\n")
    timer.join()
    assert result.success is False
    error = result.error_in_exec
    print(f"[interrupt during push] {type(error).__name__}: {error}")
    assert isinstance(error, FairingError), f"{type(error).__name__}: {error}"
    assert "interrupted" in str(error) and "\n" not in str(error)
    runs = shell.magics_manager.registry["FairingMagics"].runs.all()
    assert len(runs) == 1 and runs[0].done and runs[0].status == ev.CANCELLED
    assert processes_mentioning(str(tmp_path)) == []
    assert _cluster_objects(kube_api) == ([], [])
