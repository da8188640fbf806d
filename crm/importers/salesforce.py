"""Salesforce exports (placeholder until the format lands)."""

from __future__ import annotations

from crm.importers.reading import FileProblem


class SalesforceFormat:
    def __init__(self, **kwargs: object) -> None:
        raise FileProblem("the salesforce format is not available yet")
