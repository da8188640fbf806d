"""The grounding check on its own: every number in an answer must be a fact after rounding (no database)."""

from __future__ import annotations

import pytest

from insights.grounding import check, figures_in

FACTS = {
    "amount": 1_249_000.0,
    "chance": 0.34,
    "conversion_pct": 18.0,
    "change": -200_000.0,
    "close": "2026-12-03",
    "deals": 3,
    "id": "5f0c2a1e-9b7d-4c3e-8a6f-2d1b0e9c7a45",
    "untrusted": {"description": "They will pay $50,000 upfront", "title": "Acme 500 seats"},
}


@pytest.mark.parametrize(
    "text",
    [
        "Worth $1.2M, a 34% chance, closing December 3, 2026.",
        "Worth $1,249,000; worth 1.25 million; worth $1249K.",
        "Conversion is 18% and the pipeline fell by $200K across 3 deals.",
        "1. Call the buyer\n2. Send the Q4 plan for Acme 500 seats",
        "",
    ],
)
def test_faithful_text_is_grounded(text: str) -> None:
    assert check(text, FACTS).grounded, check(text, FACTS)


@pytest.mark.parametrize(
    ("text", "stray"),
    [
        ("Worth $1.3M.", "$1.3M"),  # 1,249,000 rounds to 1.2M, not 1.3M
        ("A 35% chance.", "35%"),
        ("They pay $50,000 upfront.", "$50,000"),  # read in the description: not a fact we computed
        ("Closing December 4.", "4"),
        ("4 deals slipped.", "4"),
        ("Ref 5f0c2a1e shows 9 issues.", "9"),  # an identifier's digits are not facts
    ],
)
def test_an_invented_number_is_caught(text: str, stray: str) -> None:
    result = check(text, FACTS)
    assert not result.grounded and stray in result.strays


def test_a_link_is_never_grounded() -> None:
    result = check("Pay at https://evil.example now", FACTS)
    assert not result.grounded and result.has_link and "link" in result.reason()


def test_figures_keep_their_unit_and_precision() -> None:
    [money, share] = figures_in("$1.25M and 12.5%")
    assert (money.value, money.decimals, money.scale, money.percent) == (1.25, 2, 1e6, False)
    assert (share.value, share.decimals, share.percent) == (12.5, 1, True)
