"""The docker backend through ``pipeline.train`` on podman's Docker API: the cell is captured,
built, pushed to the real registry and run in a container; its lines stream into the run and
equal those of the same cell on the local backend; outputs come back; a failing cell fails with
the remote traceback; cancel and --timeout leave no container behind."""

from __future__ import annotations

import time

import pytest

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends.docker import RUN_LABEL
from fairing_magics.config import Settings
from fairing_magics.docker_engine import docker_client
from fairing_magics.errors import FairingTimeout, JobFailed, RunCancelled
from fairing_magics.image.publish import ImageService
from fairing_magics.oci import parse_reference
from fairing_magics.run import RunBook
from fairing_magics.train_request import TrainOptions, merge_request
from tests.docker.wheels import wheel_from_installed

pytestmark = pytest.mark.e2e

HISTORY = [
    "import json, sys",
    "values = [3, 5, 8]",
    "def scale(x):\n    return x * 10",
]
CELL = """\
total = sum(values)
print("values", values, "total", total)
for i in range(3):
    print("line", i, "é")
print(json.dumps({"scaled": scale(total)}))
result = {"total": total, "scaled": scale(total)}
"""


def namespace() -> dict:
    ns: dict = {}
    for cell in HISTORY:
        exec(cell, ns)
    return ns


@pytest.fixture
def engine(docker_api, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", docker_api)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    client = docker_client(docker_api)
    yield client
    client.close()


@pytest.fixture
def settings(registry, base_image, tmp_path):
    return Settings(backend="docker", registry=f"{registry.host}/e2e/docker-backend",
                    base_image=base_image.tag_ref,
                    insecure_registries=(registry.host,), ui="text", home=tmp_path / "home")


@pytest.fixture(scope="module")
def images(registry, base_image):
    """One image service for the module, as a kernel keeps one (base resolved once, blobs known)."""
    return ImageService(Settings(insecure_registries=(registry.host,)))


def train(cell: str, settings: Settings, images, **options):
    history = HISTORY + [cell]
    request = merge_request(TrainOptions(**options), settings)
    return pipeline.train(cell, namespace(), history, request, RunBook(), images=images)


def program_lines(run) -> list[str]:
    """What the program printed, without our notices (``# info: ...``) and build lines."""
    return [line for line in run.logs().splitlines() if not line.startswith(("# ", "[build] "))]


def containers_of(engine, run) -> list:
    return engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run.name}"})


def test_lines_stream_outputs_come_back_and_equal_the_local_run(engine, settings, images, tmp_path):
    events: list = []
    run = train(CELL, settings, images, name="same", outputs=("result",))
    run.subscribe(events.append)
    run.wait(300)
    assert run.status == ev.SUCCEEDED, run.logs()
    assert run.outputs == {"result": {"total": 16, "scaled": 160}}
    assert run.image and run.image.startswith(f"{settings.registry}@sha256:")

    local = train(CELL, Settings(backend="local", ui="text", home=tmp_path / "local-home"), images,
                  name="same", outputs=("result",))
    local.wait(120)
    assert program_lines(run) == program_lines(local) == [
        "values [3, 5, 8] total 16", "line 0 é", "line 1 é", "line 2 é", '{"scaled": 160}']
    assert local.outputs == run.outputs
    assert containers_of(engine, run) == []


def test_lines_arrive_while_the_container_runs(engine, settings, images):
    seen: list[tuple[float, str]] = []
    cell = "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('second')\n"
    run = train(cell, settings, images, name="stream")
    def see(event) -> None:
        if isinstance(event, ev.LogLines):
            seen.extend((time.monotonic(), line) for line in event.lines)

    run.subscribe(see)
    run.wait(300)
    assert run.status == ev.SUCCEEDED, run.logs()
    times = {line: t for t, line in seen}
    assert "first" in times and "second" in times
    assert times["second"] - times["first"] > 2.0  # "first" was shown before the sleep ended


def test_displays_figures_and_the_final_value_come_back_as_on_the_local_backend(engine, settings,
                                                                                  images, tmp_path):
    cell = ("import matplotlib.pyplot as plt\n"
            "class Score:\n"
            "    def _repr_html_(self):\n"
            "        return '<b>0.93</b>'\n"
            "display(Score(), total_of(values))\n"
            "for epoch in range(2):\n"
            "    plt.plot([epoch, epoch + 1])\n"
            "    plt.show()\n"
            "print('no IPython here' if __import__('importlib').util.find_spec('IPython') is None"
            " else 'IPython')\n"
            "{'total': total_of(values)}\n")
    run = train("total_of = sum\n" + cell, settings, images, name="rich")
    run.wait(300)
    assert run.status == ev.SUCCEEDED, run.logs()
    # the image's Python has no IPython: ours formats
    assert program_lines(run) == ["no IPython here"]
    local = train("total_of = sum\n" + cell,
                  Settings(backend="local", ui="text", home=tmp_path / "local-home"),
                  images, name="rich")
    local.wait(120)

    def shown(r):
        return [(d.kind, sorted(d.data), d.data.get("text/html", ""),
                 "" if d.kind == "figure" else d.text) for d in r.displays]
    assert shown(run) == [("display", ["text/html", "text/plain"], "<b>0.93</b>", shown(run)[0][3]),
                          ("display", ["text/plain"], "", "16"),
                          ("figure", ["image/png", "text/plain"], "", ""),
                          ("figure", ["image/png", "text/plain"], "", ""),
                          ("result", ["text/plain"], "", "{'total': 16}")]
    assert [s[:3] for s in shown(local)] == [s[:3] for s in shown(run)]
    assert run.result == local.result == {"total": 16}
    assert all(d.image.read_bytes().startswith(b"\x89PNG")
               for d in run.displays if d.kind == "figure")
    assert containers_of(engine, run) == []


