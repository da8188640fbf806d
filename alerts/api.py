"""REST endpoints of the alerts app (mounted by vectoros.api)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["alerts"])
