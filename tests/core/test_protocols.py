"""Every backend answers the Backend protocol and every deployer the Deployer protocol, with the
same parameters: the pipeline, the run lookups and the magics call them without asking which
one they hold, so a missing or differently shaped method would only fail on that backend."""

from __future__ import annotations

import inspect

import pytest

from fairing_magics.backends import Backend, get_backend
from fairing_magics.config import BACKENDS
from fairing_magics.deploy import DEPLOY_BACKENDS, Deployer, get_deployer
from fairing_magics.train_request import GROUPS


def members(protocol) -> tuple[set[str], dict[str, inspect.Signature]]:
    attributes = set(protocol.__annotations__)
    methods = {name: inspect.signature(value) for name, value in vars(protocol).items()
               if inspect.isfunction(value) and not name.startswith("_")}
    return attributes, methods


def shape(signature: inspect.Signature) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in signature.parameters.values()
            if p.name != "self" and p.kind is not p.VAR_KEYWORD]


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_answers_the_protocol(name):
    backend = get_backend(name)
    attributes, methods = members(Backend)
    assert attributes <= set(dir(backend))
    assert backend.name == name and backend.stages[0] == "capture"
    assert "run" in backend.flag_groups and set(backend.flag_groups) <= set(GROUPS)
    assert backend.interrupt in ("cancel", "detach")
    for method, signature in methods.items():
        assert shape(inspect.signature(getattr(backend, method))) == shape(signature), method


@pytest.mark.parametrize("name", DEPLOY_BACKENDS)
def test_every_deployer_answers_the_protocol(name):
    deployer = get_deployer(name)
    attributes, methods = members(Deployer)
    assert attributes <= set(dir(deployer))
    assert deployer.name == name and deployer.stages[0] == "package"
    for method, signature in methods.items():
        own, declared = shape(inspect.signature(getattr(deployer, method))), shape(signature)
        assert own[:len(declared)] == declared, method  # the cluster flags may follow, by name
