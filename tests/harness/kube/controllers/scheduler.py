"""Binds pods to the one node, or leaves them Pending with FailedScheduling like the real one."""

from __future__ import annotations

import socket
import time

from ..events import record_event
from ..quantities import parse_quantity, pod_requests
from ..resources import find_type
from .ownership import POD, set_condition

NODE = find_type("", "v1", "nodes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scheduler:
    def __init__(self, emu):
        self.emu = emu
        self.ports: set[int] = set()
        self.reported: dict[str, float] = {}

    def reconcile(self) -> None:
        from ..emulator import NODE_NAME, PORT_ANNOTATION
        store = self.emu.store
        node = store.find(NODE, "", NODE_NAME)
        for pod in store.list(POD)[0]:
            meta = pod["metadata"]
            if pod["spec"].get("nodeName") or meta.get("deletionTimestamp"):
                continue
            problem = _misfit(pod, node)
            if not problem and self.emu.kubelet is None:
                continue  # API-only: no kubelet would run it (and deletions stay immediate)
            if problem:
                if time.monotonic() - self.reported.get(meta["uid"], -1e9) < 5:
                    continue
                self.reported[meta["uid"]] = time.monotonic()
                message = (f"0/1 nodes are available: {problem}. preemption: 0/1 nodes are "
                           "available: 1 Preemption is not helpful for scheduling.")
                store.mutate(POD, meta["namespace"], meta["name"], lambda p, m=message:
                             set_condition(p.setdefault("status", {}), "PodScheduled", "False",
                                           "Unschedulable", m))
                record_event(store, pod, "Warning", "FailedScheduling", message,
                             "default-scheduler")
                continue
            port = self._port()

            def bind(p: dict, port: int = port) -> None:
                p["spec"]["nodeName"] = NODE_NAME
                p["metadata"].setdefault("annotations", {})[PORT_ANNOTATION] = str(port)
                set_condition(p.setdefault("status", {}), "PodScheduled", "True")
            bound = store.mutate(POD, meta["namespace"], meta["name"], bind)
            if bound is not None:
                record_event(store, bound, "Normal", "Scheduled",
                             f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                             f"{NODE_NAME}", "default-scheduler")

    def _port(self) -> int:
        while True:
            port = free_port()
            if port not in self.ports:
                self.ports.add(port)
                return port


def _misfit(pod: dict, node: dict | None) -> str:
    if node is None:
        return "no nodes available to schedule pods"
    labels = node["metadata"].get("labels") or {}
    selector = pod["spec"].get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return "1 node(s) didn't match Pod's node affinity/selector"
    allocatable = node["status"].get("allocatable") or {}
    for name, wanted in pod_requests(pod["spec"]).items():
        have = parse_quantity(allocatable.get(name, 0))
        if wanted > have:
            return f"1 Insufficient {name}"
    return ""
