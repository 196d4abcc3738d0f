"""Katib emulation: Experiments make Trials, Trials make their jobs and collect their metrics.

- **Experiment controller** (``pkg/controller.v1beta1/experiment``): while fewer than
  ``parallelTrialCount`` trials are active and fewer than ``maxTrialCount`` were made, it asks for
  a suggestion and creates a Trial ``<experiment>-<8 lowercase letters and digits>`` (owned by the
  Experiment, label ``katib.kubeflow.org/experiment``) whose ``runSpec`` is the trial template
  with ``${trialParameters.NAME}`` replaced as Katib's manifest generator does (parameters by
  their reference, ``${trialSpec.Name}`` and the other metadata keys by the trial). Suggestions
  are random samples of each parameter's feasible space, whatever the algorithm (the emulator
  runs no suggestion service); ``logUniform`` samples the logarithm. The status is Katib's
  (``util/status_util.go``): counts and lists of trials by state, ``currentOptimalTrial`` by
  the objective's metric strategy, conditions Created, Running, then Succeeded
  (``ExperimentMaxTrialsReached``) or Failed (``ExperimentFailed``: max failed count reached).
- **Trial controller** (``pkg/controller.v1beta1/trial``): creates the run spec's job (named
  after the trial, owned by it, its pods labelled ``katib.kubeflow.org/trial`` as Katib's pod
  webhook does), and when the job's success condition holds reads the primary container's log
  as the StdOut collector does (the ``([\\w|-]+)\\s*=\\s*(number)`` filter, for the objective and
  additional metrics): ``status.observation.metrics`` with ``min``, ``max`` and ``latest``, and
  condition Succeeded, or MetricsUnavailable when the objective never appeared; Failed when the
  failure condition holds.

Differences: no Suggestion objects or services, no metrics-collector sidecar (its log lines are
the primary container's), no early stopping (``medianstop`` is accepted, never applied).
"""

from __future__ import annotations

import json
import math
import random
import re
import string

from ..events import record_event
from ..resources import find_type
from ..store import now_iso
from .ownership import POD, condition_true, is_deleting, owner_reference, set_condition

EXPERIMENT = find_type("kubeflow.org", "v1beta1", "experiments")
TRIAL = find_type("kubeflow.org", "v1beta1", "trials")
JOB_TYPES = {("batch/v1", "Job"): find_type("batch", "v1", "jobs"),
             ("kubeflow.org/v1", "TFJob"): find_type("kubeflow.org", "v1", "tfjobs"),
             ("kubeflow.org/v1", "PyTorchJob"): find_type("kubeflow.org", "v1", "pytorchjobs")}
LABEL_EXPERIMENT = "katib.kubeflow.org/experiment"
LABEL_TRIAL = "katib.kubeflow.org/trial"
FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
_CONDITION = re.compile(r'status\.conditions\.#\(type=="(\w+)"\)#\|#\(status=="(\w+)"\)#')
_FINAL = ("Succeeded", "Failed", "MetricsUnavailable", "EarlyStopped", "Killed")
_SUFFIX = string.ascii_lowercase + string.digits


def trial_state(trial: dict) -> str:
    for name in _FINAL + ("Running",):
        if condition_true(trial, name):
            return name
    return "Pending"


def sample(param: dict, rng: random.Random) -> str:
    """A random value of one parameter's feasible space, as Katib's text."""
    space = param.get("feasibleSpace") or {}
    kind = param.get("parameterType")
    if kind in ("categorical", "discrete"):
        return str(rng.choice(space["list"]))
    low, high = float(space["min"]), float(space["max"])
    step = float(space["step"]) if space.get("step") else None
    if kind == "int":
        step = int(step or 1)
        return str(rng.randrange(int(low), int(high) + 1, step))
    if step:
        return repr(low + step * rng.randrange(int((high - low) / step + 1e-9) + 1))
    if space.get("distribution") == "logUniform":
        return repr(math.exp(rng.uniform(math.log(low), math.log(high))))
    return repr(rng.uniform(low, high))


