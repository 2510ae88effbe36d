"""Login throttling (django-axes): a username is locked out from one address after
LOGIN_FAILURE_LIMIT wrong passwords, with a clear message; others go on. Single sign-on for a
locked-out username: tests/test_oidc.py. The message in Chromium: tests/test_browser_security.py."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from tests.test_security_headers import settings_under

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(90)]
LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def attempt(client, username, password, address="10.0.0.1", path=LOGIN):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, username, times, address="10.0.0.1"):
    for _ in range(times):
        attempt(client, username, "wrong-password", address)


def test_wrong_passwords_lock_the_username_out_with_a_clear_message(client, user):
    fail(client, "alice", 2)
    assert attempt(client, "alice", "wrong-password").status_code == 429  # the third failure
    response = attempt(client, "alice", "pw-alice-123")  # even the right password now
    body = response.content.decode()
    assert response.status_code == 429
    assert 'id="locked-out"' in body and "blocked for 15 minutes" in body
    assert 'name="password"' in body  # still the login page
    assert "_auth_user_id" not in client.session


def test_failures_below_the_limit_do_not_lock_and_success_resets_them(client, user):
    fail(client, "alice", 2)
    assert attempt(client, "alice", "pw-alice-123").status_code == 302
    client.logout()
    fail(client, "alice", 2)
    assert attempt(client, "alice", "pw-alice-123").status_code == 302


def test_the_lockout_is_per_username_and_address(client, user, other_user):
    fail(client, "alice", 3)
    assert attempt(client, "bob", "pw-bob-123").status_code == 302  # another username
    client.logout()
    assert attempt(client, "alice", "pw-alice-123", address="10.0.0.2").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, user):
    fail(client, "alice", 3)
    assert attempt(client, "alice", "pw-alice-123").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert attempt(client, "alice", "pw-alice-123").status_code == 302


def test_the_admin_login_is_throttled_too(client, user):
    user.is_staff = True
    user.save()
    admin = "/admin/login/"
    for _ in range(3):
        attempt(client, "alice", "wrong-password", path=admin)
    assert attempt(client, "alice", "pw-alice-123", path=admin).status_code == 429


def test_throttling_settings_come_from_the_environment():
    values = settings_under(
        {"LOGIN_FAILURE_LIMIT": "7", "LOGIN_LOCKOUT_MINUTES": "2.5", "LOGIN_THROTTLING": "0"},
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_ENABLED",
    )
    assert values == ["7", "datetime.timedelta(seconds=150)", "False"]
