"""Rate limits: 429 with Retry-After for sign-in, sign-up, password reset, invitations, the API and heavy actions.

Counters live in the shared cache (here PostgreSQL's cache table, as in production without Redis).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from forecasting.models import ForecastRun
from tenancy.models import Invitation, PendingJob
from tenancy.services import api_key_create
from tests.factories import UserFactory
from vectoros.ratelimit import client_ip

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _limits(**changed: str) -> override_settings:
    from django.conf import settings

    return override_settings(VECTOROS_RATE_LIMITS={**settings.VECTOROS_RATE_LIMITS, **changed})


def _sign_in(email: str, password: str, ip: str = "203.0.113.1", **headers: str):
    return Client(REMOTE_ADDR=ip, headers=headers).post(
        reverse("account_login"), {"login": email, "password": password}
    )


def _retry_after(response) -> int:
    assert response.status_code == 429, response.status_code
    return int(response["Retry-After"])


def test_ten_wrong_passwords_from_many_addresses_lock_the_account(personas, frozen_time):
    for n in range(1, 10):
        wrong = _sign_in("owner@acme.test", "nope", ip=f"198.51.100.{n}")
        assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
    tenth = _sign_in("owner@acme.test", "nope", ip="198.51.100.10")
    assert 14 * 60 < _retry_after(tenth) <= 15 * 60
    # Locked: even the right password, from a fresh address, is not tried.
    assert _retry_after(_sign_in("owner@acme.test", PASSWORD, ip="192.0.2.77")) > 0
    # Another account is not locked by it.
    assert _sign_in("manager@acme.test", PASSWORD, ip="198.51.100.10").status_code == 302
    frozen_time.shift(timedelta(minutes=15, seconds=1))
    assert _sign_in("owner@acme.test", PASSWORD).status_code == 302


def test_one_address_guessing_many_accounts_is_limited_by_its_real_ip_behind_the_proxy(personas):
    for n in range(6):
        UserFactory(email=f"user{n}@acme.test")
    with override_settings(TRUSTED_PROXY_COUNT=1):
        proxy = "10.0.0.2"  # every request reaches us through the same proxy
        attacker = {"x-forwarded-for": "1.2.3.4, 203.0.113.9"}  # the client may prepend anything
        answers = []
        for n in range(31):
            email = f"user{n % 6}@acme.test"
            answers.append(_sign_in(email, "nope", ip=proxy, **attacker).status_code)
        # The failure that uses up the address's thirty is answered 429, and so is everything after it.
        assert answers[:29] == [200] * 29 and answers[29:] == [429, 429]
        # Someone else behind the same proxy still signs in.
        assert _sign_in("owner@acme.test", PASSWORD, ip=proxy, **{"x-forwarded-for": "198.51.100.5"}).status_code == 302


def test_client_ip_honours_the_trusted_proxy_count():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "10.0.0.2"  # no trusted proxy: the header is ignored
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client_ip(request) == "203.0.113.9"
    with override_settings(TRUSTED_PROXY_COUNT=2):
        assert client_ip(request) == "6.6.6.6"
    with override_settings(TRUSTED_PROXY_COUNT=3):  # fewer hops than proxies: the header is not believed
        assert client_ip(request) == "10.0.0.2"


def test_the_admin_sign_in_is_allauths_and_locks_the_same_way(personas):
    staff = personas.owner.user
    staff.is_staff = True
    staff.save()
    admin_login = Client().get("/admin/")["Location"]
    to_login = Client().get(admin_login)
    assert to_login.status_code == 302 and to_login["Location"].startswith(reverse("account_login"))
    client = Client(REMOTE_ADDR="203.0.113.50")
    answers = [
        client.post(to_login["Location"], {"login": "owner@acme.test", "password": "nope"}).status_code
        for _ in range(10)
    ]
    assert answers == [200] * 9 + [429]


def test_sign_up_is_limited_per_address(db):
    client = Client(REMOTE_ADDR="203.0.113.60")
    answers = []
    for n in range(6):
        data = {"email": f"new{n}@startup.test", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
        answers.append(client.post(reverse("account_signup"), data))
    assert [a.status_code for a in answers[:5]] == [302] * 5
    assert _retry_after(answers[5]) > 0 and "Too many requests" in answers[5].content.decode()


@override_settings(VECTOROS_SIGNUP="invite-only")
def test_invite_only_sign_up_needs_an_open_invitation(personas, django_capture_on_commit_callbacks):
    from tenancy.services import invitation_create

    closed = Client().post(
        reverse("account_signup"),
        {"email": "stranger@else.test", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert closed.status_code == 200 and "closed" in closed.content.decode().lower()
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(workspace=personas.workspace, invited_by=personas.owner, email="new@acme.test", role="rep")
    token = mail.outbox[-1].body.split("/invitations/")[1].split("/")[0]
    next_url = reverse("invitation_accept", args=[token])
    invited = Client().post(
        reverse("account_signup") + f"?next={next_url}",
        {"email": "new@acme.test", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert invited.status_code == 302


def test_password_reset_is_limited_per_account(personas):
    answers = [
        Client(REMOTE_ADDR=f"203.0.113.{n}").post(reverse("account_reset_password"), {"email": "owner@acme.test"})
        for n in range(4)
    ]
    assert [a.status_code for a in answers[:3]] == [302] * 3
    assert _retry_after(answers[3]) > 0
    assert len(mail.outbox) == 3


def test_api_is_limited_per_key(personas):
    _key, raw = api_key_create(workspace=personas.workspace, name="busy", created_by=personas.owner)
    _other, other_raw = api_key_create(workspace=personas.workspace, name="calm", created_by=personas.owner)
    busy = Client(headers={"Authorization": f"Bearer {raw}"})
    with _limits(api_key="3/60"):
        assert [busy.get("/api/v1/deals/").status_code for _ in range(3)] == [200] * 3
        over = busy.get("/api/v1/deals/")
        assert 0 < _retry_after(over) <= 60
        assert Client(headers={"Authorization": f"Bearer {other_raw}"}).get("/api/v1/deals/").status_code == 200


def test_invitations_are_limited_per_workspace_per_day(personas, frozen_time):
    owner = personas.client_for(personas.owner)
    url = reverse("tenancy:invitations", args=["acme"])
    with _limits(invitations="2/86400"):
        for n in range(2):
            assert owner.post(url, {"email": f"p{n}@acme.test", "role": "rep"}).status_code == 302
        refused = owner.post(url, {"email": "p3@acme.test", "role": "rep"})
        assert refused.status_code == 422 and "try again tomorrow" in refused.content.decode()
        assert Invitation.objects.count() == 2
        frozen_time.shift(timedelta(days=1))
        assert owner.post(url, {"email": "p3@acme.test", "role": "rep"}).status_code == 302


def test_invitation_email_is_our_fixed_text(personas, django_capture_on_commit_callbacks):
    from tenancy.services import invitation_create

    personas.workspace.name = "Acme\n\nYour account is locked, log in at http://evil.test now"
    personas.workspace.save()
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(workspace=personas.workspace, invited_by=personas.owner, email="new@acme.test", role="rep")
    body = mail.outbox[-1].body
    assert "http://evil.test" not in body and "\n\nYour account" not in body
    assert body.splitlines()[0].startswith("owner invited you to join “Acme Your account is locked")


def test_re_forecast_is_queued_and_coalesced_not_computed_in_the_request(personas, django_capture_on_commit_callbacks):
    owner = personas.client_for(personas.owner)
    url = reverse("forecasting:run", args=["acme"])
    with _limits(reforecast="2/60"), django_capture_on_commit_callbacks(execute=True):
        first, second = owner.post(url), owner.post(url)
        third = owner.post(url)
    assert first.status_code == second.status_code == 302
    assert not ForecastRun.objects.exists()
    pending = PendingJob.objects.filter(func="forecasting.tasks.forecast_requested")
    assert [p.args[0] for p in pending] == [[personas.workspace.id]]  # one queued run for both presses
    assert _retry_after(third) > 0


@pytest.mark.parametrize(
    ("limit", "url_name", "method", "who"),
    [
        ("export", "crm_data:export_deals", "get", "rep"),
        ("retrain", "scoring:retrain", "post", "owner"),
        ("what_if", "forecasting:what_if", "get", "rep"),
    ],
)
def test_heavy_actions_answer_429_with_retry_after(personas, limit, url_name, method, who):
    client = personas.client_for(getattr(personas, who))
    url = reverse(url_name, args=["acme"])
    with _limits(**{limit: "1/3600"}):
        if url_name == "forecasting:what_if":
            from forecasting.services import forecast_run

            forecast_run(workspace=personas.workspace, sims=200)
            url += "?win_rate_scale=1.2"  # an empty scenario is refused before any work (and any limit)
        first = getattr(client, method)(url)
        assert first.status_code in {200, 302}
        second = getattr(client, method)(url)
        assert 0 < _retry_after(second) <= 3600
        assert "Too many requests" in second.content.decode()


def test_the_same_what_if_against_the_same_run_does_not_refit(personas, monkeypatch):
    from forecasting import selectors
    from forecasting.services import forecast_run

    run = forecast_run(workspace=personas.workspace, sims=200)
    fits = []
    real_fit = selectors.fit_as_of
    monkeypatch.setattr(selectors, "fit_as_of", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    client = personas.client_for(personas.owner)
    url = reverse("forecasting:what_if", args=["acme"])
    first = client.get(url, {"win_rate_scale": "0.5"})
    second = personas.client_for(personas.viewer).get(url, {"win_rate_scale": "0.5"})
    assert first.status_code == second.status_code == 200 and len(fits) == 1
    assert client.get(url, {"win_rate_scale": "0.7"}).status_code == 200 and len(fits) == 2
    newer = forecast_run(workspace=personas.workspace, sims=200)
    assert newer.uuid != run.uuid
    assert client.get(url, {"win_rate_scale": "0.5"}).status_code == 200 and len(fits) == 3


def test_retrain_presses_are_queued_once_per_workspace(personas, django_capture_on_commit_callbacks):
    owner = personas.client_for(personas.owner)
    url = reverse("scoring:retrain", args=["acme"])
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(url).status_code == owner.post(url).status_code == 302
    pending = PendingJob.objects.filter(func="scoring.tasks.retrain_requested")
    assert [p.args[0] for p in pending] == [[personas.workspace.id]]
