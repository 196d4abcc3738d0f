"""Kubeflow training-operator emulation for TFJob and PyTorchJob (kubeflow.org/v1).

Pods are ``<job>-<replica type, lowercase>-<index>`` with the operator's labels (new
``training.kubeflow.org/*`` and the older plain ones) and its env (TF_CONFIG; MASTER_ADDR,
MASTER_PORT, WORLD_SIZE, RANK). Conditions Created/Running/Succeeded/Failed with the operator's
reasons. Success: the Chief/Master replica succeeds; without one, worker 0 (TFJob default
successPolicy) or all workers (``successPolicy: AllWorkers``, and PyTorchJob).
"""

from __future__ import annotations

import json

from ..events import record_event
from ..resources import find_type
from ..store import now_iso
from .jobs import expire_finished
from .ownership import (
    POD,
    condition_true,
    delete_pod,
    is_deleting,
    owned_pods,
    phase,
    pod_from_template,
    restarts,
    seconds_since,
    set_condition,
)

TFJOB = find_type("kubeflow.org", "v1", "tfjobs")
PYTORCHJOB = find_type("kubeflow.org", "v1", "pytorchjobs")
_KINDS = {TFJOB: ("tfReplicaSpecs", "tensorflow", "tfjob-controller", 2222),
          PYTORCHJOB: ("pytorchReplicaSpecs", "pytorch", "pytorchjob-controller", 23456)}
_LEADERS = ("Chief", "Master")


class TrainingJobController:
    def __init__(self, emu):
        self.emu = emu

    def reconcile(self) -> None:
        served = self.emu.served_types()
        for t in _KINDS:
            if t not in served:
                continue
            for job in self.emu.store.list(t)[0]:
                if is_deleting(job):
                    continue
                if condition_true(job, "Succeeded") or condition_true(job, "Failed"):
                    expire_finished(
                        self.emu, t, job,
                        (job["spec"].get("runPolicy") or {}).get("ttlSecondsAfterFinished"))
                    continue
                self._sync(t, job)

    def _sync(self, t, job: dict) -> None:
        store, meta = self.emu.store, job["metadata"]
        field, container, operator, port = _KINDS[t]
        specs: dict = job["spec"][field]
        run_policy = job["spec"].get("runPolicy") or {}
        name, ns = meta["name"], meta["namespace"]
        pods = {p["metadata"]["name"]: p for p in owned_pods(self.emu, job)}
        if not condition_true(job, "Created"):
            record_event(store, job, "Normal", f"{t.kind}Created",
                         f"{t.kind} {name} is created.", operator)
        for rtype, rspec in specs.items():
            for index in range(int(rspec.get("replicas", 1))):
                pod_name = f"{name}-{rtype.lower()}-{index}"
                if pod_name in pods:
                    continue
                labels = replica_labels(name, rtype, index, operator)
                pod = pod_from_template(rspec.get("template") or {}, job, name=pod_name,
                                        labels=labels)
                policy = rspec.get("restartPolicy", "Never")
                pod["spec"]["restartPolicy"] = "Never" if policy == "ExitCode" else policy
                _inject_env(t, pod, container, specs, name, ns, rtype, index, port)
                pods[pod_name] = store.create(POD, ns, pod)
                record_event(store, job, "Normal", "SuccessfulCreatePod",
                             f"Created pod: {pod_name}", operator)
        replica_statuses, failed_types, total_restarts = {}, [], 0
        for rtype in specs:
            mine = [p for p in pods.values() if p["metadata"]["labels"].get(
                "training.kubeflow.org/replica-type") == rtype.lower()]
            rs = {"active": sum(phase(p) in ("Pending", "Running") for p in mine),
                  "succeeded": sum(phase(p) == "Succeeded" for p in mine),
                  "failed": sum(phase(p) == "Failed" for p in mine),
                  "selector": f"training.kubeflow.org/job-name={name},"
                              f"training.kubeflow.org/replica-type={rtype.lower()}"}
            replica_statuses[rtype] = {k: v for k, v in rs.items() if v}
            if rs["failed"]:
                failed_types.append((rtype, rs["failed"]))
            total_restarts += sum(restarts(p) for p in mine)
        verdict = self._verdict(t, job, specs, pods, failed_types, total_restarts, run_policy)
        running = any(phase(p) == "Running" for p in pods.values())
        now = now_iso()

        def update(j: dict) -> None:
            status = j.setdefault("status", {})
            status.setdefault("startTime", now)
            status["replicaStatuses"] = replica_statuses
            set_condition(status, "Created", "True", f"{t.kind}Created",
                          f"{t.kind} {name} is created.")
            if verdict:
                kind, reason, message = verdict
                set_condition(status, "Running", "False", reason, message)
                set_condition(status, kind, "True", reason, message)
                status["completionTime"] = now
            elif running:
                set_condition(status, "Running", "True", f"{t.kind}Running",
                              f"{t.kind} {ns}/{name} is running.")
        store.mutate(t, ns, name, update)
        if verdict:
            kind, reason, message = verdict
            record_event(store, job, "Normal" if kind == "Succeeded" else "Warning", reason,
                         message, operator)
            if run_policy.get("cleanPodPolicy", "Running") in ("Running", "All"):
                for p in pods.values():
                    if run_policy.get("cleanPodPolicy") == "All" \
                            or phase(p) in ("Pending", "Running"):
                        delete_pod(self.emu, p)

    def _verdict(self, t, job, specs, pods, failed_types, total_restarts, run_policy):
        name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
        start = (job.get("status") or {}).get("startTime")
        if failed_types:
            rtype, n = failed_types[0]
            return ("Failed", f"{t.kind}Failed",
                    f"{t.kind} {ns}/{name} has failed because {n} {rtype} replica(s) failed.")
        if run_policy.get("backoffLimit") is not None \
                and total_restarts > run_policy["backoffLimit"]:
            return ("Failed", "BackoffLimitExceeded",
                    f"{t.kind} {name} has failed because it has reached "
                    "the specified backoff limit")
        deadline = run_policy.get("activeDeadlineSeconds")
        if deadline is not None and start and seconds_since(start) >= deadline:
            return ("Failed", "DeadlineExceeded",
                    f"{t.kind} {name} has failed because it was active "
                    "longer than specified deadline")

        def done(rtype: str, index: int | None = None) -> bool:
            count = int(specs[rtype].get("replicas", 1))
            indexes = [index] if index is not None else range(count)
            return all(phase(pods.get(f"{name}-{rtype.lower()}-{i}", {})) == "Succeeded"
                       for i in indexes)
        leader = next((r for r in _LEADERS if r in specs), None)
        if leader:
            ok = done(leader, 0)
        elif "Worker" in specs:
            all_workers = t is PYTORCHJOB or job["spec"].get("successPolicy") == "AllWorkers"
            ok = done("Worker") if all_workers else done("Worker", 0)
        else:
            ok = False
        if ok:
            return ("Succeeded", f"{t.kind}Succeeded",
                    f"{t.kind} {ns}/{name} successfully completed.")
        return None


