"""Kubernetes resource quantities ("500m", "2Gi", "1e3") as numbers."""

from __future__ import annotations

_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "P": 1e15, "E": 1e18}


def parse_quantity(value: object) -> float:
    """The number a quantity stands for: cores for CPU, bytes for memory."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)


def pod_requests(spec: dict) -> dict[str, float]:
    """Summed requests of a pod's containers (limits stand in for missing requests)."""
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        wanted = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for name, q in wanted.items():
            total[name] = total.get(name, 0.0) + parse_quantity(q)
    return total
