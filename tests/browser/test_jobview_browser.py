"""The JobView panel in a real browser: JupyterLab runs the quick-start notebook, driven by
Debian's Chromium through playwright-core (``run_quickstart.mjs`` beside this file).

What it proves that the nbclient tests cannot: the widget models the kernel sends while the
``%%fairing_train`` cell runs (from the panel's flusher thread) reach a real JupyterLab front end
and render there as a header with the run name and phase, a stage row, the log and the final
summary, updated live. The screenshot lands in ``build/browser/quickstart-jobview.png``.

Liveness is checked without racing the machine: the lab's copy of the quick start has a gate in
its training cell, after the first log line (the run waits, up to a minute, for a file to appear).
The browser script creates that file only once the panel has shown Running and that first line,
so a run of any speed is seen live, and a panel that does not update live fails the check.

Needs: Debian's ``chromium``, Node.js 20+ with npm, the ``jupyterlab`` pip package. The node
package (playwright-core, pinned in package-lock.json; it downloads no browser) is installed once
with ``npm ci`` into ``tests/browser/node_modules``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import nbformat
import pytest

from tests.harness import need

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.ipynb"
SCREENSHOT = ROOT / "build" / "browser" / "quickstart-jobview.png"
CHROMIUM = Path("/usr/bin/chromium")
GATED = Path("quickstart-gated.ipynb")
SERVER_START_SECONDS = 90
# Keep the lab quiet and the run private: no news or update checks, no terminals, no LSP probing,
# no extension manager reaching PyPI.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False}}

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str, method: str = "GET"):
    request = urllib.request.Request(url, method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


GATE_WAIT_SECONDS = 60
GATE_AFTER = 'print("training in process", os.getpid())\n'


def gated_quickstart(gate: Path) -> dict:
    """The quick start with its training run held after its first log line until ``gate`` exists."""
    nb = json.loads(QUICKSTART.read_text())
    held = [cell for cell in nb["cells"] if cell["cell_type"] == "code"
            and "".join(cell["source"]).startswith("%%fairing_train")
            and GATE_AFTER in "".join(cell["source"])]
    assert len(held) == 1, (f"the quick start's training cell no longer prints {GATE_AFTER!r}: "
                            "move the gate")
    source = "".join(held[0]["source"])
    hold = (f"import pathlib, time  # test gate: the browser opens it once it saw the run live\n"
            f"_gate_deadline = time.monotonic() + {GATE_WAIT_SECONDS}\n"
            f"while not pathlib.Path({str(gate)!r}).exists()"
            " and time.monotonic() < _gate_deadline:\n"
            f"    time.sleep(0.05)\n")
    held[0]["source"] = source.replace(GATE_AFTER, GATE_AFTER + hold)
    return nb


class Lab:
    """A JupyterLab server on 127.0.0.1 in its own folders, stopped by PID."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.root = folder / "root"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.log_path = folder / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "JUPYTER_TOKEN": self.token,
            "FAIRING_HOME": str(self.folder / "fairing-home"),
            "FAIRING_UI": "widget",
            "JUPYTERLAB_SETTINGS_DIR": str(self.folder / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.folder / "lab-workspaces"),
            "JUPYTER_RUNTIME_DIR": str(self.folder / "jupyter-runtime"),
            "IPYTHONDIR": str(self.folder / "ipython"),
        })
        return env

    def start(self) -> None:
        self.root.mkdir(parents=True)
        self.gate = self.folder / "gate"
        (self.root / GATED.name).write_text(json.dumps(gated_quickstart(self.gate)))
        for relpath, settings in LAB_SETTINGS.items():
            path = self.folder / "lab-settings" / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                   "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
                   f"--ServerApp.root_dir={self.root}", "--ServerApp.terminals_enabled=False",
                   "--ServerApp.jpserver_extensions={'jupyter_lsp': False}",
                   "--LabApp.extension_manager=readonly", "--LabApp.news_url=None"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=self.root, env=self.env(),
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                _get(f"{self.url}/api/status", self.token)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        pytest.fail(
            f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut the kernels down through the API (they run in their own sessions), then the
        server."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            for kernel in _get(f"{self.url}/api/kernels", self.token) or []:
                _get(f"{self.url}/api/kernels/{kernel['id']}", self.token, method="DELETE")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # the server's own SIGTERM cleanup shuts kernels down too
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, "***")


