"""The docker builder and backend without an engine: the Dockerfile, the build context, the
push-stream checks (with the items podman's Docker API really sends), log line batching."""

from __future__ import annotations

import io
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import cloudpickle
import pytest

from fairing_magics.backends import Launch
from fairing_magics.backends.docker import container_options, follow_lines
from fairing_magics.capture.bundle import Bundle
from fairing_magics.docker_engine import (
    EngineError,
    check_stream,
    digest_from_push,
    registry_error_from_push,
)
from fairing_magics.errors import BuildError, RegistryError
from fairing_magics.image.docker_builder import (
    context_entries,
    context_tar,
    default_tag,
    pip_zip,
    render_dockerfile,
)
from fairing_magics.image.layout import bundle_payload
from fairing_magics.run import Run

BUNDLE = Bundle(source="print(values)\n", values={"values": cloudpickle.dumps([1, 2])},
                outputs=("r",), requirements=("fairing-e2e-shapes==1.0",), python="3.11.7")
DIGEST = "sha256:" + "ab" * 32
# What podman 4.3's Docker API sent for a push to a registry that wants credentials.
PODMAN_AUTH_ERROR = ("trying to reuse blob sha256:53a9 at destination: checking whether a blob "
                     "sha256:53a9 exists in 127.0.0.1:47043/x/y: unauthorized: authentication "
                     "required")


def test_dockerfile_has_the_append_builder_layout():
    payload = bundle_payload(BUNDLE)
    assert payload.requirements == ("fairing-e2e-shapes==1.0",
                                    f"cloudpickle=={cloudpickle.__version__}")
    text = render_dockerfile(payload, "reg/base@" + DIGEST,
                             base_pythonpath="/opt/base:/fairing/deps")
    lines = text.splitlines()
    assert lines[1] == f"FROM reg/base@{DIGEST}"
    assert "--target /fairing/deps -r /fairing/build/requirements.txt" in text
    assert "--no-index" not in text
    assert ("ENV FAIRING_OUTPUT_DIR=/fairing/output PYTHONUNBUFFERED=1 "
            "PYTHONPATH=/fairing/deps:/opt/base") in lines
    assert "WORKDIR /fairing/work" in lines
    assert 'CMD ["python3", "/fairing/bundle/fairing_bootstrap.py", "/fairing/bundle"]' in lines
    # Only the bundle comes after the requirements: a code-only change rebuilds one step.
    assert lines[-1] == "COPY fairing/ /fairing/" and "LABEL" not in text
    # given to the build API
    assert dict(payload.labels) == {"fairing.capture.digest": BUNDLE.digest}


def test_dockerfile_without_requirements_runs_nothing_and_keeps_an_unknown_pythonpath():
    text = render_dockerfile(bundle_payload(Bundle(source="print(1)\n")), "base:1")
    assert "RUN" not in text and "PYTHONPATH" not in text
    payload = bundle_payload(BUNDLE)
    assert "${PYTHONPATH:+:$PYTHONPATH}" in render_dockerfile(payload, "base:1")
    wheels_only = render_dockerfile(payload, "b", wheels=True)
    assert "--no-index --find-links /fairing/build/wheels" in wheels_only


