"""Rich outputs from a run on the local backend, through real IPython shells and kernels: the
final expression, a DataFrame's HTML, display() of several objects, matplotlib/pandas/seaborn
figures appearing in the panel while the run is held, the cell's ordinary outputs once it ends
(also in a notebook executed headless), caps, secrets and run.result."""

from __future__ import annotations

import base64
import json

import nbformat
import pytest
from nbclient import NotebookClient

from fairing_magics import events as ev
from tests.core.conftest import run
from tests.core.kernels import Kernel, gate_code

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path)
    try:
        yield k
    finally:
        k.stop()


def test_final_value_dataframe_html_and_several_displays_come_back(shell, capsys):
    result = run(shell, "%%fairing_train --name rich\n"
                        "import pandas as pd\n"
                        "from IPython.display import HTML, Markdown\n"
                        "df = pd.DataFrame({'epoch': [1, 2, 3], 'loss': [0.9, 0.5, 0.25]})\n"
                        "display(df, Markdown('**trained**'), {'lr': 0.01})\n"
                        "print('between the displays')\n"
                        "display(HTML('<b>bold</b>'))\n"
                        "float(df.loss.min() * 4)\n")
    assert result.success, result.error_in_exec
    r = result.result
    assert r.result == 1.0  # the final expression's value, unpickled in the kernel
    kinds = [(d.kind, sorted(d.data)) for d in r.displays]
    assert kinds == [("display", ["text/html", "text/plain"]),
                     ("display", ["text/markdown", "text/plain"]),
                     ("display", ["text/plain"]), ("display", ["text/html", "text/plain"]),
                     ("result", ["text/plain"])]
    table, markdown, mapping, bold, value = r.displays
    assert "<table" in table.data["text/html"] and "0.25" in table.data["text/html"]
    assert markdown.data["text/markdown"] == "**trained**" and mapping.text == "{'lr': 0.01}"
    assert bold.data["text/html"] == "<b>bold</b>" and value.text == "1.0"
    assert r.logs() == "between the displays\n"  # markers leave nothing in the log
    printed = capsys.readouterr().out
    assert "   epoch  loss\n0      1  0.90" in printed and "Out: 1.0" in printed  # the text view
    saved = sorted(p.name for p in (r.folder / "displays").iterdir())
    assert saved == ["001.json", "002.json", "003.json", "004.json", "005.json"]
    assert json.loads((r.folder / "run.json").read_text())["displays"] == 5
    capsys.readouterr()
    assert run(shell, f"%fairing_logs {r.name}").success
    logs = capsys.readouterr().out
    assert ("between the displays\n" in logs and "[fairing] display 1:" in logs
            and "[fairing] value 5: 1.0" in logs)


def test_figures_pandas_and_seaborn_plots_come_back_as_png_and_svg_on_request(shell, capsys):
    result = run(shell, "%%fairing_train --name plots\n"
                        "import matplotlib.pyplot as plt\n"
                        "import pandas as pd\n"
                        "import seaborn as sns\n"
                        "df = pd.DataFrame({'step': range(20),"
                        " 'loss': [1 / (s + 1) for s in range(20)]})\n"
                        "df.plot(x='step', y='loss')\n"
                        "plt.show()\n"
                        "sns.lineplot(data=df, x='step', y='loss')\n"
                        "fig = plt.figure()\n"
                        "plt.plot([1, 2])\n"
                        "display(fig)\n"
                        "print('open at the end:', len(plt.get_fignums()))\n")
    assert result.success, result.error_in_exec
    r = result.result
    figures = [d for d in r.displays if d.kind == "figure"]
    # pandas' plot at plt.show(); fig by display(); the seaborn figure, still open at the end
    # (fig too, but it was shown unchanged since: not again)
    assert len(figures) == 3, r.displays
    for figure in figures:
        assert base64.b64decode(figure.data["image/png"]).startswith(PNG_MAGIC)
        assert figure.image.read_bytes().startswith(PNG_MAGIC) and figure.image.suffix == ".png"
        assert figure.text.startswith("<Figure size")
    assert "open at the end: 2" in r.logs()
    printed = capsys.readouterr().out
    assert f"[fairing] figure 1: {figures[0].image}\n" in printed  # the text view's placeholder
    svg = run(shell, "%%fairing_train --name svg --figure-format svg\n"
                     "import matplotlib.pyplot as plt\n"
                     "plt.plot([3, 1, 2])\n")
    assert svg.success, svg.error_in_exec
    (value, figure) = svg.result.displays  # the final value (a list of lines), then the open figure
    assert value.kind == "result" and "Line2D" in value.text
    assert "<svg" in figure.data["image/svg+xml"] and "image/png" not in figure.data
    assert figure.image.suffix == ".svg"


