"""The Django admin: reached only through allauth's sign-in (with its second factor), open only to staff with
MFA, and job functions only from the registry of known tasks."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from tenancy.admin import known_task_functions
from tenancy.models import PendingJob
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-staff-password-9876"


def staff(*, mfa: bool, superuser: bool = True):
    user = UserFactory(email="staff@vectoros.test", is_staff=True, is_superuser=superuser)
    user.set_password(PASSWORD)
    user.save()
    secret = generate_totp_secret()
    if mfa:
        TOTP.activate(user, secret)
    return user, secret


def current_code(secret: str) -> str:
    import time

    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_the_admin_sends_visitors_to_allauths_sign_in():
    response = Client().get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    assert "next=/admin/login/" in unquote(response.redirect_chain[-1][0])


def test_the_admins_own_password_form_no_longer_signs_anyone_in():
    staff(mfa=False)
    client = Client()
    response = client.post("/admin/login/", {"username": "staff@vectoros.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session


def test_staff_without_mfa_are_told_to_set_it_up():
    user, _ = staff(mfa=False)
    client = Client()
    client.force_login(user)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    body = response.content.decode()
    assert "Set up two-factor authentication first" in body and reverse("mfa_activate_totp") in body
    assert client.get(reverse("admin:django_q_schedule_changelist")).status_code == 302  # nothing reachable


def test_staff_sign_in_asks_for_the_second_factor_then_opens_the_admin():
    _, secret = staff(mfa=True)
    client = Client()
    login = reverse("account_login") + "?next=/admin/"
    step = client.post(login, {"login": "staff@vectoros.test", "password": PASSWORD})
    assert step.status_code == 302 and step["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # the password alone opened nothing
    done = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert done.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_non_staff_user_gets_a_403_from_the_admin_login():
    client = Client()
    client.force_login(UserFactory(email="rep@vectoros.test"))
    assert client.get("/admin/login/").status_code == 403


@pytest.fixture
def admin_with_mfa():
    user, _ = staff(mfa=True)
    client = Client()
    client.force_login(user)
    return client


def test_a_schedule_can_only_run_a_known_task(admin_with_mfa):
    known = known_task_functions()
    assert "alerts.tasks.deliver_pending" in known and "similarity.tasks.on_deals_changed" in known
    add = reverse("admin:django_q_schedule_add")
    form = {"name": "x", "func": "os.system", "args": "'touch /tmp/pwned'", "schedule_type": "O", "repeats": "-1"}
    form |= {"next_run_0": "2026-01-01", "next_run_1": "00:00:00", "minutes": "", "cron": "", "cluster": ""}
    refused = admin_with_mfa.post(add, form)
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert not Schedule.objects.exists()
    accepted = admin_with_mfa.post(add, {**form, "func": "alerts.tasks.deliver_pending", "args": ""})
    assert accepted.status_code == 302
    assert Schedule.objects.get().func == "alerts.tasks.deliver_pending"


def test_the_schedule_hook_is_read_only(admin_with_mfa):
    page = admin_with_mfa.get(reverse("admin:django_q_schedule_add")).content.decode()
    assert 'name="func"' in page and "<select" in page
    assert 'name="hook"' not in page


def test_pending_jobs_cannot_be_added_or_edited_in_the_admin(admin_with_mfa):
    job = PendingJob.objects.create(key="k", func="similarity.tasks.on_deals_changed", args="[]")
    assert admin_with_mfa.get(reverse("admin:tenancy_pendingjob_add")).status_code == 403
    change = reverse("admin:tenancy_pendingjob_change", args=[job.pk])
    assert admin_with_mfa.get(change).status_code == 200  # viewable
    admin_with_mfa.post(change, {"key": "k", "func": "os.system", "args": "[]"})
    job.refresh_from_db()
    assert job.func == "similarity.tasks.on_deals_changed"
