"""Rich outputs of a multi-replica run on the emulated cluster (real podman containers, matplotlib
installed in the image's dependency layer, no IPython there): the chief's figure, display() and
final value come back through the pods' log streams, and only the chief's unless
``--outputs-from all``, which brings one set per replica, keyed by replica."""

from __future__ import annotations

import base64

import pytest

from fairing_magics import events as ev
from tests.kubernetes.test_backend_e2e import Kube, kube  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

REPLICAS = ("chief-0", "worker-0")
CELL = ("import os\n"
        "import matplotlib.pyplot as plt\n"
        "who = os.environ['FAIRING_REPLICA']\n"
        "plt.plot([1, 2, 3] if who == 'chief-0' else [3, 2, 1])\n"
        "plt.title(who)\n"
        "plt.show()\n"
        "display(who)\n"
        "print('drew', who, "
        "'ipython' if __import__('importlib').util.find_spec('IPython') else 'no ipython')\n"
        "len(who) * 10\n")


def _shown(run) -> list[tuple[str, str, str]]:
    return [(d.source, d.kind, d.text if d.kind != "figure" else "figure") for d in run.displays]


def test_a_tfjob_brings_back_the_chiefs_figure_value_and_outputs_only(kube: Kube):  # noqa: F811
    run, events = kube.train(CELL, name="rich", kind="tfjob", workers=1, outputs=("who",))
    run.wait(300)
    assert run.status == ev.SUCCEEDED
    logs = run.logs()
    assert all(f"[{r}] drew {r} no ipython" in logs for r in REPLICAS), logs  # both drew
    assert _shown(run) == [("chief-0", "figure", "figure"), ("chief-0", "display", "'chief-0'"),
                           ("chief-0", "result", "70")]
    figure = run.displays[0]
    assert base64.b64decode(figure.data["image/png"]).startswith(b"\x89PNG")
    assert figure.image.name == "001-chief-0.png" and figure.image.is_file()
    assert run.outputs == {"who": "chief-0"} and run.result == 70
    shown = [e.display.index for e in events if isinstance(e, ev.DisplayShown)]
    assert shown == [1, 2, 3]
    # The worker wrote into its own folder: the chief's files are its own.
    folder = kube.folder / "storage" / "runs" / run.name
    assert (folder / "outputs.pkl").is_file() and (folder / "result.pkl").is_file()
    assert not (folder / "replicas" / "worker-0" / "outputs.pkl").exists()


def test_outputs_from_all_brings_one_set_per_replica(kube: Kube):  # noqa: F811
    run, _ = kube.train(CELL, name="rich-all", kind="tfjob", workers=1, outputs=("who",),
                        outputs_from="all")
    run.wait(300)
    assert run.status == ev.SUCCEEDED
    for replica in REPLICAS:
        assert [(kind, text) for source, kind, text in _shown(run) if source == replica] == [
            ("figure", "figure"), ("display", repr(replica)), ("result", str(len(replica) * 10))]
    assert run.outputs == {"who": {"chief-0": "chief-0", "worker-0": "worker-0"}}
    assert run.result == 70  # the chief's value
    images = {d.source: d.image.name for d in run.displays if d.kind == "figure"}
    assert images == {"chief-0": images["chief-0"], "worker-0": images["worker-0"]}
    assert (images["chief-0"].endswith("-chief-0.png")
            and images["worker-0"].endswith("-worker-0.png"))
