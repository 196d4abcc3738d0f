"""Remote failures of a container run (docker backend on podman's Docker API, the image pushed
to the real registry): the frames saved in the container come back through the mounted run
folder, and the replayed traceback has the container's file names, lines and variables."""

from __future__ import annotations

import io
import pdb

import pytest

from fairing_magics import pipeline
from fairing_magics.config import Settings
from fairing_magics.errors import JobFailed
from fairing_magics.image.publish import ImageService
from fairing_magics.run import RunBook

pytestmark = pytest.mark.e2e

HISTORY = ["def parse(line):\n    key, value = line.split('=')\n    return key, int(value)"]
CELL = "lines = ['a=1', 'b=two']\nparsed = [parse(line) for line in lines]\n"


@pytest.fixture
def settings(docker_api, registry, base_image, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", docker_api)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    return Settings(backend="docker", registry=f"{registry.host}/e2e/postmortem",
                    base_image=base_image.tag_ref, insecure_registries=(registry.host,), ui="text",
                    home=tmp_path / "home")


def test_frames_saved_in_the_container_come_back_and_replay(settings):
    namespace: dict = {}
    exec(HISTORY[0], namespace)
    run = pipeline.train(CELL, namespace, [*HISTORY, CELL], pipeline.TrainOptions(name="parse"),
                         settings, RunBook(), images=ImageService(settings))
    with pytest.raises(JobFailed) as failure:
        run.wait(300)
    frames = failure.value.frames
    assert [f.function for f in frames] == ["<module>", "<listcomp>", "parse"]
    assert frames.failing.values() == {"line": "b=two", "key": "b", "value": "two"}
    assert frames[0].values()["lines"] == ["a=1", "b=two"]
    assert frames[0].filename == "/fairing/bundle/main.py"  # the container's own path
    assert type(frames.exception).__name__ == "ValueError"
    assert "invalid literal for int()" in str(frames.exception)
    out = io.StringIO()

    class Scripted(pdb.Pdb):
        def __init__(self):
            super().__init__(stdin=io.StringIO("p key, value\nup\nup\np lines\nq\n"), stdout=out)
            self.use_rawinput = False

    frames.post_mortem(Scripted)
    text = out.getvalue()
    assert "/fairing/bundle/main.py(" in text and "parse()" in text
    assert "('b', 'two')" in text and "['a=1', 'b=two']" in text
