"""REST endpoints of the crm app (mounted by vectoros.api)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["crm"])
