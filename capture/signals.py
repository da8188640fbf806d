"""Sentiment and intent cues of inbound mail, offline: VADER's compound score plus a keyword lexicon.

Plain module (no Django). The lexicon is deliberately small and explicit: each cue is a list of phrases matched on
word boundaries, case-insensitively, in the fresh part of the message (quoted replies removed by the caller).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

CUES: dict[str, tuple[str, ...]] = {
    "pricing": ("price", "pricing", "quote", "discount", "cost", "budget", "invoice", "per seat", "license fee"),
    "legal": ("contract", "msa", "nda", "legal", "redline", "terms and conditions", "dpa", "procurement"),
    "competitor": (
        "competitor",
        "alternative",
        "another vendor",
        "other vendor",
        "evaluating others",
        "salesforce",
        "hubspot",
        "clari",
        "gong",
    ),
    "timing": ("next quarter", "next year", "timeline", "deadline", "by end of", "go-live", "go live", "start date"),
    "not_now": (
        "not now",
        "not right now",
        "not a priority",
        "on hold",
        "circle back",
        "revisit",
        "pause",
        "no budget",
        "not interested",
        "put this on ice",
    ),
}
_PATTERNS = {
    cue: re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b", re.IGNORECASE)
    for cue, phrases in CUES.items()
}


SENTIMENTS = ("positive", "neutral", "negative")


@dataclass(frozen=True)
class Reading:
    """A reader's verdict on one inbound message (settings.CAPTURE_INTENT_READERS), stored beside the lexicon's."""

    sentiment: str  # one of SENTIMENTS
    cues: list[str]  # a subset of CUES' keys
    source: str  # who read it, shown on the deal ("Claude")


@dataclass(frozen=True)
class Signals:
    sentiment: float  # VADER compound, -1 (negative) .. 1 (positive)
    cues: list[str]

    @property
    def label(self) -> str:
        if self.sentiment >= 0.05:
            return "positive"
        if self.sentiment <= -0.05:
            return "negative"
        return "neutral"


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def read_signals(subject: str, text: str) -> Signals:
    body = f"{subject}\n{text}"[:5000]
    score = float(_analyzer().polarity_scores(body)["compound"])
    return Signals(sentiment=round(score, 4), cues=[cue for cue, rx in _PATTERNS.items() if rx.search(body)])
