"""Schemathesis against the live OpenAPI schema: no server error, no response outside the schema."""

from __future__ import annotations

import json
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


_FILLER = {"title": "Probe", "name": "Probe", "last_name": "Probe", "subject": "Probe", "kind": "call", "body": "Probe"}


def _is_uuid(prop: dict) -> bool:
    options = prop.get("anyOf", [prop])
    return any(o.get("format") == "uuid" or o.get("items", {}).get("format") == "uuid" for o in options)


def _is_list(prop: dict) -> bool:
    return any(o.get("type") == "array" for o in prop.get("anyOf", [prop]))


def _bodies(schema: dict, operation: dict, ours: dict) -> list[tuple[str, dict]]:
    """One body per id-typed field of the request schema, that field holding an id of workspace A."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    component = schema["components"]["schemas"][content["schema"]["$ref"].rsplit("/", 1)[-1]]
    props = component.get("properties", {})
    base = {k: v for k, v in _FILLER.items() if k in component.get("required", [])}
    bodies = []
    for name, prop in props.items():
        if _is_uuid(prop):
            kind = name.removesuffix("_ids").removesuffix("_id").removesuffix("s")
            value = str(ours.get(kind, ours["company"]))
            bodies.append((name, {**base, name: [value] if _is_list(prop) else value}))
    return bodies


def test_another_workspace_key_reaches_no_id_of_ours(personas):
    """Every operation in the schema, with workspace B's key and workspace A's ids in path, query and body."""
    from django.test import Client

    from crm.services import activity_log
    from tests.factories import ContactFactory

    ws = personas.workspace
    deal = deal_create(workspace=ws, actor=None, title="Ours", stage=default_stage(ws), amount=Decimal(10))
    company = CompanyFactory(workspace=ws)
    contact = ContactFactory(workspace=ws, company=company)
    activity = activity_log(workspace=ws, actor=personas.rep, kind="call", subject="Ours", deal=deal)
    ours = {
        "deal": deal.uuid,
        "company": company.uuid,
        "parent": company.uuid,
        "contact": contact.uuid,
        "activity": activity.uuid,
        "stage": deal.stage.uuid,
        "pipeline": deal.pipeline.uuid,
        "owner": personas.rep.uuid,
        "rep": personas.rep.uuid,
        "team": personas.manager.team.uuid,
    }
    _key, raw = api_key_create(workspace=personas.other_workspace, name="b")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    schema = client.get("/api/v1/openapi.json").json()
    probes = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            kinds = {p["name"]: p["name"].removesuffix("_id") for p in params if p["in"] == "path"}
            if any(kind not in ours for kind in kinds.values()):
                continue  # an id of another app's own objects
            url = path
            for name, kind in kinds.items():
                url = url.replace("{" + name + "}", str(ours[kind]))
            query = "&".join(
                f"{p['name']}={ours[p['name']]}" for p in params if p["in"] == "query" and p["name"] in ours
            )
            target = url + (f"?{query}" if query else "")
            for field, body in _bodies(schema, operation, ours) or [("", {})]:
                response = client.generic(method.upper(), target, json.dumps(body), content_type="application/json")
                probes += 1
                where = f"{method.upper()} {target} {field}"
                if url != path:
                    assert response.status_code == 404, f"{where}: {response.status_code}"
                if field:
                    assert response.status_code >= 400, f"{where} accepted workspace A's {field}"
                if response.status_code < 300:
                    text = response.content.decode()
                    assert not any(str(v) in text for v in ours.values()), f"{where} shows an id of workspace A"
    assert probes >= 25
