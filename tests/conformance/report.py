"""Checking one object against every schema release of its kind, with messages naming kind,
schema version and JSON path; and the coverage table of the suite (``python3 -m
tests.conformance.report`` prints it)."""

from __future__ import annotations

from collections import defaultdict

from tests.harness.kube.apischema import kind_schemas

#: Katib's CRDs keep every field: an Experiment is checked by Katib's webhook rules instead of a
#: schema (tests/harness/kube/katib.py, replaying validator.go after Katib's defaults).
KATIB_WEBHOOK = "Katib webhook (validator.go)"


def _katib_problems(obj: dict) -> list[str]:
    import copy

    from tests.harness.kube.katib import experiment_causes, set_defaults

    defaulted = copy.deepcopy(obj)
    set_defaults(defaulted)
    return [f"{path}: {message}" for path, message in experiment_causes(defaulted)]


def check(variant) -> list[str]:
    """Every problem of ``variant``'s object under each release it is meant for:
    ``TrainJob (Kubeflow Trainer v2.0.1) spec.x: unknown field, dropped by the API server``."""
    obj = variant.object
    if obj["kind"] == "Experiment":
        return [f"Experiment ({KATIB_WEBHOOK}) {line}  [{variant.label}]"
                for line in _katib_problems(obj)]
    problems = []
    for schema in kind_schemas(obj["apiVersion"], obj["kind"]):
        if variant.for_release and schema.file.release != variant.for_release:
            continue
        admission = schema.admit(obj)
        problems += [f"{obj['kind']} ({schema.title}) {line}  [{variant.label}]"
                     for line in admission.problems()]
    return problems


def coverage(variants) -> dict[str, dict[str, int]]:
    """kind -> schema title -> how many variants were checked against it."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in variants:
        if v.kind == "Experiment":
            table[v.kind][KATIB_WEBHOOK] += 1
            continue
        for schema in kind_schemas(v.object["apiVersion"], v.object["kind"]):
            if not v.for_release or schema.file.release == v.for_release:
                table[v.kind][schema.title] += 1
    return table


def markdown(variants) -> str:
    rows = ["| object | schema versions (variants checked) |", "|---|---|"]
    for kind, by_schema in coverage(variants).items():
        rows.append(f"| {kind} | " + ", ".join(f"{t} ({n})" for t, n in by_schema.items()) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    from tests.conformance.variants import every_object

    print(markdown(every_object()))
