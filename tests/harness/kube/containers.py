"""One container of a pod, run with podman: image pull with back-off, create, attach, log lines,
exit code and reason, restarts per restartPolicy, readiness probes.

Container states follow the kubelet: Waiting(ContainerCreating | ErrImagePull | ImagePullBackOff
| CreateContainerConfigError | CrashLoopBackOff) -> Running -> Terminated(exitCode, reason
Completed | Error | OOMKilled). OOMKilled is inferred: exit 137 with a memory limit that podman
applied, when the kubelet did not stop the container itself (podman here does not report it).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from .logbook import parse_timestamp
from .podspec import MissingReference, container_env, create_args, pull_credentials
from .resources import find_type
from .store import now_iso

POD = find_type("", "v1", "pods")


class ContainerRunner:
    def __init__(self, worker, spec: dict, init: bool):
        self.worker, self.spec, self.init = worker, spec, init
        self.name = spec["name"]
        self.image = spec["image"]
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict = {}
        self.restart_count = 0
        self.ready = False
        self.final = False
        self.ever_started = False
        self.exit_code: int | None = None
        self.container_id = ""
        self.image_id = ""
        self.stopped_by_kubelet = False
        self.field_path = f"spec.{'initContainers' if init else 'containers'}{{{self.name}}}"

    # -- reporting ------------------------------------------------------------------------
    def status(self) -> dict:
        s = {"name": self.name, "state": self.state, "lastState": self.last_state,
             "ready": self.ready, "restartCount": self.restart_count, "image": self.image,
             "imageID": self.image_id, "started": "running" in self.state}
        if self.container_id:
            s["containerID"] = f"podman://{self.container_id}"
        return s

    def _set(self, state: dict, ready: bool | None = None) -> None:
        self.state = state
        if ready is not None:
            self.ready = ready
        self.worker.sync()

    def _event(self, event_type: str, reason: str, message: str) -> None:
        self.worker.event(event_type, reason, message, self.field_path)

    # -- control --------------------------------------------------------------------------
    def stop(self, grace: int) -> None:
        cid = self.container_id
        if cid and "running" in self.state:
            self.stopped_by_kubelet = True
            self._event("Normal", "Killing", f"Stopping container {self.name}")
            threading.Thread(target=self.worker.kubelet.podman.run,
                             args=("stop", "-t", str(grace), cid),
                             kwargs={"check": False, "timeout": grace + 60}, daemon=True).start()

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        w = self.worker
        policy = w.pod["spec"].get("restartPolicy", "Always")
        backoff = w.emu.restart_backoff
        while not w.killed.is_set():
            if not self._pull():
                return
            cid = self._create()
            if cid is None:
                if w.wait(1.0):
                    return
                continue
            code = self._attach(cid)
            if w.killed.is_set():
                return
            failed = code != 0
            restart = (policy == "Always" and not self.init) or (policy != "Never" and failed)
            if not restart:
                self.final = True
                self.worker.sync()
                return
            self.restart_count += 1
            self.last_state = self.state
            pod = w.pod["metadata"]
            self._set({"waiting": {"reason": "CrashLoopBackOff", "message":
                                   f"back-off {backoff:g}s restarting failed container={self.name} "
                                   f"pod={pod['name']}_{pod['namespace']}({pod['uid']})"}})
            self._event("Warning", "BackOff", f"Back-off restarting failed container {self.name} "
                        f"in pod {pod['name']}_{pod['namespace']}({pod['uid']})")
            if w.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)

    def _pull(self) -> bool:
        w, podman = self.worker, self.worker.kubelet.podman
        policy = self.spec.get("imagePullPolicy", "IfNotPresent")
        backoff = w.emu.image_pull_backoff
        while not w.killed.is_set():
            with w.kubelet.pull_locks[self.image]:
                present = podman.run("image", "exists", self.image, check=False).returncode == 0
                if present and policy != "Always":
                    self._event("Normal", "Pulled",
                                f'Container image "{self.image}" already present on machine')
                    return True
                if policy == "Never":
                    self._set({"waiting": {"reason": "ErrImageNeverPull", "message":
                                           f'Container image "{self.image}" is not present with '
                                           "pull policy of Never"}})
                    w.wait(5.0)
                    continue
                creds, missing = pull_credentials(w.emu.store, w.pod, self.image)
                if missing:
                    self._event("Warning", "FailedToRetrieveImagePullSecret",
                                "Unable to retrieve some image pull secrets "
                                f"({', '.join(missing)}); attempting to pull the image may not "
                                "succeed.")
                self._event("Normal", "Pulling", f'Pulling image "{self.image}"')
                t0 = time.monotonic()
                login = ["--creds", creds] if creds else []
                r = podman.run("pull", "--quiet", "--tls-verify=false", *login, self.image,
                               check=False, timeout=900)
            if r.returncode == 0:
                took = time.monotonic() - t0
                self.image_id = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
                self._event("Normal", "Pulled", f'Successfully pulled image "{self.image}" in '
                            f"{took:.3f}s ({took:.3f}s including waiting)")
                return True
            error = (r.stderr.strip().splitlines() or ["unknown error"])[-1]
            message = f'Failed to pull image "{self.image}": {error}'
            self._set({"waiting": {"reason": "ErrImagePull", "message": message}})
            self._event("Warning", "Failed", message)
            self._event("Warning", "Failed", "Error: ErrImagePull")
            if w.wait(min(backoff, 1.0)):
                return False
            self._set({"waiting": {"reason": "ImagePullBackOff",
                                   "message": f'Back-off pulling image "{self.image}"'}})
            self._event("Normal", "BackOff", f'Back-off pulling image "{self.image}"')
            self._event("Warning", "Failed", "Error: ImagePullBackOff")
            if w.wait(backoff):
                return False
            backoff = min(backoff * 2, 10.0)
        return False

    def _create(self) -> str | None:
        w, kubelet = self.worker, self.worker.kubelet
        pod = w.emu.store.find(POD, w.namespace, w.name) or w.pod  # labels may have changed
        base = {"PORT": w.port, "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": w.emu.api_url.rsplit(":", 1)[1], "HOSTNAME": w.name}
        try:
            env = container_env(w.emu.store, pod, self.spec, base)
        except MissingReference as e:
            self._set({"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}})
            self._event("Warning", "Failed", f"Error: {e}")
            return None
        name = f"k8s_{self.name}_{w.name}_{w.namespace}_{w.uid[:8]}_{self.restart_count}"
        self.log_path = w.emu.workdir / "pods" / w.uid / f"{self.name}-{self.restart_count}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_options = ["--log-driver", "k8s-file", "--log-opt", f"path={self.log_path}"]
        args = log_options + create_args(pod, self.spec, env, w.volumes, name, kubelet.label,
                                         kubelet.limits_ok)
        r = kubelet.podman.run("create", *args, check=False, timeout=120)
        if r.returncode != 0 and kubelet.limits_ok and ("--memory" in args or "--cpus" in args):
            kubelet.limits_ok = False  # this host cannot apply limits: run without them
            args = log_options + create_args(pod, self.spec, env, w.volumes, name, kubelet.label,
                                             False)
            r = kubelet.podman.run("create", *args, check=False, timeout=120)
        if r.returncode != 0:
            message = (r.stderr.strip().splitlines() or ["podman create failed"])[-1]
            self._set({"waiting": {"reason": "CreateContainerError", "message": message}})
            self._event("Warning", "Failed", f"Error: {message}")
            return None
        self.container_id = r.stdout.strip().splitlines()[-1]
        self.limited = kubelet.limits_ok and bool(
            ((self.spec.get("resources") or {}).get("limits") or {}).get("memory"))
        self._event("Normal", "Created", f"Created container {self.name}")
        return self.container_id

    def _attach(self, cid: str) -> int:
        """Start the container, feed its log lines, wait for its exit; return the exit code."""
        w, podman = self.worker, self.worker.kubelet.podman
        log = w.emu.logbook.start(w.namespace, w.name, self.name, w.uid)
        self.stopped_by_kubelet = False
        r = podman.run("start", cid, check=False, timeout=120)
        started = now_iso()
        self.ever_started = True
        if r.returncode != 0:  # e.g. the command is not in the image
            message = (r.stderr.strip().splitlines() or ["podman start failed"])[-1]
            log.close()
            self.exit_code = 128
            self._set({"terminated": {"exitCode": 128, "reason": "StartError", "message": message,
                                      "startedAt": started, "finishedAt": now_iso(),
                                      "containerID": f"podman://{cid}"}}, ready=False)
            self._event("Warning", "Failed", f"Error: failed to start container: {message}")
            podman.run("rm", "-f", "-t", "0", cid, check=False)
            return 128
        has_probe = bool(self.spec.get("readinessProbe"))
        self._set({"running": {"startedAt": started}}, ready=not has_probe)
        self._event("Normal", "Started", f"Started container {self.name}")
        if w.killed.is_set():
            self.stop(w.grace)
        exited = threading.Event()
        if has_probe:
            threading.Thread(target=self._probe_loop, args=(exited,), daemon=True).start()
        code = self._follow(cid, log)
        exited.set()
        log.close()
        self.exit_code = code
        if code == 0:
            reason = "Completed"
        elif code == 137 and getattr(self, "limited", False) and not self.stopped_by_kubelet:
            reason = "OOMKilled"
            self._event("Warning", "OOMKilled", f"Container {self.name} was OOM-killed: it "
                        "exceeded its memory limit")
        else:
            reason = "Error"
        self._set({"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
                                  "finishedAt": now_iso(), "containerID": f"podman://{cid}"}},
                  ready=False)
        podman.run("rm", "-f", "-t", "0", cid, check=False)
        return code

    def _follow(self, cid: str, log) -> int:
        """Tail the container's CRI log file (the k8s-file driver: ``TIME STREAM P|F TEXT``,
        as the real kubelet reads) into ``log`` until conmon reports the exit.

        The exit is seen from conmon's exit file (written at exit, removed by the cleanup soon
        after) or, failing that, from ``podman inspect`` once a second. (``podman start
        --attach`` was tried first: here it sometimes returned 20 s after the exit.)
        """
        podman = self.worker.kubelet.podman
        exit_file = podman.root / "tmp" / "exits" / cid
        partial: dict[bytes, bytes] = {}
        pending = b""
        code = None
        drained = False
        last_inspect = time.monotonic()
        with open(self.log_path, "ab+") as f:
            f.seek(0)
            while True:
                data = f.read()
                if data:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        _feed(line, partial, log)
                    continue
                if code is not None:
                    if drained:
                        break
                    drained = True  # one more read: conmon may flush right after the exit
                    time.sleep(0.05)
                    continue
                if exit_file.exists():
                    try:
                        code = int(exit_file.read_text().strip() or "0")
                    except (OSError, ValueError):
                        pass
                    continue
                if time.monotonic() - last_inspect > 1.0:
                    last_inspect = time.monotonic()
                    r = podman.run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                                   cid, check=False)
                    status, _, value = r.stdout.strip().partition(" ")
                    if r.returncode != 0 or status in ("exited", "stopped"):
                        code = int(value) if value.isdigit() else 137
                        continue
                time.sleep(0.05)
        for text in partial.values():  # a last line without newline
            if text:
                log.append(text, None)
        return code

    # -- readiness ------------------------------------------------------------------------
    def _probe_loop(self, exited: threading.Event) -> None:
        probe = self.spec["readinessProbe"]
        w = self.worker
        if w.wait(float(probe.get("initialDelaySeconds", 0))):
            return
        period = min(float(probe.get("periodSeconds", 10)), 0.5)  # quick, for tests
        failures_needed = int(probe.get("failureThreshold", 3))
        failures = 0
        while not exited.is_set() and not w.killed.is_set():
            ok = self._probe_once(probe)
            failures = 0 if ok else failures + 1
            if ok and not self.ready and "running" in self.state:
                self.ready = True
                w.sync()
            elif not ok and self.ready and failures >= failures_needed:
                self.ready = False
                w.sync()
            if w.wait(period):
                return

    def _probe_once(self, probe: dict) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        port = int(self.worker.port or 0)
        try:
            if "httpGet" in probe:
                path = probe["httpGet"].get("path", "/")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
                    return 200 <= r.status < 400
            if "tcpSocket" in probe:
                with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                    return True
            if "exec" in probe:
                r = self.worker.kubelet.podman.run("exec", self.container_id,
                                                   *probe["exec"]["command"], check=False,
                                                   timeout=timeout + 10)
                return r.returncode == 0
        except Exception:
            return False
        return True


def _feed(line: bytes, partial: dict[bytes, bytes], log) -> None:
    """One CRI log record: ``2026-01-01T00:00:00.123456789+00:00 stdout F text``."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return
    stamp, stream, tag = parts[:3]
    text = parts[3] if len(parts) == 4 else b""
    if tag == b"P":
        partial[stream] = partial.get(stream, b"") + text
        return
    text = partial.pop(stream, b"") + text
    try:
        at_ns = parse_timestamp(stamp.decode())
    except ValueError:
        at_ns = None
    log.append(text + b"\n", at_ns)