def replica_labels(job: str, rtype: str, index: int, operator: str) -> dict:
    labels = {"training.kubeflow.org/job-name": job,
              "training.kubeflow.org/replica-type": rtype.lower(),
              "training.kubeflow.org/replica-index": str(index),
              "training.kubeflow.org/operator-name": operator,
              "job-name": job, "replica-type": rtype.lower(), "replica-index": str(index),
              "group-name": "kubeflow.org"}
    if rtype in _LEADERS or (rtype == "Worker" and index == 0):
        labels["training.kubeflow.org/job-role"] = "master"
    return labels


def _inject_env(t, pod: dict, container: str, specs: dict, name: str, ns: str, rtype: str,
                index: int, port: int) -> None:
    def host(rt: str, i: int) -> str:
        return f"{name}-{rt.lower()}-{i}.{ns}.svc"
    if t is TFJOB:
        cluster = {rt.lower(): [f"{host(rt, i)}:{port}" for i in range(int(s.get("replicas", 1)))]
                   for rt, s in specs.items()}
        env = [{"name": "TF_CONFIG", "value": json.dumps({
            "cluster": cluster, "task": {"type": rtype.lower(), "index": index},
            "environment": "cloud"})}]
    else:
        world = sum(int(s.get("replicas", 1)) for s in specs.values())
        rank = index if rtype == "Master" else index + (1 if "Master" in specs else 0)
        master = host("Master", 0) if "Master" in specs else host("Worker", 0)
        env = [{"name": "MASTER_PORT", "value": str(port)},
               {"name": "MASTER_ADDR", "value": master},
               {"name": "WORLD_SIZE", "value": str(world)},
               {"name": "RANK", "value": str(rank)},
               {"name": "PYTHONUNBUFFERED", "value": "1"}]
    for c in pod["spec"].get("containers") or []:
        if c.get("name") == container:
            c["env"] = (c.get("env") or []) + env
