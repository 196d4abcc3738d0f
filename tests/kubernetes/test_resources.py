from __future__ import annotations

from decimal import Decimal

import pytest

from fairing_magics.errors import ConfigError
from fairing_magics.kube.resources import (
    parse_quantity,
    render_resources,
    validate_count,
    validate_cpu,
    validate_gpus,
    validate_memory,
)


@pytest.mark.parametrize("text, value", [
    ("1", Decimal(1)), ("500m", Decimal("0.5")), ("0.5", Decimal("0.5")), ("2Gi", Decimal(2**31)),
    ("512Mi", Decimal(512 * 2**20)), ("2G", Decimal(2 * 10**9)), ("1e3", Decimal(1000)),
    ("1.5k", Decimal(1500)), (".5", Decimal("0.5")), ("100u", Decimal("0.0001")),
])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["2 Gi", "2GB", "Gi", "1.2.3", "1Kb", "0x10", ""])
def test_not_quantities(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("value, expected", [
    ("500m", "500m"), ("1", "1"), ("0.5", "0.5"), (2, "2"), (0.25, "0.25"), (None, ""), ("", ""),
])
def test_cpu(value, expected):
    assert validate_cpu(value) == expected


@pytest.mark.parametrize("value, message", [
    ("2 cores", "cpu '2 cores' is not a Kubernetes quantity; write it like 500m, 1 or 0.5"),
    ("1Gi", "looks like an amount of memory"),
    ("0", "must be more than 0"),
    ("-1", "must be more than 0"),
    ("0.0001", "less than one millicore"),
])
def test_bad_cpu(value, message):
    with pytest.raises(ConfigError, match=message):
        validate_cpu(value)


@pytest.mark.parametrize("value", ["2Gi", "512Mi", "2G", "1500M", str(2**20), "1.5Gi"])
def test_memory(value):
    assert validate_memory(value) == value


def test_memory_with_a_space_says_how_to_write_it():
    with pytest.raises(ConfigError) as info:
        validate_memory("2 Gi")
    assert str(info.value).startswith(
        "memory '2 Gi' is not a Kubernetes quantity; write it like 2Gi or 512Mi")


@pytest.mark.parametrize("value, message", [
    ("2GB", r"did you mean 2Gi\?"),
    ("512mb", r"did you mean 512Mi\?"),
    ("512m", "would mean 0.512 bytes"),
    ("1024", "only 1024 bytes"),
    ("lots", "not a Kubernetes quantity"),
])
def test_bad_memory(value, message):
    with pytest.raises(ConfigError, match=message):
        validate_memory(value)


@pytest.mark.parametrize("value, expected", [(0, 0), ("1", 1), (8, 8), (None, 0), ("", 0)])
def test_gpus(value, expected):
    assert validate_gpus(value) == expected


@pytest.mark.parametrize("value", [-1, "-1", "1.5", 1.5, "one"])
def test_bad_gpus(value):
    with pytest.raises(ConfigError, match=f"gpus '{value}' must be a whole number, 0 or more"):
        validate_gpus(value)


def test_counts():
    assert validate_count("3", what="workers") == 3
    with pytest.raises(ConfigError, match="workers '0' must be a whole number, 1 or more"):
        validate_count(0, what="workers")
    assert validate_count(0, what="workers", minimum=0) == 0


def test_render_resources():
    assert render_resources() == {}
    assert render_resources(cpu="1") == {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}
    assert render_resources(gpus=2) == {"limits": {"nvidia.com/gpu": "2"}}
    assert render_resources("250m", "1Gi", 1) == {
        "requests": {"cpu": "250m", "memory": "1Gi"},
        "limits": {"cpu": "250m", "memory": "1Gi", "nvidia.com/gpu": "1"},
    }
