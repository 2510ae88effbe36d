"""The error pages are the app's own (styled, with a way back), rendered with and without a request."""

import pytest
from django.test import RequestFactory
from django.views.csrf import csrf_failure
from django.views.defaults import server_error

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def test_server_error_page_is_styled_without_a_request_context():
    response = server_error(RequestFactory().get("/c/1/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="login error-page"' in html and "Something went wrong" in html
    assert 'href="/"' in html and "favicon.svg" in html


def test_csrf_failure_page_explains_nothing_was_changed():
    response = csrf_failure(RequestFactory().post("/c/new/"), reason="CSRF cookie not set.")
    html = response.content.decode()
    assert response.status_code == 403
    assert "The form expired" in html and "Nothing was changed" in html and 'href="/"' in html


def test_another_persons_conversation_is_a_styled_404(client, django_user_model):
    from chat.models import Conversation

    owner = django_user_model.objects.create_user("owner", password="pw-123456789")
    other = django_user_model.objects.create_user("other", password="pw-123456789")
    convo = Conversation.objects.create(owner=owner, title="Owner's secret")
    client.force_login(other)
    response = client.get(f"/c/{convo.pk}/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "error-page" in html and "Owner's secret" not in html
    assert "Back to your conversations" in html
