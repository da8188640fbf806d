"""REST endpoints of the crm app (mounted by vectoros.api at /api/v1/ as `crm.api.router`).

Everything happens inside the API key's workspace: another workspace's id is a 404, the same as an
id that does not exist. Deal writes go through crm.services, so they leave history with source "api".
"""

from __future__ import annotations

from crm.api import activities, companies, contacts, deals, merge, reference  # noqa: F401  -- registers the endpoints
from crm.api.common import router

__all__ = ["router"]
