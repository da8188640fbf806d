"""The text of a deal that gets embedded: what a rep would read to judge whether two deals are alike.

A plain module (no Django): the services load the rows and hand them over as `DealText` values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# The model reads at most 256 word pieces (~1,000 characters of English); anything past a few
# thousand characters is thrown away by its tokenizer anyway, so we do not ship it to the tokenizer.
MAX_CHARS = 4000
LATEST_ACTIVITIES = 5
ACTIVITY_BODY_CHARS = 240
DESCRIPTION_CHARS = 1500


@dataclass(frozen=True)
class DealText:
    title: str
    description: str = ""
    company: str = ""
    industry: str = ""
    product: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)
    stage: str = ""
    lost_reason: str = ""
    # (subject, body) of the latest activities, newest first.
    activities: Sequence[tuple[str, str]] = ()


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _attribute_lines(attributes: Mapping[str, object]) -> list[str]:
    parts = []
    for key in sorted(attributes):
        value = attributes[key]
        if key == "product" or value in (None, "", [], {}) or isinstance(value, dict | list):
            continue
        parts.append(f"{_clean(key).replace('_', ' ')}: {_clean(value)}")
    return parts


def build_text(deal: DealText) -> str:
    """One paragraph: title first (so an otherwise empty deal still embeds by its title), then the rest."""
    lines = [_clean(deal.title) or "Untitled deal"]
    description = _clean(deal.description)[:DESCRIPTION_CHARS]
    if description:
        lines.append(description)
    company = _clean(deal.company)
    if company:
        industry = _clean(deal.industry)
        lines.append(f"Company: {company}" + (f" ({industry})" if industry else ""))
    product = _clean(deal.product or deal.attributes.get("product") or "")
    if product:
        lines.append(f"Product: {product}")
    attrs = _attribute_lines(deal.attributes)
    if attrs:
        lines.append("; ".join(attrs))
    if deal.stage:
        lines.append(f"Stage: {_clean(deal.stage)}")
    if deal.lost_reason:
        lines.append(f"Lost reason: {_clean(deal.lost_reason)}")
    for subject, body in list(deal.activities)[:LATEST_ACTIVITIES]:
        body = _clean(body)[:ACTIVITY_BODY_CHARS]
        lines.append(f"{_clean(subject)}: {body}" if body else _clean(subject))
    return "\n".join(line for line in lines if line)[:MAX_CHARS]


def text_hash(text: str, model_name: str) -> str:
    """The idempotency key of an embedding: same text, same model → same vector, nothing to do."""
    return hashlib.sha256(f"{model_name}\n{text}".encode()).hexdigest()