@pytest.fixture(scope="module")
def browser_tools():
    """node, npm, Debian's chromium, jupyterlab; playwright-core installed once with npm ci."""
    need(CHROMIUM.exists(), "Debian's chromium is not installed (apt-get install chromium)")
    need(shutil.which("node") is not None and shutil.which("npm") is not None,
         "Node.js 20+ and npm are not installed")
    need(find_spec("jupyterlab") is not None,
         "jupyterlab is not installed (pip install jupyterlab)")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").exists():
        installed = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                                   capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, (f"npm ci in {HERE} failed:\n{installed.stdout}\n"
                                           f"{installed.stderr}")


@pytest.fixture
def lab(browser_tools, tmp_path):
    server = Lab(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def magic_notebook(cell: str) -> dict:
    """A notebook that loads the extension, then runs ``cell``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext fairing_magics"),
                nbformat.v4.new_code_cell(cell)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def watch_in_lab(tmp_path: Path, script: str, notebook: dict, name: str, screenshot: Path,
                 *args: str, timeout: int = 90) -> dict:
    """Write ``notebook`` as ``name`` into a fresh JupyterLab, run the browser script
    ``script`` (see lab.mjs) on it with ``args`` and ``--screenshot``, and return the JSON line
    it printed: its checks, the steps it looked at, an error."""
    if screenshot.exists():
        screenshot.unlink()
    lab = Lab(tmp_path)
    try:
        lab.start()
        nbformat.write(nbformat.from_dict(notebook), str(lab.root / name))
        env = dict(os.environ, JUPYTER_TOKEN=lab.token)
        done = subprocess.run(["node", str(HERE / script), "--url", lab.url, "--notebook", name,
                               *args, "--screenshot", str(screenshot),
                               "--chromium", str(CHROMIUM), "--timeout", str(timeout)],
                              cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout * 3 + 60)
    finally:
        lab.stop()
    lines = done.stdout.strip().splitlines()
    assert lines, (f"the browser script printed nothing (exit {done.returncode}):\n"
                   f"{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_quickstart_jobview_renders_in_jupyterlab(lab):
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    started = time.monotonic()
    env = dict(os.environ, JUPYTER_TOKEN=lab.token)
    done = subprocess.run(["node", str(HERE / "run_quickstart.mjs"), "--url", lab.url,
                           "--notebook", GATED.name, "--gate", str(lab.gate),
                           "--screenshot", str(SCREENSHOT),
                           "--chromium", str(CHROMIUM), "--timeout", "60"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    seconds = time.monotonic() - started
    lines = done.stdout.strip().splitlines()
    assert lines, (f"the browser script printed nothing (exit {done.returncode}):\n"
                   f"{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    context = (f"exit {done.returncode}; result: "
               f"{json.dumps({k: v for k, v in result.items() if k != 'cells'})}\n"
               f"server log:\n{lab.log_tail()}")
    assert "error" not in result, context

    assert result["panelCount"] == 1, context
    assert "linreg-" in result["header"] and " · local · " in result["header"], context
    assert result["phase"] == "Succeeded", context
    assert (result["seen"]["phases"][-1] == "Succeeded"
            and "Running" in result["seen"]["phases"]), context
    assert result["seen"]["gateOpened"] and lab.gate.exists(), context
    assert "training in process" in result["seen"]["logWhileRunning"], context
    assert [name.split()[1] for name in result["stageNames"]] == ["capture", "run"], context
    epochs = [line for line in result["log"].splitlines() if line.startswith("epoch")]
    assert (len(epochs) == 6 and epochs[0].startswith("epoch=0 ")
            and epochs[-1].startswith("epoch=1000 ")), context
    assert "training in process" in result["log"] and "remote: weight=" in result["log"], context
    assert result["summary"].startswith("Succeeded: succeeded in"), context
    assert not result["cancelVisible"] and not result["widgetErrors"], context
    assert all(not cell["errors"] for cell in result["cells"]), context
    assert any("the remote fit equals the local fit" in cell["output"]
               for cell in result["cells"]), context
    assert all(result["checks"].values()), context  # the script's own checks agree

    assert SCREENSHOT.exists() and _png_size(SCREENSHOT) == (1280, 1000)
    assert result["checks"]["panelInScreenshot"], context
    print(f"browser e2e: {seconds:.1f} s in node; timings {result['timings']}; "
          f"screenshot {SCREENSHOT}")
