"""Objects as the YAML a user reads: what ``--dry-run`` prints is exactly what would be sent."""

from __future__ import annotations

import yaml

_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")


def to_yaml(spec_or_list: dict | list[dict]) -> str:
    """YAML for ``--dry-run``: one document, or several separated by ``---``.

    Keys keep the order the render functions give them (``apiVersion``, ``kind``, ``metadata``,
    ``spec`` first), which reads like the manifests in Kubernetes' own docs.
    """
    docs = [spec_or_list] if isinstance(spec_or_list, dict) else list(spec_or_list)
    ordered = [_ordered(doc) for doc in docs]
    return yaml.safe_dump_all(ordered, sort_keys=False, default_flow_style=False, width=100,
                              allow_unicode=True, explicit_start=len(ordered) > 1)


def _ordered(doc: dict) -> dict:
    return {**{k: doc[k] for k in _TOP_KEYS if k in doc},
            **{k: v for k, v in doc.items() if k not in _TOP_KEYS}}
