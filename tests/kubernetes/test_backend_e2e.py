"""The Kubernetes backend end to end on the emulated cluster: a cell becomes an image in the real
registry, a Job/TFJob in the API emulator, and real podman containers run by its kubelet.

Every test drives ``pipeline.train`` with a real ``Settings`` (the unpullable image excepted:
no pipeline pushes an image that cannot be pulled), in a namespace of its own.
"""

from __future__ import annotations

import threading

import pytest

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends.kubernetes.backend import KubernetesBackend
from fairing_magics.backends.kubernetes.jobs import find_run, list_runs
from fairing_magics.config import Settings
from fairing_magics.errors import JobFailed, RunCancelled
from fairing_magics.kube.access import client_retries, load_cluster_access
from fairing_magics.kube.labels import run_selector
from fairing_magics.run import Run, RunBook

pytestmark = pytest.mark.e2e

_images = {}


@pytest.fixture
def kube(kube_cluster, tmp_path, monkeypatch, request):
    """Settings for a fresh namespace of the session cluster, and an API client on it."""
    from kubernetes.client import CoreV1Api

    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    namespace = "t-" + request.node.name.replace("_", "-")[5:40].strip("-").lower()
    client = kube_cluster.api_client()
    CoreV1Api(client).create_namespace({"metadata": {"name": namespace}})
    host = kube_cluster.registry_host
    if "base" not in _images:
        _images["base"] = kube_cluster.python_image()
    settings = Settings(registry=f"{host}/kube-e2e", base_image=_images["base"],
                        insecure_registries=(host,), backend="kubernetes", namespace=namespace,
                        storage=str(tmp_path / "storage"), home=tmp_path / "home", ui="text")
    yield Kube(kube_cluster, settings, namespace, client, tmp_path)
    kube_cluster.emulator.faults.clear()
    client.close()


class Kube:
    def __init__(self, cluster, settings, namespace, client, folder):
        self.cluster, self.settings, self.namespace, self.client, self.folder = (
            cluster, settings, namespace, client, folder)
        self.runs = RunBook()

    def train(self, cell: str, values: dict | None = None, **options) -> tuple[Run, list]:
        """Start ``cell``; return the run and the list its events are appended to."""
        from fairing_magics.image.publish import ImageService

        opts = pipeline.TrainOptions(backend="kubernetes", **options)
        events: list = []
        run = pipeline.train(cell, dict(values or {}), [], opts, self.settings, self.runs,
                             cwd=self.folder, images=ImageService(self.settings))
        run.attach(events.append)
        return run, events

    def pods(self, run_name: str) -> list:
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.client).list_namespaced_pod(
            self.namespace, label_selector=run_selector(run_name)).items


def lines_of(events: list, source: str | None = None) -> list[str]:
    return [line for e in events if isinstance(e, ev.LogLines)
            and (source is None or e.source == source) for line in e.lines]


def test_cell_runs_as_a_job_logs_and_outputs_come_back(kube):
    cell = ("import sys\n"
            "for i in range(40):\n"
            "    print('line', i, 'naïve € 日本')\n"
            "print('to stderr', file=sys.stderr)\n"
            "result = {'total': sum(values), 'python': sys.version_info[:2]}\n")
    run, events = kube.train(cell, {"values": [3, 5, 8]}, name="hello", outputs=("result",))
    run.wait(120)
    assert run.status == ev.SUCCEEDED
    assert run.outputs["result"]["total"] == 16
    assert tuple(run.outputs["result"]["python"]) == (3, 11)
    # Every line once, in order, whole UTF-8, tagged with the pod that printed it.
    pod = kube.pods(run.name)[0].metadata.name
    logged = [line for line in run.logs().splitlines() if not line.startswith("#")]
    expected = [f"[{pod}] line {i} naïve € 日本" for i in range(40)] + [f"[{pod}] to stderr"]
    assert logged == expected
    shown = lines_of(events, pod)
    assert shown == [e.split("] ", 1)[1] for e in expected][-len(shown):]
    # The panel saw the stages, the pod's phases and the final state.
    stages = [(e.stage, e.state) for e in events if isinstance(e, ev.StageChanged)]
    assert ("run", "done") in stages
    phases = [e.phase for e in events if isinstance(e, ev.PhaseChanged) and e.source == pod]
    assert phases[-1] == "Succeeded"
    assert isinstance(events[-1], ev.Finished) and events[-1].phase == ev.SUCCEEDED
    # The Job carried our labels and the Istio opt-out; outputs went through the hostPath folder.
    access = load_cluster_access(namespace=kube.namespace, retries=client_retries(backoff_factor=0))
    info = find_run(access, "hello")
    assert info.name == run.name and info.kind == "job" and info.phase == ev.SUCCEEDED
    assert (kube.folder / "storage" / "runs" / run.name / "outputs.pkl").is_file()
    labels = kube.pods(run.name)[0].metadata.labels
    assert labels["sidecar.istio.io/inject"] == "false"
    assert labels["fairing.dev/capture-digest"]


def test_tfjob_with_two_workers_shows_every_replica(kube):
    cell = ("import os, time\n"
            "for i in range(5):\n"
            "    print('step', i, 'from', os.environ['HOSTNAME'])\n"
            "    time.sleep(0.05)\n")
    run, events = kube.train(cell, name="dist", kind="tfjob", workers=2)
    run.wait(180)
    assert run.status == ev.SUCCEEDED
    sources = {e.source for e in events if isinstance(e, ev.LogLines)}
    logged = run.logs()
    for replica in ("chief-0", "worker-0", "worker-1"):
        pod = f"{run.name}-{replica}"
        wanted = [f"[{replica}] step {i} from {pod}" for i in range(5)]
        assert [line for line in logged.splitlines() if line.startswith(f"[{replica}]")] == wanted
    assert sources <= {"chief-0", "worker-0", "worker-1"}
    replica_phases = {e.source for e in events if isinstance(e, ev.PhaseChanged) and e.source}
    assert {"chief-0", "worker-0", "worker-1"} <= replica_phases | sources


