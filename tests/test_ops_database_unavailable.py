"""While the database does not answer (a restart), requests get 503 with Retry-After, never a 500 page."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.urls import path


def _down(request) -> HttpResponse:
    raise OperationalError("connection failed: the database system is shutting down")


def _bug(request) -> HttpResponse:
    raise ValueError("a bug, not the database")


urlpatterns = [path("api/v1/deals/", _down), path("w/acme/", _down), path("bug/", _bug)]


@pytest.fixture
def down_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False


def test_the_api_answers_503_with_a_problem_and_retry_after(client, down_urls) -> None:
    response = client.get("/api/v1/deals/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/problem+json"
    assert "Try again in 5 s" in json.loads(response.content)["detail"]


def test_a_page_answers_the_plain_503_page(client, down_urls) -> None:
    response = client.get("/w/acme/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"Unavailable for a moment" in response.content and b"Try again in 5 seconds" in response.content


def test_other_errors_are_left_alone(client, down_urls) -> None:
    client.raise_request_exception = False
    response = client.get("/bug/")
    assert response.status_code == 500 and "Retry-After" not in response  # a bug stays a logged 500