def test_what_is_over_a_cap_is_left_out_with_a_notice_and_secrets_are_masked(shell, capsys):
    shell.run_cell("%config FairingMagics.display_limit_mb = 0.01")  # 10 KiB
    shell.run_cell("%config FairingMagics.result_limit_mb = 0.01")
    key = "AKIA" + "Z" * 16
    result = run(shell, "%%fairing_train --name caps\n"
                        f"display({{'text/html': '<i>key={key}</i>', 'text/plain': 'k'}}, "
                        "raw=True)\n"
                        "display('x' * 20000)\n"
                        "display('small')\n"
                        "'y' * 30000\n")
    assert result.success, result.error_in_exec
    r = result.result
    assert [d.text for d in r.displays] == ["k", "'small'"]
    assert key not in r.displays[0].data["text/html"]
    assert r.result is None
    printed = capsys.readouterr().out
    assert ("warning: a display (text/plain) of 19.5 KiB was left out: over the cap of 10.2 KiB "
            "per display") in printed
    assert ("run.result is None: the cell's value (str) pickles to more than the cap of 10.2 KiB"
            in printed)
    # its display was over too
    assert "a cell value (text/plain) of 29.3 KiB was left out" in printed
    assert key not in "".join(p.read_text() for p in (r.folder / "displays").glob("*.json"))


def test_a_failing_cell_shows_what_it_drew_before_failing_and_an_unpicklable_value_is_said(
        shell, capsys):
    result = run(shell, "%%fairing_train --name drew\n"
                        "import matplotlib.pyplot as plt\n"
                        "plt.plot([1, 2, 3])\n"
                        "raise ValueError('diverged')\n")
    assert not result.success and "diverged" in str(result.error_in_exec)
    failed = shell.magics_manager.registry["FairingMagics"].runs.get("drew")
    (figure,) = failed.displays
    assert figure.kind == "figure" and failed.status == ev.FAILED
    unpicklable = run(shell, "%%fairing_train --name lock\nimport threading\nthreading.Lock()\n")
    assert unpicklable.success and unpicklable.result.result is None
    assert ("run.result is None: the cell's value (lock) cannot be pickled"
            in capsys.readouterr().out)


def test_an_update_replaces_a_display_in_place(shell):
    result = run(shell, "%%fairing_train --name update\n"
                        "handle = display('epoch 0', display_id=True)\n"
                        "for epoch in range(1, 4):\n"
                        "    handle.update(f'epoch {epoch}')\n"
                        "display('after')\n")
    assert result.success, result.error_in_exec
    assert [(d.index, d.text) for d in result.result.displays] == [(1, "'epoch 3'"), (2, "'after'")]


def _figures_in_panel(k: Kernel) -> list[dict]:
    """The outputs of the panel's display widgets that hold a PNG, as the front end has them."""
    found = []
    for state in k.states("OutputModel"):
        if "fairing-display" in state.get("_dom_classes", ()):
            found.extend(o for o in state.get("outputs", ()) if "image/png" in o.get("data", {}))
    return found


def test_two_figures_from_a_loop_appear_in_the_panel_before_the_run_ends(kernel, tmp_path):
    gate = tmp_path / "gate-figures"
    kernel.execute("%load_ext fairing_magics")
    code = ("%%fairing_train --name curve\n"
            "import matplotlib.pyplot as plt\n"
            "losses = []\n"
            "for epoch in range(2):\n"
            "    losses.append(1 / (epoch + 1))\n"
            "    plt.plot(losses)\n"
            "    plt.title(f'epoch {epoch}')\n"
            "    plt.show()\n" + gate_code(gate) +
            "print('trained')\n"
            "losses[-1]\n")
    seen: list = []

    def watch(k):
        figures = _figures_in_panel(k)
        if not seen and len(figures) == 2:
            phases = [v for v in k.values() if "fairing-phase" in v]
            seen.append((figures, phases[-1] if phases else ""))
            gate.write_text("open")

    reply, out = kernel.execute(code, watch=watch, timeout=180)
    assert reply["content"]["status"] == "ok", out
    assert seen, "the two figures never reached the panel while the run was held"
    figures, header = seen[0]
    assert "Running" in header  # the run was still going when both were there
    assert all(base64.b64decode(f["data"]["image/png"]).startswith(PNG_MAGIC) for f in figures)
    # The run ended: the panel gave its displays to the cell, as ordinary outputs after it.
    kinds = [(o["output_type"], sorted(o["data"])) for o in kernel.outputs]
    assert kinds[1:] == [("display_data", ["image/png", "text/plain"]),
                         ("display_data", ["image/png", "text/plain"]),
                         ("execute_result", ["text/plain"])], kinds
    # the panel first
    assert "application/vnd.jupyter.widget-view+json" in kernel.outputs[0]["data"]
    assert (kernel.outputs[-1]["data"]["text/plain"] == "0.5"
            and kernel.outputs[-1]["execution_count"])
    assert ([o["data"]["image/png"] for o in kernel.outputs[1:3]]
            == [f["data"]["image/png"] for f in figures])
    assert "displays (run.displays):" in kernel.outputs[0]["data"]["text/plain"]  # the panel's text
    boxes = [s for s in kernel.states("VBoxModel")
             if "fairing-displays" in s.get("_dom_classes", ())]
    assert boxes and boxes[-1]["children"] == []  # moved out of the panel, not shown twice
    value = kernel.execute("print(type(_).__name__, _.result, len(_.displays))")[1]
    assert value.strip() == "Run 0.5 3"  # the cell's Out is the run, its value run.result


