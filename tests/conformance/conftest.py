"""The conformance suite needs the upstream schemas beside the repository
(``shared/conformance-schemas``); in CI their absence fails every test that needs them."""

from __future__ import annotations

import pytest

from tests.harness import need


@pytest.fixture(scope="session", autouse=True)
def upstream_schemas():
    from tests.harness.kube.schemas import SchemasMissing, schema_folder

    try:
        folder = schema_folder()
    except SchemasMissing as exc:
        need(False, str(exc))
    return folder
