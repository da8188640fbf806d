"""HubSpot: the client (sync/clients/hubspot.py) and the connection exist; pulling deals is not built yet.

A run on a HubSpot connection stops with a clear error instead of pretending to sync.
"""

from __future__ import annotations

from typing import Any

from sync.clients import CrmError
from sync.clients.hubspot import HubSpotClient
from sync.models import CrmConnection

PROPERTY = {
    "stage": "dealstage",
    "amount": "amount",
    "expected_close_date": "closedate",
    "next_step": "hs_next_step",
    "forecast_category": "hs_manual_forecast_category",
}
CATEGORY_TO_HUBSPOT = {
    "pipeline": "PIPELINE",
    "best_case": "BEST_CASE",
    "commit": "COMMIT",
    "omitted": "OMIT",
    "closed": "CLOSED",
}


def pull_hubspot(work: Any, client: HubSpotClient) -> None:
    raise CrmError("pulling from HubSpot is not built yet (issue 14): only Salesforce syncs")


def push_properties(connection: CrmConnection, fields: dict[str, Any]) -> dict[str, Any]:
    """Our pushed fields as HubSpot deal properties (a stage by its id in the pipelines API)."""
    stages: dict[str, str] = connection.state.get("stage_ids", {})
    properties: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "stage":
            value = stages.get(value, value)
        elif field == "forecast_category":
            value = CATEGORY_TO_HUBSPOT.get(value, value)
        properties[PROPERTY[field]] = "" if value is None else str(value)
    return properties