def test_a_notebook_run_headless_keeps_the_displays_as_ordinary_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRING_UI", raising=False)  # the default ui: widgets nobody renders
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext fairing_magics"),
                nbformat.v4.new_code_cell(
                    "%%fairing_train --name headless\n"
                    "import pandas as pd\n"
                    "import seaborn as sns\n"
                    "df = pd.DataFrame({'step': [0, 1, 2], 'loss': [0.9, 0.4, 0.2]})\n"
                    "sns.lineplot(data=df, x='step', y='loss')\n"
                    "display(df)\n"
                    "float(df.loss.iloc[-1])\n")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, str(path))
    outputs = nbformat.read(str(path), as_version=4).cells[1].outputs
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in outputs]
    assert kinds[1:] == [("display_data", ["text/html", "text/plain"]),
                         ("execute_result", ["text/plain"]),
                         ("display_data", ["image/png", "text/plain"])], kinds
    assert "<table" in outputs[1].data["text/html"] and outputs[2].data["text/plain"] == "0.2"
    assert base64.b64decode(outputs[3].data["image/png"]).startswith(PNG_MAGIC)
    panel_text = outputs[0].data["text/plain"]
    assert "displays (run.displays):" in panel_text and "figure 3: " in panel_text


def test_a_no_wait_run_keeps_its_displays_in_its_panel(kernel):
    kernel.execute("%load_ext fairing_magics")
    reply, out = kernel.execute("%%fairing_train --name later --no-wait\n"
                                "import time\ntime.sleep(1)\ndisplay('late')\n")
    assert reply["content"]["status"] == "ok", out
    assert [o["output_type"] for o in kernel.outputs] == ["display_data"]  # the panel only
    reply, out = kernel.execute("run = _.wait(60)\n"
                                "print([d.text for d in run.displays], "
                                "len(run.view.display_box.children))")
    # no cell to go to: it stays in the panel
    assert out.strip().splitlines()[-1] == "[\"'late'\"] 1", out


def test_displays_and_the_value_are_kept_in_s3_storage_and_replica_files_are_listed(
        shell, aws, tmp_path):
    from fairing_magics.secrets_scan import find_credentials
    from fairing_magics.storage import LocalStorage, S3Storage

    storage = S3Storage("fairing-rich")
    storage.ensure_bucket()
    assert run(shell, "%fairing_config --storage s3://fairing-rich/team").success
    result = run(shell, "%%fairing_train --name stored\nimport matplotlib.pyplot as plt\n"
                        "plt.plot([1, 2])\nplt.show()\n{'auc': 0.91}\n")
    assert result.success, result.error_in_exec
    r = result.result
    assert r.result == {"auc": 0.91}
    stored = S3Storage("fairing-rich", "team")
    names = stored.list_files(r.name)
    assert ({"displays/001.json", "displays/001.png", "displays/002.json", "result.pkl", "run.json"}
            <= set(names))
    assert stored.read_bytes(r.name, "displays/001.png") == r.displays[0].image.read_bytes()
    assert not any(find_credentials(stored.read_bytes(r.name, n)) for n in names
                   if n.startswith("displays/"))
    # What the kernel lists of a distributed run's replicas, in S3 and in a folder alike.
    for place in (stored, LocalStorage(tmp_path / "folder")):
        folder = tmp_path / "out"
        (folder / "replicas" / "worker-0").mkdir(parents=True, exist_ok=True)
        (folder / "replicas" / "worker-0" / "error.json").write_text("{}")
        (folder / "outputs.pkl").write_bytes(b"x")
        place.upload_run_dir(folder, "dist-1")
        assert place.list_files("dist-1", "replicas") == ["replicas/worker-0/error.json"]
        assert place.list_files("dist-1") == ["outputs.pkl", "replicas/worker-0/error.json"]
        assert place.list_files("dist-2", "replicas") == []
