"""A startup check: the embedding model's package and files are there (cheap; the model loads lazily)."""

from __future__ import annotations

from django.core.checks import Error, register

from similarity.embedding import EmbeddingModelUnavailable, model_path


@register()
def embedding_model_installed(app_configs: object = None, **kwargs: object) -> list[Error]:
    try:
        model_path()
    except EmbeddingModelUnavailable as exc:
        return [Error(str(exc), id="similarity.E001")]
    return []
