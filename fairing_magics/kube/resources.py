"""Container resources: ``--cpu``, ``--memory`` and ``--gpus`` checked and turned into a spec.

Kubernetes writes amounts as *quantities*: a number and an optional suffix, with no space.
Memory takes binary suffixes (``Ki Mi Gi Ti Pi Ei``: ``512Mi``, ``2Gi``) or decimal ones
(``k M G T P E``: ``2G`` is 2*10**9 bytes); CPU counts cores (``1``, ``0.5``) or millicores
(``500m``). We check them here, before anything is built, because the API server's own answer
comes late and reads like ``quantities must match the regular expression ...``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from fairing_magics.errors import ConfigError

#: The extended resource name the NVIDIA device plugin registers.
GPU_RESOURCE = "nvidia.com/gpu"

# The Kubernetes quantity grammar (k8s.io/apimachinery/pkg/api/resource/quantity.go):
# a signed decimal number, then a binary SI suffix, a decimal SI suffix or a decimal exponent.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}

_MEBIBYTE = Decimal(2**20)


def parse_quantity(text: str | int | float) -> Decimal:
    """Return the value of a Kubernetes quantity in base units (bytes, cores), or raise ValueError.

    >>> parse_quantity("512Mi")
    Decimal('536870912')
    >>> parse_quantity("500m")
    Decimal('0.500')
    """
    match = _QUANTITY.match(_quantity_text(text))
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    try:
        return number.scaleb(int(suffix[1:]))
    except (InvalidOperation, ValueError) as e:  # pragma: no cover - the regex admits only ints
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from e


def validate_cpu(value: str | int | float | None) -> str:
    """Return ``--cpu`` as a quantity string (``""`` for none), or raise ConfigError.

    Accepts cores (``1``, ``0.5``, ``2``) and millicores (``500m``).
    """
    if value is None or value == "":
        return ""
    text = _quantity_text(value)
    hint = "write it like 500m, 1 or 0.5 (cores)"
    match = _QUANTITY.match(text)
    if not match:
        raise ConfigError(f"cpu '{value}' is not a Kubernetes quantity; {hint}")
    if (match["suffix"] or "") in _BINARY or (match["suffix"] or "") in ("k", "M", "G", "T", "P",
                                                                         "E"):
        raise ConfigError(f"cpu '{value}' looks like an amount of memory; cpu counts cores: {hint}")
    amount = parse_quantity(text)
    if amount <= 0:
        raise ConfigError(f"cpu '{value}' must be more than 0; {hint}")
    if amount < Decimal("0.001"):
        raise ConfigError(f"cpu '{value}' is less than one millicore (1m); {hint}")
    return text


def validate_memory(value: str | int | None) -> str:
    """Return ``--memory`` as a quantity string (``""`` for none), or raise ConfigError.

    Accepts ``512Mi``, ``2Gi``, ``2G`` (decimal), or a plain number of bytes of at least 1Mi.
    Refuses the classic slips: a space (``2 Gi``), ``GB``/``gb`` and ``m`` (which is *milli*bytes).
    """
    if value is None or value == "":
        return ""
    text = _quantity_text(value)
    hint = "write it like 2Gi or 512Mi"
    match = _QUANTITY.match(text)
    if not match:
        slip = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgGtTpPeE])[iI]?[bB]?\s*", text)
        if slip:
            number, letter = slip.groups()
            hint += f" (did you mean {number}{letter.upper()}i?)"
        raise ConfigError(f"memory '{value}' is not a Kubernetes quantity; {hint}")
    suffix = match["suffix"] or ""
    if suffix in ("m", "u", "n"):
        raise ConfigError(f"memory '{value}' would mean {parse_quantity(text)} bytes "
                          f"('{suffix}' is a fraction); did you mean {match['number']}Mi? {hint}")
    amount = parse_quantity(text)
    if amount < _MEBIBYTE:
        raise ConfigError(f"memory '{value}' is only {amount} bytes, too little to start a "
                          f"container; {hint}")
    return text


def validate_gpus(value: str | int | None) -> int:
    """Return ``--gpus`` as a whole number, 0 or more, or raise ConfigError."""
    if value is None or value == "":
        return 0
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or number < 0 or isinstance(value, float) and value != number:
        raise ConfigError(f"gpus '{value}' must be a whole number, 0 or more (GPUs are not "
                          "shared between pods); for example --gpus 1")
    return number


def validate_count(value: str | int, *, what: str, minimum: int = 1) -> int:
    """Return a replica count (``--workers``, ``--replicas``) as an int, or raise ConfigError."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or number < minimum or isinstance(value, float) and value != number:
        raise ConfigError(f"{what} '{value}' must be a whole number, {minimum} or more")
    return number


def render_resources(cpu: str = "", memory: str = "", gpus: int = 0) -> dict:
    """The ``resources`` of a container: requests and limits for what was asked, else ``{}``.

    CPU and memory are requested and limited alike (the pod gets the Guaranteed QoS class for
    them, and a run that outgrows its memory is OOMKilled and says so, instead of being evicted
    later). GPUs are an extended resource: Kubernetes wants them in ``limits`` (requests default to
    the limit and may not differ), so they go only there.
    """
    cpu, memory, gpus = validate_cpu(cpu), validate_memory(memory), validate_gpus(gpus)
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if cpu:
        requests["cpu"] = limits["cpu"] = cpu
    if memory:
        requests["memory"] = limits["memory"] = memory
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)
    resources: dict[str, dict[str, str]] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _quantity_text(value: str | int | float) -> str:
    if isinstance(value, bool):
        raise ConfigError(f"'{value}' is not an amount")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)