def test_unpullable_image_surfaces_err_image_pull_and_fails(kube, tmp_path):
    backend = KubernetesBackend(image_pull_grace=3.0, poll_seconds=0.2)
    options = pipeline.TrainOptions(name="nopull", backend="kubernetes")
    backend.check(options, kube.settings)
    image = f"{kube.cluster.registry_host}/missing/image@sha256:" + "0" * 64
    run = Run("nopull-abc123", "kubernetes", tmp_path / "run", stages=backend.stages)
    events: list = []
    run.subscribe(events.append)
    from fairing_magics.backends import Launch

    backend.start(Launch(bundle_dir=tmp_path, image=image, options=options,
                         settings=kube.settings), run)
    with pytest.raises(JobFailed) as failure:
        run.wait(90)
    assert failure.value.reason == "ErrImagePull"
    assert "could not pull its image" in str(failure.value) and image in str(failure.value)
    notices = [e.text for e in events if isinstance(e, ev.Notice)]
    assert any("ErrImagePull" in t for t in notices), notices
    assert len([t for t in notices if "ErrImagePull:" in t]) == 1  # shown once, not per retry
    # Nothing is left behind.
    kube.cluster.emulator.wait_for(lambda: not kube.pods(run.name), 30, what="pods deleted")
    access = load_cluster_access(namespace=kube.namespace)
    assert all(info.name != run.name for info in list_runs(access))


def test_dropped_log_stream_loses_and_repeats_no_line(kube):
    emulator = kube.cluster.emulator
    emulator.drop_log_streams_after(300, times=1)  # the first stream ends after 300 lines
    count = 3000
    cell = ("import time\n"
            f"for i in range({count}):\n"
            "    print(f'n={i:05d} ' + 'x' * (i % 37))\n"
            "    if i % 20 == 0:\n"
            "        time.sleep(0.01)\n")
    run, events = kube.train(cell, name="drops")

    def drop_midway():  # and a second drop, of whatever stream is open mid-run
        emulator.wait_for(lambda: run.line_count > 1200 or run.done, 120, interval=0.01)
        emulator.drop_log_streams()

    dropper = threading.Thread(target=drop_midway, daemon=True)
    dropper.start()
    run.wait(180)
    dropper.join(5)
    assert run.status == ev.SUCCEEDED
    body = [line.split("] ", 1)[1] for line in run.logs().splitlines() if not line.startswith("#")]
    assert body == [f"n={i:05d} " + "x" * (i % 37) for i in range(count)]
    assert run.line_count == count
    pods_path = f"/api/v1/namespaces/{kube.namespace}/pods/"
    log_reads = [path for method, path in list(emulator.requests)
                 if method == "GET" and path.startswith(pods_path) and path.endswith("/log")]
    assert len(log_reads) >= 2  # the stream was really dropped and opened again


def test_failing_job_fails_with_its_last_lines(kube):
    cell = ("for i in range(30):\n"
            "    print('working', i)\n"
            "raise ValueError('the loss went to nan')\n")
    run, events = kube.train(cell, name="boom")
    with pytest.raises(JobFailed) as failure:
        run.wait(120)
    error = failure.value
    assert run.status == ev.FAILED
    assert "ValueError: the loss went to nan" in str(error)
    assert "exited with code 1" in str(error)
    assert "working 29" in "\n".join(error.last_lines)
    assert "raise ValueError" in error.remote_traceback


def test_failing_job_without_storage_reports_exit_code_and_last_lines(kube):
    kube.settings = kube.settings.with_changes(storage="")
    # os._exit skips the runtime's error.json: all there is are the exit code and the log.
    run, _ = kube.train("print('about to exit', flush=True)\nimport os\nos._exit(3)\n",
                        name="exit3")
    with pytest.raises(JobFailed) as failure:
        run.wait(120)
    message = str(failure.value)
    assert failure.value.reason == "BackoffLimitExceeded"
    assert "exited with code 3 (Error)" in message
    assert message.endswith("about to exit")


def test_cancel_deletes_the_job_and_its_pods(kube):
    cell = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
    run, events = kube.train(cell, name="longrun")
    kube.cluster.emulator.wait_for(lambda: "started" in lines_of(events) or run.done, 120,
                                   what="the program to start")
    run.cancel()
    assert run.wait_done(60)
    assert run.status == ev.CANCELLED
    with pytest.raises(RunCancelled):
        run.wait(1)
    assert kube.pods(run.name) == []
    access = load_cluster_access(namespace=kube.namespace)
    assert all(info.name != run.name for info in list_runs(access))


def test_no_wait_then_reattach_from_a_fresh_backend(kube, tmp_path):
    cell = ("import time\n"
            "for i in range(30):\n"
            "    print('tick', i, flush=True)\n"
            "    time.sleep(0.05)\n")
    first, events = kube.train(cell, name="detach", wait=False)
    kube.cluster.emulator.wait_for(lambda: len(lines_of(events)) >= 3 or first.done, 120)
    # A new kernel: no Run object, no backend state; the cluster's labels are all it has.
    again = Run(first.name, "kubernetes", tmp_path / "again", stages=KubernetesBackend.stages)
    backend = KubernetesBackend()
    backend.reattach("detach", again, kube.settings)
    again.wait(120)
    first.wait(60)
    assert again.status == ev.SUCCEEDED
    body = [line.split("] ", 1)[1] for line in again.logs().splitlines()
            if not line.startswith("#")]
    assert body == [f"tick {i}" for i in range(30)]
