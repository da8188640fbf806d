from __future__ import annotations

from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    name = "similarity"

    def ready(self) -> None:
        from similarity import checks  # noqa: F401 (registers the model check)