def run_spec(experiment: dict, trial_name: str, namespace: str,
             assignments: list[dict]) -> dict:
    """The trial's job, as Katib's manifest generator makes it (``applyParameters``)."""
    template = experiment["spec"]["trialTemplate"]
    text = json.dumps(template["trialSpec"])
    values = {a["name"]: a["value"] for a in assignments}
    spec = template["trialSpec"]
    meta = {"Name": trial_name, "Namespace": namespace, "Kind": spec.get("kind"),
            "APIVersion": spec.get("apiVersion")}
    for param in template.get("trialParameters") or []:
        reference = param["reference"]
        match = re.fullmatch(r"\$\{trialSpec\.(.+?)\}", reference)
        if match:
            key = match.group(1)
            indexed = re.fullmatch(r"(Labels|Annotations)\[(.+)]", key)
            if indexed:
                value = ((spec.get("metadata") or {}).get(indexed.group(1).lower()) or {})[
                    indexed.group(2)]
            else:
                value = meta[key]
        else:
            value = values[reference]
        text = text.replace("${trialParameters." + param["name"] + "}", str(value))
    job = json.loads(text)
    job.setdefault("metadata", {}).update(name=trial_name, namespace=namespace)
    return job


def collect(lines: list[str], names: list[str]) -> dict[str, list[float]]:
    """Each named metric's values in ``lines``, by the StdOut collector's default filter."""
    found: dict[str, list[float]] = {}
    for line in lines:
        for match in FILTER.finditer(line):
            name, text = match.group(1), match.group(2)
            if name in names and text:
                try:
                    found.setdefault(name, []).append(float(text))
                except ValueError:
                    continue
    return found


