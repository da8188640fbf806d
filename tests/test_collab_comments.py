"""Comments and @mentions on deals and companies: safe formatting, who may edit and delete, who is notified and how
(in the app, by email, by Web Push to a real push service on 127.0.0.1)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.urls import reverse

from collab import delivery
from collab.models import Comment, DeliveryState, Notification, PushSubscription
from tests.factories import CompanyFactory, make_deal
from tests.pushservice import PushService


@pytest.fixture
def deal(personas):
    """A deal of the East rep: the owner, the manager, the viewer and the rep see it; the West rep does not."""
    return make_deal(personas.workspace, title="Northwind renewal", owner=personas.rep, actor=personas.rep)


@pytest.fixture
def push_service(settings):
    settings.COLLAB_PUSH_ALLOW_LOOPBACK_URLS = True
    with PushService() as service:
        yield service


def comment_url(personas, deal):
    return reverse("collab:comment_create", args=[personas.workspace.slug, "deals", deal.uuid])


def subscribe(personas, member, service):
    """The member's browser subscribes through the page's endpoint, as pwa.js does."""
    browser = service.subscribe()
    response = personas.client_for(member).post(
        reverse("collab:push_subscribe", args=[personas.workspace.slug]),
        json.dumps(browser.as_json()),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return browser


def test_a_mention_reaches_the_member_in_the_app_by_email_and_by_push_but_not_one_who_cannot_see_the_deal(
    personas, deal, push_service, django_capture_on_commit_callbacks
):
    manager_browser = subscribe(personas, personas.manager, push_service)
    subscribe(personas, personas.other_rep, push_service)
    client = personas.client_for(personas.rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            comment_url(personas, deal),
            {"body": "@manager can you join Thursday? Also @west", "mentions": [str(personas.other_rep.uuid)]},
        )
    assert response.status_code == 302
    comment = Comment.objects.get(deal=deal)
    assert list(comment.mentions.all()) == [personas.manager]  # West cannot see East's deal: not mentioned

    assert delivery.deliver_pending() == 1  # the worker's pass
    notification = Notification.objects.get()
    assert notification.recipient == personas.manager
    assert notification.email_state == DeliveryState.SENT and notification.push_state == DeliveryState.SENT
    assert "mentioned you on Northwind renewal" in notification.title

    assert [m.to for m in mail.outbox] == [["manager@acme.test"]]
    assert "Thursday" in mail.outbox[0].body
    open_url = reverse("collab:notification_open", args=[personas.workspace.slug, notification.uuid])
    assert open_url in mail.outbox[0].body

    assert len(push_service.received) == 1
    pushed = push_service.received[0]
    assert pushed.problems == []
    assert pushed.path == manager_browser.endpoint.removeprefix(push_service.origin)
    assert pushed.message["url"] == open_url and "Northwind renewal" in pushed.message["title"]

    # Nobody else heard anything, and a second pass sends nothing again.
    assert not Notification.objects.filter(recipient=personas.other_rep).exists()
    assert delivery.deliver_pending() == 0 and len(mail.outbox) == 1 and len(push_service.received) == 1

    # The manager follows the link: the notification is read and the deal's comment is where it leads.
    opened = personas.client_for(personas.manager).get(open_url)
    assert opened.status_code == 302 and opened["Location"].startswith(f"/w/acme/deals/{deal.uuid}/")
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_push_service_that_says_the_subscription_is_gone_forgets_it(
    personas, deal, settings, django_capture_on_commit_callbacks
):
    settings.COLLAB_PUSH_ALLOW_LOOPBACK_URLS = True
    with PushService(status=410) as service:
        subscribe(personas, personas.manager, service)
        personas.client_for(personas.rep).post(comment_url(personas, deal), {"body": "ping @manager"})
        delivery.deliver_pending()
    assert len(service.received) == 1
    assert not PushSubscription.objects.filter(membership=personas.manager).exists()
    assert Notification.objects.get().push_state == DeliveryState.FAILED


def test_push_endpoints_on_private_or_loopback_addresses_are_refused_without_the_test_setting(personas):
    client = personas.client_for(personas.rep)
    url = reverse("collab:push_subscribe", args=[personas.workspace.slug])
    for endpoint in ("http://127.0.0.1:9/push/x", "https://10.0.0.8/push/x", "https://localhost/push/x"):
        body = {"endpoint": endpoint, "keys": {"p256dh": "BNc", "auth": "x"}}
        response = client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 400, endpoint
    assert not PushSubscription.objects.exists()
    assert client.post(url, "not json", content_type="application/json").status_code == 400


def test_script_in_a_comment_is_shown_as_text_and_the_markdown_subset_renders(personas, deal):
    client = personas.client_for(personas.rep)
    body = '<script>alert("x")</script> **bold** [site](https://example.com/a?b=1&c=2) [bad](javascript:alert(1))'
    client.post(comment_url(personas, deal), {"body": body})
    page = client.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<strong>bold</strong>" in page
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">site</a>' in page
    assert 'href="javascript' not in page


def test_only_the_author_edits_and_the_author_or_an_admin_deletes(personas, deal):
    rep, manager, owner = (personas.client_for(m) for m in (personas.rep, personas.manager, personas.owner))
    rep.post(comment_url(personas, deal), {"body": "first draft"})
    comment = Comment.objects.get()
    edit = reverse("collab:comment_edit", args=["acme", comment.uuid])
    delete = reverse("collab:comment_delete", args=["acme", comment.uuid])

    assert manager.post(edit, {"body": "hijacked"}).status_code == 403
    assert manager.post(delete).status_code == 403
    comment.refresh_from_db()
    assert comment.body == "first draft"

    assert rep.post(edit, {"body": "second draft"}).status_code == 302
    comment.refresh_from_db()
    assert comment.body == "second draft" and comment.edited_at is not None

    assert owner.post(delete).status_code == 302  # owners and admins moderate
    assert not Comment.objects.exists()


def test_editing_a_comment_tells_only_the_newly_mentioned(personas, deal):
    rep = personas.client_for(personas.rep)
    rep.post(comment_url(personas, deal), {"body": "hi @manager"})
    comment = Comment.objects.get()
    rep.post(reverse("collab:comment_edit", args=["acme", comment.uuid]), {"body": "hi @manager and @owner"})
    assert sorted(Notification.objects.values_list("recipient__display_name", flat=True)) == ["manager", "owner"]


def test_outsiders_get_404_and_viewers_403_on_every_write(personas, deal):
    outsider, viewer = personas.client_for(personas.outsider), personas.client_for(personas.viewer)
    assert outsider.post(comment_url(personas, deal), {"body": "x"}).status_code == 404
    assert outsider.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).status_code == 404
    assert viewer.post(comment_url(personas, deal), {"body": "x"}).status_code == 403
    assert viewer.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).status_code == 200
    # A rep of another team cannot reach the deal's comments at all.
    west = personas.client_for(personas.other_rep)
    assert west.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).status_code == 404
    assert west.post(comment_url(personas, deal), {"body": "x"}).status_code == 404
    assert not Comment.objects.exists()


def test_mention_autocomplete_offers_only_members_who_can_see_the_deal(personas, deal):
    url = reverse("collab:mention_suggest", args=["acme", "deals", deal.uuid])
    html = personas.client_for(personas.rep).get(url, {"q": "w"}).content.decode()
    assert "@west" not in html  # West cannot see the deal
    html = personas.client_for(personas.rep).get(url, {"q": "man"}).content.decode()
    assert "@manager" in html and str(personas.manager.uuid) in html


def test_comments_on_a_company_are_seen_by_every_member_and_shown_on_the_customer_page(personas):
    company = CompanyFactory(workspace=personas.workspace, name="Globex Corp")
    url = reverse("collab:comment_create", args=["acme", "companies", company.uuid])
    personas.client_for(personas.rep).post(url, {"body": "Their CFO changed, @west knows her"})
    assert Notification.objects.get().recipient == personas.other_rep  # companies are seen workspace-wide
    panel = personas.client_for(personas.other_rep).get(
        reverse("collab:panel", args=["acme", "companies", company.uuid])
    )
    assert "Their CFO changed" in panel.content.decode()
    page = personas.client_for(personas.owner).get(reverse("crm:company_detail", args=["acme", company.uuid]))
    assert reverse("collab:panel", args=["acme", "companies", company.uuid]) in page.content.decode()
