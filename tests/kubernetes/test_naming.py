from __future__ import annotations

import re

import pytest

from fairing_magics.errors import ConfigError
from fairing_magics.kube.naming import (
    MAX_BASE_NAME,
    MAX_RUN_NAME,
    is_label_value,
    label_value,
    sanitize_name,
    unique_name,
    validate_name,
)

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("name", ["train", "a", "mnist-v2", "x" * MAX_BASE_NAME])
def test_valid_names(name):
    assert validate_name(name) == name


def test_bad_name_says_what_is_allowed():
    with pytest.raises(ConfigError) as info:
        validate_name("Bad_Name!")
    message = str(info.value)
    assert "'Bad_Name!'" in message
    assert "lowercase letters, digits and '-'" in message
    assert "starting with a letter" in message
    assert f"at most {MAX_BASE_NAME} characters" in message
    assert "for example 'bad-name'" in message


@pytest.mark.parametrize("name", ["", "-x", "x-", "1abc", "UPPER", "a.b", "a_b",
                                  "x" * (MAX_BASE_NAME + 1)])
def test_invalid_names(name):
    with pytest.raises(ConfigError):
        validate_name(name)


def test_too_long_name_says_its_length():
    with pytest.raises(ConfigError, match=f"is {MAX_BASE_NAME + 1} characters long"):
        validate_name("x" * (MAX_BASE_NAME + 1))


@pytest.mark.parametrize("text, expected", [
    ("Bad_Name!", "bad-name"), ("My Model (v2)", "my-model-v2"), ("42-answers", "answers"),
    ("___", "run"), ("a" * 100, "a" * MAX_BASE_NAME),
])
def test_sanitize_name(text, expected):
    assert sanitize_name(text) == expected
    assert RFC1035.match(sanitize_name(text))


def test_unique_names_differ_per_run_and_fit():
    names = {unique_name("train") for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert re.fullmatch(r"train-[a-z0-9]{6}", name)
    longest = unique_name("x" * MAX_BASE_NAME)
    assert len(longest) == MAX_RUN_NAME and RFC1035.match(longest)
    # Room for the operators' pod and Service names: <name>-worker-<index> within 63.
    assert len(f"{longest}-worker-1000") <= 63


def test_unique_name_with_given_suffix_and_trimming():
    assert unique_name("train", suffix="abc123") == "train-abc123"
    assert unique_name("ab-cd", suffix="z", max_length=5) == "ab-z"
    with pytest.raises(ConfigError):
        unique_name("train", suffix="UP")
    with pytest.raises(ConfigError):
        unique_name("Bad_Name!")


def test_label_values():
    digest = "sha256:" + "0123456789abcdef" * 4
    value = label_value(digest)
    assert is_label_value(value) and len(value) == 63
    assert label_value("-hello world-") == "hello.world"
    assert label_value("") == "" and is_label_value("")
    assert not is_label_value("a" * 64)
    assert not is_label_value("-a")