class KatibController:
    """The Experiment and Trial controllers of the emulated Katib."""

    def __init__(self, emu, seed: int | None = None):
        self.emu = emu
        self.rng = random.Random(seed)

    def reconcile(self) -> None:
        served = self.emu.served_types()
        if EXPERIMENT not in served or TRIAL not in served:
            return
        store = self.emu.store
        for trial in store.list(TRIAL)[0]:
            if not is_deleting(trial) and trial_state(trial) not in _FINAL:
                self._sync_trial(trial)
        for experiment in store.list(EXPERIMENT)[0]:
            if not is_deleting(experiment):
                self._sync_experiment(experiment)

    # -- Experiments ----------------------------------------------------------------------
    def _sync_experiment(self, exp: dict) -> None:
        store, meta, spec = self.emu.store, exp["metadata"], exp["spec"]
        ns = meta["namespace"]
        completed = condition_true(exp, "Succeeded") or condition_true(exp, "Failed")
        trials = [t for t in store.list(TRIAL, ns)[0]
                  if any(r.get("uid") == meta["uid"]
                         for r in t["metadata"].get("ownerReferences") or [])]
        if not completed:
            active = [t for t in trials if trial_state(t) not in _FINAL]
            wanted = min(int(spec.get("parallelTrialCount", 3)) - len(active),
                         int(spec.get("maxTrialCount", 10**6)) - len(trials))
            for _ in range(max(0, wanted)):
                trials.append(self._create_trial(exp))
        self._update_status(exp, trials, completed)

    def _create_trial(self, exp: dict) -> dict:
        meta, spec = exp["metadata"], exp["spec"]
        ns = meta["namespace"]
        name = f"{meta['name']}-" + "".join(self.rng.choice(_SUFFIX) for _ in range(8))
        assignments = [{"name": p["name"], "value": sample(p, self.rng)}
                       for p in spec.get("parameters") or []]
        template = spec["trialTemplate"]
        trial = {
            "apiVersion": TRIAL.api_version, "kind": "Trial",
            "metadata": {"name": name, "labels": {LABEL_EXPERIMENT: meta["name"]},
                         "ownerReferences": [owner_reference(exp)]},
            "spec": {
                "objective": spec["objective"], "parameterAssignments": assignments,
                "runSpec": run_spec(exp, name, ns, assignments),
                "metricsCollector": spec.get("metricsCollectorSpec") or {},
                "primaryContainerName": template.get("primaryContainerName"),
                "successCondition": template.get("successCondition"),
                "failureCondition": template.get("failureCondition"),
                "retainRun": bool(template.get("retain")),
                **({"primaryPodLabels": template["primaryPodLabels"]}
                   if template.get("primaryPodLabels") else {}),
            },
        }
        created = self.emu.store.create(TRIAL, ns, trial)
        record_event(self.emu.store, exp, "Normal", "TrialCreated", f"Trial {name} is created",
                     "experiment-controller")
        return created

    def _update_status(self, exp: dict, trials: list[dict], completed: bool) -> None:
        spec = exp["spec"]
        objective = spec["objective"]
        lists: dict[str, list[str]] = {s: [] for s in _FINAL + ("Running", "Pending")}
        best, best_value = None, None
        for trial in trials:
            lists[trial_state(trial)].append(trial["metadata"]["name"])
            value = _objective_value(trial)
            if value is None:
                continue
            better = (best_value is None or
                      (value < best_value if objective["type"] == "minimize"
                       else value > best_value))
            if better:
                best, best_value = trial, value
        failed = len(lists["Failed"]) + len(lists["MetricsUnavailable"])
        done = sum(len(lists[s]) for s in _FINAL)
        now = now_iso()
        max_failed, max_trials = spec.get("maxFailedTrialCount"), spec.get("maxTrialCount")

        def update(e: dict) -> None:
            status = e.setdefault("status", {})
            status.setdefault("startTime", now)
            status["lastReconcileTime"] = now
            keys = {"Succeeded": "succeededTrialList", "Failed": "failedTrialList",
                    "Killed": "killedTrialList", "EarlyStopped": "earlyStoppedTrialList",
                    "MetricsUnavailable": "metricsUnavailableTrialList",
                    "Running": "runningTrialList", "Pending": "pendingTrialList"}
            for state, key in keys.items():
                if lists[state]:
                    status[key] = lists[state]
                else:
                    status.pop(key, None)
            counts = {"trials": len(trials), "trialsSucceeded": len(lists["Succeeded"]),
                      "trialsFailed": len(lists["Failed"]), "trialsKilled": len(lists["Killed"]),
                      "trialsPending": len(lists["Pending"]),
                      "trialsRunning": len(lists["Running"]),
                      "trialsEarlyStopped": len(lists["EarlyStopped"]),
                      "trialMetricsUnavailable": len(lists["MetricsUnavailable"])}
            for key, count in counts.items():
                if count:
                    status[key] = count
                else:
                    status.pop(key, None)
            if best is not None:
                status["currentOptimalTrial"] = {
                    "bestTrialName": best["metadata"]["name"],
                    "parameterAssignments": best["spec"]["parameterAssignments"],
                    "observation": (best.get("status") or {}).get("observation") or {}}
            set_condition(status, "Created", "True", "ExperimentCreated", "Experiment is created")
            if completed:
                return
            if max_failed is not None and failed and failed >= max_failed:
                set_condition(status, "Running", "False", "ExperimentFailed",
                              "Experiment has failed because max failed count has reached")
                set_condition(status, "Failed", "True", "ExperimentFailed",
                              "Experiment has failed because max failed count has reached")
                status["completionTime"] = now
            elif max_trials is not None and done >= max_trials:
                set_condition(status, "Running", "False", "ExperimentMaxTrialsReached",
                              "Experiment has succeeded because max trial count has reached")
                set_condition(status, "Succeeded", "True", "ExperimentMaxTrialsReached",
                              "Experiment has succeeded because max trial count has reached")
                status["completionTime"] = now
            else:
                set_condition(status, "Running", "True", "ExperimentRunning",
                              "Experiment is running")
        self.emu.store.mutate(EXPERIMENT, exp["metadata"]["namespace"], exp["metadata"]["name"],
                              update)

    # -- Trials ---------------------------------------------------------------------------
    def _sync_trial(self, trial: dict) -> None:
        store, meta, spec = self.emu.store, trial["metadata"], trial["spec"]
        ns, name = meta["namespace"], meta["name"]
        run = spec["runSpec"]
        job_type = JOB_TYPES.get((run.get("apiVersion"), run.get("kind")))
        if job_type is None or job_type not in self.emu.served_types():
            self._set(trial, "Failed", "TrialFailed", f"the trial resource {run.get('kind')} "
                                                      "is not served")
            return
        job = store.find(job_type, ns, name)
        if job is None:
            job = json.loads(json.dumps(run))
            job["metadata"]["ownerReferences"] = [owner_reference(trial)]
            job["metadata"].setdefault("labels", {})[LABEL_TRIAL] = name
            for template in _pod_templates(job):
                template.setdefault("metadata", {}).setdefault("labels", {})[LABEL_TRIAL] = name
            store.create(job_type, ns, job)
            self._set(trial, "Created", "TrialCreated", "Trial is created")
            return
        if _holds(job, spec.get("failureCondition")):
            message = next((c.get("message") for c in (job.get("status") or {}).get("conditions")
                            or [] if c.get("type") == "Failed"), "")
            self._set(trial, "Failed", "TrialFailed", f"Trial has failed. Job message: {message}")
            return
        if _holds(job, spec.get("successCondition")):
            lines = self._primary_log(trial, job)
            if lines is None:
                return  # the log is still being written
            names = [spec["objective"]["objectiveMetricName"],
                     *(spec["objective"].get("additionalMetricNames") or [])]
            found = collect(lines, names)
            metrics = [{"name": n, "min": repr(min(v)), "max": repr(max(v)), "latest": repr(v[-1])}
                       for n, v in found.items()]
            metrics += [{"name": n, "min": "unavailable", "max": "unavailable",
                         "latest": "unavailable"} for n in names if n not in found]
            observation = {"metrics": metrics}
            if names[0] in found:
                self._set(trial, "Succeeded", "TrialSucceeded", "Trial has succeeded",
                          observation=observation)
            else:
                self._set(trial, "MetricsUnavailable", "TrialMetricsUnavailable",
                          "Metrics are not available", observation=observation)
            return
        if any((p.get("status") or {}).get("phase") == "Running" for p in self._pods(trial, job)):
            self._set(trial, "Running", "TrialRunning", "Trial is running")

    def _pods(self, trial: dict, job: dict) -> list[dict]:
        name = trial["metadata"]["name"]
        return [p for p in self.emu.store.list(POD, trial["metadata"]["namespace"])[0]
                if (p["metadata"].get("labels") or {}).get(LABEL_TRIAL) == name]

    def _primary_log(self, trial: dict, job: dict) -> list[str] | None:
        """The primary container's lines of the trial's primary pods (None while unfinished)."""
        spec = trial["spec"]
        container = spec.get("primaryContainerName")
        wanted = spec.get("primaryPodLabels") or {}
        lines: list[str] = []
        for pod in self._pods(trial, job):
            labels = pod["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in wanted.items()):
                continue
            for log in self.emu.logbook.attempts(pod["metadata"]["namespace"],
                                                 pod["metadata"]["name"], container,
                                                 pod["metadata"].get("uid", "")):
                if not log.closed:
                    return None
                lines += [line.decode("utf-8", "replace") for _, line in log.lines]
        return lines

    def _set(self, trial: dict, state: str, reason: str, message: str, *,
             observation: dict | None = None) -> None:
        now = now_iso()

        def update(t: dict) -> None:
            status = t.setdefault("status", {})
            status.setdefault("startTime", now)
            if state != "Created":
                set_condition(status, "Created", "True", "TrialCreated", "Trial is created")
            if state in _FINAL:
                set_condition(status, "Running", "False", reason, message)
                status["completionTime"] = now
            set_condition(status, state, "True", reason, message)
            if observation is not None:
                status["observation"] = observation
        self.emu.store.mutate(TRIAL, trial["metadata"]["namespace"], trial["metadata"]["name"],
                              update)


def _objective_value(trial: dict) -> float | None:
    objective = trial["spec"]["objective"]
    name = objective["objectiveMetricName"]
    strategy = next((s["value"] for s in objective.get("metricStrategies") or []
                     if s.get("name") == name), "latest")
    for metric in ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []:
        if metric.get("name") == name:
            for key in (strategy, "latest"):
                try:
                    return float(metric[key])
                except (KeyError, ValueError):
                    continue
    return None


def _holds(job: dict, condition: str | None) -> bool:
    """Katib's default GJSON conditions: a condition of that type with that status."""
    match = _CONDITION.fullmatch(condition or "")
    if not match:
        return False
    ctype, value = match.groups()
    return any(c.get("type") == ctype and c.get("status") == value
               for c in (job.get("status") or {}).get("conditions") or [])


def _pod_templates(job: dict) -> list[dict]:
    spec = job.get("spec") or {}
    if job.get("kind") == "Job":
        return [spec.get("template") or {}]
    for key in ("tfReplicaSpecs", "pytorchReplicaSpecs"):
        if key in spec:
            return [r.get("template") or {} for r in spec[key].values()]
    return []
