"""HubSpot exports (placeholder until the format lands)."""

from __future__ import annotations

from crm.importers.reading import FileProblem


class HubSpotFormat:
    def __init__(self, **kwargs: object) -> None:
        raise FileProblem("the hubspot format is not available yet")
