"""Schemathesis against the live OpenAPI schema: no server error, no response outside the schema."""

from __future__ import annotations

from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.services import deal_create
from tenancy.services import api_key_create
from tests.factories import CompanyFactory, default_stage
from vectoros.wsgi import application

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _crm_operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        if path.startswith(("/api/v1/embeddings", "/api/v1/ml", "/api/v1/forecasts", "/api/v1/alerts")):
            continue  # other apps test their own endpoints
        yield operation


def test_crm_api_conforms_to_its_schema(personas, transactional_db):
    ws = personas.workspace
    deal_create(workspace=ws, actor=None, title="Seed", stage=default_stage(ws), amount=Decimal(10))
    CompanyFactory(workspace=ws)
    _key, raw = api_key_create(workspace=ws, name="fuzz")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    failures: list[str] = []
    for operation in _crm_operations(schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {raw}"}, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
