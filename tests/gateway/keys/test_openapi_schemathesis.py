"""Schemathesis against the live management API: cases generated from the gateway's own
/api/openapi.json (valid and invalid bodies, parameters, missing auth) must never get a 5xx and
every response must match the document (status, content type, schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from keys_fixtures import admin_headers, gateway_in_thread
from schemathesis import BaseSchema, GenerationMode
from schemathesis.config import ChecksConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gateway_in_thread(tmp_path_factory.mktemp("schemathesis")) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(live_api: str) -> BaseSchema:
    schema = schemathesis.openapi.from_url(
        live_api + "/api/openapi.json", headers=admin_headers(), timeout=10
    )
    schema.config.update(base_url=live_api, headers=admin_headers())
    # A negative case can be longer than the server's URI or header limits (a string far past a
    # maxLength): the HTTP parser refuses it with the 414 or 431 the document declares for every
    # operation (gateway.http_limits). That is a rejection too.
    rejections = ChecksConfig().negative_data_rejection.expected_statuses
    schema.config.checks = ChecksConfig.from_dict(
        {"negative_data_rejection": {"expected-statuses": [*rejections, "414", "431"]}}
    )
    return schema


def _operations(api_schema: BaseSchema) -> list[APIOperation]:
    return [result.ok() for result in api_schema.get_all_operations() if isinstance(result, Ok)]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_management_api_conforms_to_its_document(
    api_schema: BaseSchema, mode: GenerationMode
) -> None:
    """Each operation gets its own Hypothesis run through schemathesis's public strategy API,
    not its pytest plugin: the plugin's fixture mode rewrites a private pytest attribute
    (`Function._nodeid`) that pytest 9.2 removed, so it broke on a pytest upgrade."""
    failures: dict[str, str] = {}
    exercised: list[str] = []
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=admin_headers(), timeout=10)

        try:
            conforms()
        except Unsatisfiable:
            # no parameters and no body: there is no invalid request to make (the plugin skips
            # these too); a positive run must never be unsatisfiable
            if mode is GenerationMode.POSITIVE:
                raise
            continue
        except (Exception, FailureGroup) as failure:  # every operation's, not only the first
            failures[operation.label] = f"{type(failure).__name__}: {failure}"
        exercised.append(operation.label)
    assert sum("/api/enterprise/vkeys" in label for label in exercised) >= 7, exercised
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_the_document_loads_and_names_every_key_operation(api_schema: BaseSchema) -> None:
    operations = {operation.label for operation in _operations(api_schema)}
    assert operations >= {
        "POST /api/enterprise/vkeys",
        "GET /api/enterprise/vkeys",
        "GET /api/enterprise/vkeys/{key_id}",
        "PATCH /api/enterprise/vkeys/{key_id}",
        "POST /api/enterprise/vkeys/{key_id}/revoke",
        "POST /api/enterprise/vkeys/{key_id}/rotate",
        "GET /api/enterprise/vkeys/{key_id}/budget",
    }
    assert "/api/openapi.json" in api_schema.raw_schema["paths"]  # not fuzzed: it is the source


def test_key_lifecycles_conform_to_the_document(api_schema: BaseSchema) -> None:
    """Stateful: the document's links (create -> show, update, rotate, revoke, budget) drive
    sequences on real keys, so the {key_id} routes answer with records, not only 404s."""
    machine = api_schema.as_state_machine()
    answered: set[tuple[str, int]] = set()

    class KeyLifecycles(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, object]:
            return {"headers": admin_headers(), "timeout": 10}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)
            answered.add((case.operation.label, response.status_code))

    KeyLifecycles.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    on_real_keys = {label for label, status in answered if status == 200 and "{key_id}" in label}
    assert len(on_real_keys) >= 3, sorted(answered)
