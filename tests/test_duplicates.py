"""Duplicate suggestions: spelling and suffix variants are found, merely similar names are not; the command's JSON."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.duplicates import CompanyRow, DealRow, company_pairs, deal_pairs, normalise_name
from crm.models import DuplicateDismissal
from similarity.models import DealEmbedding
from tests.factories import CompanyFactory, ContactFactory, make_deal

VARIANTS = ["Acme Inc", "ACME, Inc.", "Acme Incorporated", "Globex", "Globexx"]
MERELY_SIMILAR = ["Acme Analytics", "Acme Robotics", "Northwind", "Northway", "Initech 2", "Initech 3"]
# Near misses the demo's generated names produced: other words, not typos.
MERELY_SIMILAR += ["Raven Media", "Raven Medical", "Alpine Cloud", "Pine Cloud", "Amber Bio", "Ember Bio"]


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("ACME, Inc.", "acme"),
        ("Acme Incorporated", "acme"),
        ("The Acme Company", "acme"),
        ("Société Générale S.A.", "societe generale"),
        ("Smith & Co", "smith"),
        ("Umbrella L.L.C.", "umbrella"),
        ("Hooli GmbH", "hooli"),
        ("Acme Robotics", "acme robotics"),
    ],
)
def test_names_are_normalised_without_case_punctuation_or_legal_suffixes(name, normal):
    assert normalise_name(name) == normal


def _names(pairs, rows) -> set[frozenset[str]]:
    name = {r.id: r.name for r in rows}
    return {frozenset((name[p.a], name[p.b])) for p in pairs}


def test_spelling_and_suffix_variants_are_found_and_merely_similar_names_are_not():
    rows = [CompanyRow(str(i), name) for i, name in enumerate(VARIANTS + MERELY_SIMILAR)]
    found = _names(company_pairs(rows), rows)
    assert found == {
        frozenset({"Acme Inc", "ACME, Inc."}),
        frozenset({"Acme Inc", "Acme Incorporated"}),
        frozenset({"ACME, Inc.", "Acme Incorporated"}),
        frozenset({"Globex", "Globexx"}),
    }


def test_spaces_inside_a_name_do_not_hide_a_duplicate():
    pairs = company_pairs([CompanyRow("1", "Micro Soft"), CompanyRow("2", "Microsoft Corp."), CompanyRow("3", "Soft")])
    assert [(p.a, p.b, p.reasons) for p in pairs] == [("1", "2", ("same name apart from spaces",))]


def test_the_same_domain_is_a_duplicate_but_a_mail_provider_is_not():
    rows = [
        CompanyRow("1", "Umbrella", "https://www.umbrella.com/about"),
        CompanyRow("2", "Umbrella Pharma", "umbrella.com"),
        CompanyRow("3", "Jane Doe Consulting", "gmail.com"),
        CompanyRow("4", "John Roe Design", "gmail.com"),
    ]
    pairs = company_pairs(rows)
    assert [(p.a, p.b, p.score, p.reasons) for p in pairs] == [("1", "2", 95.0, ("same domain umbrella.com",))]


def test_deals_repeat_business_is_not_a_duplicate_but_a_typo_of_an_open_deal_is():
    now = timezone.now()
    old = now - timedelta(days=400)
    rows = [
        DealRow("1", "Renewal", "c1", old, is_open=False),
        DealRow("2", "Renewal", "c1", now, is_open=False),  # a year later: repeat business
        DealRow("3", "Data platform", "c1", now),
        DealRow("4", "Data platfrom", "c1", now),
        DealRow("5", "Data platform", "c2", now),  # another company
        DealRow("6", "Renewal 2024", "c3", now),
        DealRow("7", "Renewal 2025", "c3", now),  # numbers differ
    ]
    assert [(p.a, p.b) for p in deal_pairs(rows)] == [("3", "4")]


def test_blocking_keeps_thousands_of_companies_fast():
    rng = random.Random(7)
    syllables = ["ac", "me", "glo", "bex", "ini", "tech", "hoo", "li", "um", "brel", "la", "sto", "rk", "ven", "tu"]
    names = {"".join(rng.choice(syllables) for _ in range(rng.randint(3, 5))) + f" {n}" for n in range(5000)}
    rows = [CompanyRow(str(i), n) for i, n in enumerate(sorted(names))]
    rows.append(CompanyRow("typo", rows[10].name[:2] + rows[10].name[3:]))  # one letter dropped
    started = time.perf_counter()
    pairs = company_pairs(rows)
    seconds = time.perf_counter() - started
    assert ("10", "typo") in {(p.a, p.b) for p in pairs}
    assert seconds < 10, f"{len(rows)} companies took {seconds:.1f} s"


def test_find_duplicates_command_prints_the_pairs_best_first(personas):
    ws = personas.workspace
    made = {name: CompanyFactory(workspace=ws, name=name) for name in VARIANTS + MERELY_SIMILAR}
    CompanyFactory(workspace=personas.other_workspace, name="Acme Inc.")  # another workspace's: never paired
    out = StringIO()
    call_command("find_duplicates", workspace="acme", kind="companies", json=True, stdout=out)
    data = json.loads(out.getvalue())
    assert list(data) == ["pairs"]
    assert all(list(p) == ["a", "b", "score", "reasons"] and p["reasons"] for p in data["pairs"])
    scores = [p["score"] for p in data["pairs"]]
    assert scores == sorted(scores, reverse=True)
    names = {str(c.uuid): name for name, c in made.items()}
    found = {frozenset((names[p["a"]], names[p["b"]])) for p in data["pairs"]}
    assert found == {
        frozenset({"Acme Inc", "ACME, Inc."}),
        frozenset({"Acme Inc", "Acme Incorporated"}),
        frozenset({"ACME, Inc.", "Acme Incorporated"}),
        frozenset({"Globex", "Globexx"}),
    }
    assert all(uuid.UUID(p["a"]) and uuid.UUID(p["b"]) for p in data["pairs"])


def test_contacts_with_the_same_email_or_name_at_a_company(personas):
    ws = personas.workspace
    initech = CompanyFactory(workspace=ws, name="Initech")
    a = ContactFactory(
        workspace=ws, first_name="Peter", last_name="Gibbons", email="peter@initech.test", company=initech
    )
    b = ContactFactory(workspace=ws, first_name="Pete", last_name="Gibbons", email="PETER@initech.test")
    c = ContactFactory(
        workspace=ws, first_name="Bill", last_name="Lumbergh", email="bill@initech.test", company=initech
    )
    d = ContactFactory(workspace=ws, first_name="Bill", last_name="Lumbergh", email="", company=initech)
    ContactFactory(workspace=ws, first_name="Michael", last_name="Bolton", email="mb@initech.test", company=initech)
    ContactFactory(workspace=ws, first_name="Michael", last_name="Bolton", email="singer@music.test")
    out = StringIO()
    call_command("find_duplicates", workspace="acme", kind="contacts", json=True, stdout=out)
    pairs = {frozenset((p["a"], p["b"])): p for p in json.loads(out.getvalue())["pairs"]}
    assert pairs[frozenset((str(a.uuid), str(b.uuid)))]["reasons"][0] == "same email peter@initech.test"
    assert frozenset((str(c.uuid), str(d.uuid))) in pairs
    assert len(pairs) == 3  # the two Michael Boltons: one at Initech, one with a company unknown — also paired
    assert pairs[frozenset((str(a.uuid), str(b.uuid)))]["score"] == 100.0


def test_deals_with_the_same_meaning_by_their_stored_embeddings(personas):
    ws = personas.workspace
    initech = CompanyFactory(workspace=ws, name="Initech")
    one = make_deal(ws, title="Analytics rollout", company=initech)
    two = make_deal(ws, title="BI platform for finance", company=initech)
    three = make_deal(ws, title="Office chairs", company=initech)
    vector = np.ones(384, dtype=np.float32)
    other = np.concatenate([np.ones(192), -np.ones(192)]).astype(np.float32)
    for deal, v in ((one, vector), (two, vector * 0.99 + 0.001), (three, other)):
        DealEmbedding.objects.create(deal=deal, workspace=ws, embedding=v.tolist(), text_hash="x", model_name="t")
    out = StringIO()
    call_command("find_duplicates", workspace="acme", kind="deals", json=True, stdout=out)
    pairs = json.loads(out.getvalue())["pairs"]
    assert len(pairs) == 1 and {pairs[0]["a"], pairs[0]["b"]} == {str(one.uuid), str(two.uuid)}
    assert pairs[0]["reasons"][0].startswith("descriptions mean the same (cosine")


def test_duplicates_page_and_not_a_duplicate(personas):
    ws = personas.workspace
    a = CompanyFactory(workspace=ws, name="Globex")
    b = CompanyFactory(workspace=ws, name="Globexx")
    url = reverse("crm_data:duplicates", args=["acme", "companies"])
    client = personas.client_for(personas.rep)
    page = client.get(url).content.decode()
    assert "1 suggestion" in page and "Globexx" in page and "names differ by a typo" in page
    dismiss = reverse("crm_data:duplicates_dismiss", args=["acme", "companies"])
    viewer = personas.client_for(personas.viewer)
    assert "Not a duplicate" not in viewer.get(url).content.decode()
    assert viewer.post(dismiss, {"keep": a.uuid, "merge": b.uuid}).status_code == 403
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert client.get(dismiss).status_code == 405
    response = client.post(dismiss, {"keep": a.uuid, "merge": b.uuid}, follow=True)
    assert "will not be suggested again" in response.content.decode()
    assert DuplicateDismissal.objects.filter(workspace=ws, kind="companies").count() == 1
    assert "0 suggestions" in client.get(url).content.decode()
    out = StringIO()
    call_command("find_duplicates", workspace="acme", kind="companies", json=True, stdout=out)
    assert json.loads(out.getvalue()) == {"pairs": []}
    assert client.get(reverse("crm_data:duplicates", args=["acme", "widgets"])).status_code == 404