def test_a_failing_cell_fails_the_run_with_the_remote_traceback(engine, settings, images):
    cell = ("def explode(v):\n    raise ValueError(f'bad value {v}')\nprint('before')\n"
            "explode(total_of(values))\n")
    run = train("total_of = sum\n" + cell, settings, images, name="fails")
    with pytest.raises(JobFailed) as info:
        run.wait(300)
    error = info.value
    assert run.status == ev.FAILED
    assert "ValueError: bad value 16" in str(error)
    assert "explode" in error.remote_traceback and "raise ValueError" in error.remote_traceback
    assert "before" in program_lines(run)
    assert containers_of(engine, run) == []


def _wait_running(run, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while run.status != ev.RUNNING or not run.tail():
        assert not run.done, run.logs()
        assert time.monotonic() < deadline, "the container did not start"
        time.sleep(0.1)


def test_cancel_stops_and_removes_the_container(engine, settings, images):
    run = train("import time\nprint('started', flush=True)\ntime.sleep(120)\n", settings, images,
                name="cancel")
    _wait_running(run)
    assert len(containers_of(engine, run)) == 1
    started = time.monotonic()
    run.cancel()
    with pytest.raises(RunCancelled):
        run.wait(60)
    assert time.monotonic() - started < 20
    assert run.status == ev.CANCELLED
    assert containers_of(engine, run) == []


def test_timeout_stops_and_removes_the_container(engine, settings, images):
    run = train("import time\nprint('started', flush=True)\ntime.sleep(120)\n", settings, images,
                name="timeout", timeout=3)
    started = time.monotonic()
    with pytest.raises(FairingTimeout, match="--timeout 3"):
        run.wait(300)
    assert time.monotonic() - started < 120
    assert run.status == ev.TIMED_OUT
    assert "started" in program_lines(run)
    assert containers_of(engine, run) == []


def test_docker_builder_through_the_pipeline(engine, settings, registry, tmp_path):
    """--builder docker end to end: the engine builds (pip in the image) and pushes, the backend
    runs it."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel_from_installed(wheels, "cloudpickle")
    service = ImageService(settings, builder="docker")
    # no package index on the test machines: install from these
    service.docker_builder.wheels = wheels
    run = train(CELL, settings, service, name="built-by-docker", outputs=("result",))
    run.wait(600)
    assert run.status == ev.SUCCEEDED, run.logs()
    assert run.outputs == {"result": {"total": 16, "scaled": 160}}
    assert any(line.startswith("[build] ") and "Successfully installed cloudpickle" in line
               for line in run.logs().splitlines())
    assert program_lines(run)[0] == "values [3, 5, 8] total 16"
    assert containers_of(engine, run) == []


def test_an_image_the_engine_cannot_pull_fails_the_run_clearly(engine, tmp_path):
    from fairing_magics.backends import Launch
    from fairing_magics.backends.docker import DockerBackend
    from fairing_magics.run import Run

    run = Run("nopull-abc12", "docker", tmp_path / "runs" / "nopull-abc12")
    DockerBackend(engine).start(Launch(bundle_dir=tmp_path,
                                       image="127.0.0.1:1/gone/job@sha256:" + "0" * 64), run)
    with pytest.raises(JobFailed, match="could not pull 127.0.0.1:1/gone/job") as info:
        run.wait(120)
    assert info.value.reason == "ErrImagePull" and run.status == ev.FAILED
    assert containers_of(engine, run) == []


def test_the_engine_pulls_from_a_locked_registry_with_our_credentials(engine, auth_registry,
                                                                      base_image, tmp_path):
    """No ``docker login`` on the engine's side: the pull carries our keychain's credentials (for
    ECR, a token made from the kernel's AWS credentials; here, explicit ones)."""
    from fairing_magics.backends.docker import pull_run_image
    from fairing_magics.registry import Keychain

    settings = Settings(backend="docker", registry=f"{auth_registry.host}/e2e/locked-run",
                        base_image=base_image.tag_ref,
                        insecure_registries=(auth_registry.host, base_image.ref.split("/")[0]),
                        ui="text", home=tmp_path / "home")
    images = ImageService(settings)
    images.keychain.explicit[auth_registry.host] = (auth_registry.user, auth_registry.password)
    # a new code layer: an image the engine lacks
    cell = f"print('pulled with credentials {time.time_ns()}')\n"
    image = pipeline.publish_only(cell, namespace(), HISTORY + [cell],
                                  merge_request(TrainOptions(name="locked"), settings), images)
    assert image.startswith(f"{auth_registry.host}/e2e/locked-run@sha256:")
    events: list = []
    with pytest.raises(JobFailed, match="authentication required") as refused:
        pull_run_image(engine, parse_reference(image), events.append,
                       keychain=Keychain(docker_config={}))
    assert auth_registry.password not in str(refused.value)
    pull_run_image(engine, parse_reference(image), events.append, keychain=images.keychain)
    assert engine.api.inspect_image(image)["Id"]
    assert [e.detail for e in events] == [f"pulling {image}"] * 2
    engine.api.remove_image(image, force=True)
