"""Names and label values that Kubernetes accepts.

A run's object name is ``<name>-<suffix>``: the user's ``--name`` and a short random suffix, so
two runs of one cell never collide and ``%fairing_jobs`` still shows what each one was.

Why the limits are lower than 63:

- Kubernetes object names of Jobs, Services and pods are DNS labels (RFC 1123: lowercase letters,
  digits and ``-``, starting and ending with a letter or digit, at most 63 characters).
- The controllers derive further names from ours: the Job controller labels pods
  ``job-name: <name>`` (a label value, at most 63) and names them ``<name>-<5 chars>``; the
  Kubeflow training operator names pods *and headless Services* ``<name>-worker-<index>``, and a
  Service name must be an RFC 1035 label (at most 63, starting with a letter); KServe appends
  ``-predictor`` and more. So a run name stays within :data:`MAX_RUN_NAME` (50) characters, and
  the user's part within :data:`MAX_BASE_NAME`, which leaves room for our suffix.
- We require a leading letter (RFC 1035) because Services are named after runs.
"""

from __future__ import annotations

import re
import secrets
import string

from fairing_magics.errors import ConfigError

#: Longest object name we create: room for ``-worker-NNNN`` and KServe's ``-predictor`` within 63.
MAX_RUN_NAME = 50
#: Length of the random suffix (without its dash).
SUFFIX_LENGTH = 6
#: Longest ``--name`` a user may give: the run name adds ``-`` and the suffix.
MAX_BASE_NAME = MAX_RUN_NAME - SUFFIX_LENGTH - 1
#: Longest label value (Kubernetes: at most 63 characters).
MAX_LABEL_VALUE = 63

_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def validate_name(name: str, *, what: str = "--name", max_length: int = MAX_BASE_NAME) -> str:
    """Return ``name`` if Kubernetes accepts it as the base of a run name, else raise ConfigError.

    Allowed: lowercase letters, digits and ``-``, starting with a letter, ending with a letter or
    digit, at most ``max_length`` characters. The message proposes a name that would pass.

    >>> validate_name("train-linreg")
    'train-linreg'
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what} is empty: give a name such as 'train' (lowercase letters, "
                          "digits and '-')")
    if _NAME.match(name) and len(name) <= max_length:
        return name
    suggestion = sanitize_name(name, max_length=max_length)
    problem = (f"is {len(name)} characters long" if _NAME.match(name)
               else "is not a valid Kubernetes name")
    raise ConfigError(
        f"{what} '{name}' {problem}: use lowercase letters, digits and '-', starting with a "
        f"letter and ending with a letter or digit, at most {max_length} characters "
        f"(for example '{suggestion}')")


def sanitize_name(text: str, *, max_length: int = MAX_BASE_NAME, fallback: str = "run") -> str:
    """Turn any text into a valid name: lowercase, other characters become ``-``, trimmed.

    >>> sanitize_name("Bad_Name!")
    'bad-name'
    """
    name = re.sub(r"[^a-z0-9-]+", "-", str(text).lower())
    name = re.sub(r"-{2,}", "-", name)
    name = name.lstrip("-0123456789")[:max_length].rstrip("-")
    return name or fallback[:max_length]


def unique_name(base: str, *, suffix: str | None = None, max_length: int = MAX_RUN_NAME) -> str:
    """Return ``<base>-<suffix>``, a fresh object name for one run of ``base``.

    ``base`` is validated (see :func:`validate_name`) and shortened when needed, so the result
    always fits ``max_length``. ``suffix`` defaults to 6 random lowercase letters and digits
    (36**6, about two billion, choices), as Kubernetes' own ``generateName`` does.
    """
    if suffix is None:
        suffix = random_suffix()
    if not re.fullmatch(r"[a-z0-9]+", suffix):
        raise ConfigError(f"name suffix '{suffix}' must be lowercase letters and digits")
    validate_name(base, max_length=max_length)
    room = max_length - len(suffix) - 1
    if room < 1:
        raise ConfigError(f"name suffix '{suffix}' leaves no room for a name in {max_length} "
                          "characters")
    return f"{base[:room].rstrip('-')}-{suffix}"


def random_suffix(length: int = SUFFIX_LENGTH) -> str:
    """A random string of lowercase letters and digits (not a secret, just unlikely to repeat)."""
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def label_value(text: str) -> str:
    """Make ``text`` a valid label value: at most 63 of ``[A-Za-z0-9-_.]``, alphanumeric ends.

    Label values are for selecting; keep the exact text (a full digest, a user's title) in an
    annotation beside it.

    >>> label_value("sha256:" + "ab" * 32)
    'sha256.abababababababababababababababababababababababababababab'
    """
    value = re.sub(r"[^A-Za-z0-9_.-]+", ".", str(text))[:MAX_LABEL_VALUE]
    value = value.strip("-_.")
    return value


def is_label_value(text: str) -> bool:
    """True when Kubernetes accepts ``text`` as a label value."""
    return len(text) <= MAX_LABEL_VALUE and bool(_LABEL_VALUE.match(text))