def test_build_context_is_deterministic_and_holds_bundle_folders_and_wheels(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x-1-py3-none-any.whl").write_bytes(b"wheel")
    payload = bundle_payload(BUNDLE)
    entries = context_entries(payload, "FROM x\n", wheels=tmp_path / "w")
    data = context_tar(entries)
    assert data == context_tar(context_entries(payload, "FROM x\n", wheels=tmp_path / "w"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"Dockerfile", "fairing/bundle/main.py", "fairing/bundle/fairing_bootstrap.py",
            "fairing-build/requirements.txt", "fairing-build/fairing-pip.zip",
            "fairing-build/wheels/x-1-py3-none-any.whl"} <= set(members)
    assert members["fairing/work"].mode & 0o1777 == 0o1777 and members["fairing/output"].isdir()
    assert all(m.mtime == 0 and m.uid == 0 for m in members.values())
    with pytest.raises(BuildError, match="holds no files"):
        context_entries(payload, "FROM x\n", wheels=tmp_path / "empty")


def test_shipped_pip_is_a_runnable_zip_with_fixed_timestamps():
    with zipfile.ZipFile(io.BytesIO(pip_zip())) as zf:
        names = zf.namelist()
        assert "pip/__main__.py" in names and not any("__pycache__" in n for n in names)
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_check_stream_raises_on_the_first_error_item_and_keeps_what_came_before():
    items = [{"status": "The push refers to repository [r/x:t]"},
             {"errorDetail": {"message": PODMAN_AUTH_ERROR}, "error": PODMAN_AUTH_ERROR},
             {"status": "never read"}]
    with pytest.raises(EngineError) as info:
        check_stream(iter(items))
    assert info.value.message == PODMAN_AUTH_ERROR and len(info.value.items) == 2
    assert check_stream(iter(items[:1])) == items[:1]


@pytest.mark.parametrize(("message", "status", "temporary", "advice"), [
    (PODMAN_AUTH_ERROR, 401, False, "Log in"),
    ("denied: requested access to the resource is denied", 403, False, "permissions"),
    ('pinging container registry 127.0.0.1:1: Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: '
     'connect: '
     "connection refused", None, True, "could not be reached"),
    ('Get "https://r/v2/": http: server gave HTTP response to HTTPS client', None, False,
     "insecure"),
    ("toomanyrequests: slow down", 429, True, "limits"),
])
def test_push_errors_become_registry_errors_with_the_registrys_message(message, status, temporary,
                                                                        advice):
    error = registry_error_from_push(message, "127.0.0.1:5000/team/job")
    assert isinstance(error, RegistryError)
    assert error.status == status and error.temporary is temporary
    assert message.split(": ")[-1] in str(error) and advice in str(error)
    assert "127.0.0.1:5000/team/job" in str(error)


def test_push_error_messages_never_carry_credentials():
    error = registry_error_from_push("unauthorized: Get https://user:hunter22@reg/v2/ "
                                     "password=hunter22", "reg/x")
    assert "hunter22" not in str(error)


def test_digest_from_push_reads_podman_status_lines_and_docker_aux_items():
    podman = [{"status": "The push refers to repository [r/x:t]"},
              {"status": f"t: digest: {DIGEST} size: 737"}]
    docker = [{"status": "Pushed", "id": "abc"}, {"status": f"t: digest: {DIGEST} size: 1"},
              {"aux": {"Tag": "t", "Digest": DIGEST, "Size": 1}}]
    assert digest_from_push(podman) == DIGEST == digest_from_push(docker)
    assert digest_from_push([{"status": "The push refers to repository [r/x:t]"}]) is None


def test_default_tag_names_the_bundle():
    assert default_tag(BUNDLE) == "fairing-" + BUNDLE.digest.split(":")[1][:12]


def test_follow_lines_keeps_split_characters_whole_and_the_last_partial_line():
    got: list[tuple[str, ...]] = []
    text = "héllo wörld\nsecond\r\nlast without newline".encode()
    chunks = [text[i:i + 3] for i in range(0, len(text), 3)]
    follow_lines(iter(chunks), got.append)
    lines = [line for batch in got for line in batch]
    assert lines == ["héllo wörld", "second", "last without newline"]


def test_follow_lines_batches_fast_writers_and_delivers_slow_ones_at_once():
    got: list[tuple[float, tuple[str, ...]]] = []

    def chunks():
        for i in range(2000):
            yield f"line {i}\n".encode()
        time.sleep(0.5)
        yield b"late\n"

    started = time.monotonic()
    follow_lines(chunks(), lambda lines: got.append((time.monotonic() - started, lines)))
    lines = [line for _, batch in got for line in batch]
    assert lines == [f"line {i}" for i in range(2000)] + ["late"]
    assert len(got) < 200  # batched, not one event per line
    late_at = next(t for t, batch in got if "late" in batch)
    assert late_at < 0.5 + 0.3


def test_container_options_mount_the_run_folder_at_the_output_dir(tmp_path):
    run = Run("job-abc12", "docker", tmp_path / "runs" / "job-abc12")
    try:
        options = container_options(Launch(bundle_dir=Path("b"), env={"A": "1"},
                                           image="r/x@" + DIGEST, capture_digest=DIGEST), run)
    finally:
        run.close()
    assert options["network_mode"] == "host" and options["init"] is True
    assert options["detach"] is True
    assert options["environment"] == {"A": "1", "FAIRING_OUTPUT_DIR": "/fairing/output",
                                      "FAIRING_RUN_NAME": "job-abc12"}
    mount = {"bind": "/fairing/output", "mode": "rw"}
    assert options["volumes"] == {str(run.folder.resolve()): mount}
    assert options["labels"] == {"fairing.run": "job-abc12", "fairing.capture.digest": DIGEST}


def test_follow_lines_reader_thread_ends_with_the_stream():
    before = threading.active_count()
    follow_lines(iter([b"a\n"]), lambda lines: None)
    time.sleep(0.05)
    assert threading.active_count() <= before


def test_image_service_refuses_an_unknown_builder():
    from fairing_magics.config import Settings
    from fairing_magics.errors import ConfigError
    from fairing_magics.image.publish import ImageService
    from fairing_magics.oci import parse_reference

    with pytest.raises(ConfigError,
                       match="--builder 'kaniko' is unknown; use one of append, docker"):
        ImageService(Settings(), builder="kaniko")
    service = ImageService(Settings())
    assert service.builder_name == "append"
    events: list = []
    with pytest.raises(ConfigError, match="--builder 'buildah'"):
        service.publish(BUNDLE, repository=parse_reference("r/x"), base_image="b",
                        builder="buildah", emit=events.append)
    assert events == []  # refused before any stage began


def test_train_options_builder_is_checked_before_capture_and_shown_by_dry_run(tmp_path):
    from fairing_magics import pipeline
    from fairing_magics.config import Settings
    from fairing_magics.errors import ConfigError

    settings = Settings(backend="docker", registry="127.0.0.1:5000/team/job", home=tmp_path)
    with pytest.raises(ConfigError, match="--builder 'kaniko' is unknown"):
        pipeline.check_options(pipeline.TrainOptions(builder="kaniko"), settings)
    plan = pipeline.plan_train("print(1)\n", {}, ["print(1)\n"],
                               pipeline.TrainOptions(builder="docker"), settings, cwd=tmp_path)
    assert "Builder: docker" in plan and "pip inside the image" in plan


def test_docker_backend_preflight_without_an_engine_says_what_to_do(tmp_path):
    from fairing_magics.backends.docker import DockerBackend
    from fairing_magics.errors import ConfigError

    with pytest.raises(ConfigError, match=r"No Docker Engine answers at unix://.*--backend local"):
        DockerBackend(docker_host=f"unix://{tmp_path}/none.sock").check(None, None)
