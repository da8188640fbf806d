"""The scoring loader reads what the database holds: every deal's stored embedding, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.loader import load_raw
from similarity.models import DIMENSIONS, DealEmbedding
from tests.factories import make_deal

pytestmark = pytest.mark.django_db


def test_load_raw_reads_each_deals_stored_embedding(personas):
    ws = personas.workspace
    deals = [make_deal(ws, title=f"Deal {i}") for i in range(3)]
    stored = {}
    for i, deal in enumerate(deals[:2]):
        vector = np.random.default_rng(i).normal(size=DIMENSIONS).astype(np.float32)
        vector /= np.linalg.norm(vector)
        DealEmbedding.objects.create(deal=deal, workspace=ws, embedding=vector, text_hash="x", model_name="test")
        stored[deal.id] = vector

    raw = load_raw(ws.id)

    assert raw.embeddings is not None and raw.has_embedding is not None
    assert raw.embeddings.dtype == np.float32 and raw.embeddings.shape == (3, DIMENSIONS)
    for deal in deals[:2]:
        assert np.array_equal(raw.embeddings[raw.index[deal.id]], stored[deal.id])
    assert raw.has_embedding.tolist() == [True, True, False]
    assert not raw.embeddings[raw.index[deals[2].id]].any()


@pytest.mark.parametrize(
    "text",
    ['null', '12', '"Negotiation"', '"2026-01-31"', '"12500.00"', '12.5', '-3', '""', '"say \\"hi\\""', '"caf\\u00e9"',
     '{"a": 1}', '[1, 2]', 'true'],
)  # fmt: skip
def test_history_values_read_as_json_reads_them(text):
    import json

    from scoring.loader import _json

    assert _json(text) == json.loads(text) and type(_json(text)) is type(json.loads(text))
