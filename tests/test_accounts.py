"""Accounts: invite links, teams and roles, deactivation, and their admin pages."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import Invite, Membership, ReviewLog, Role, Team
from chat.models import Conversation
from tests.relay_client import communicator

PASSWORD = "a-Long-pass-phrase-42"


def make_invite(**fields) -> Invite:
    return Invite.objects.create(**fields)


def sign_up(client, invite: Invite, username: str = "dora", password: str = PASSWORD):
    return client.post(
        f"/invite/{invite.token}/",
        {"username": username, "password1": password, "password2": password},
    )


# --- invites ---


@pytest.mark.django_db
def test_invite_creates_the_account_joins_the_team_and_signs_in(client, user):
    team = Team.objects.create(name="Research")
    invite = make_invite(team=team, role=Role.ADMIN, email="dora@example.com", created_by=user)
    page = client.get(f"/invite/{invite.token}/")
    assert page.status_code == 200 and "Research" in page.content.decode()
    response = sign_up(client, invite)
    assert response.status_code == 302 and response["Location"] == "/"
    dora = User.objects.get(username="dora")
    assert dora.email == "dora@example.com" and dora.check_password(PASSWORD)
    assert Membership.objects.get(team=team, user=dora).role == "admin"
    invite.refresh_from_db()
    assert invite.used_by == dora and invite.used_at is not None
    assert client.get("/").status_code == 302  # signed in: home opens a conversation
    assert client.get("/")["Location"].startswith("/c/")


@pytest.mark.django_db
def test_invite_without_a_team_creates_a_plain_account(client):
    invite = make_invite()
    assert sign_up(client, invite, username="eve").status_code == 302
    assert not Membership.objects.filter(user__username="eve").exists()


@pytest.mark.django_db
def test_invite_form_uses_djangos_password_checks(client, user):
    invite = make_invite()
    weak = sign_up(client, invite, password="password")
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    mismatch = client.post(
        f"/invite/{invite.token}/",
        {"username": "dora", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert "didn’t match" in mismatch.content.decode()
    taken = sign_up(client, invite, username="ALICE")
    assert "already exists" in taken.content.decode()
    assert not User.objects.filter(username="dora").exists()
    invite.refresh_from_db()
    assert invite.used_at is None


@pytest.mark.django_db
def test_expired_invite_gets_a_clear_page(client):
    invite = make_invite(expires_at=timezone.now() - timedelta(minutes=1))
    for response in (client.get(f"/invite/{invite.token}/"), sign_up(client, invite)):
        assert response.status_code == 410
        assert "This invite link has expired." in response.content.decode()
    assert not User.objects.filter(username="dora").exists()


@pytest.mark.django_db
def test_used_invite_gets_a_clear_page_and_cannot_make_a_second_account(client):
    invite = make_invite()
    assert sign_up(client, invite).status_code == 302
    client.logout()
    again = sign_up(client, invite, username="mallory")
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert not User.objects.filter(username="mallory").exists()


@pytest.mark.django_db
def test_unknown_invite_is_not_found(client):
    response = client.get("/invite/not-a-real-token/")
    assert response.status_code == 404 and "not valid" in response.content.decode()


@pytest.mark.django_db
def test_signed_in_person_joins_the_team_and_keeps_an_existing_role(client, user):
    team = Team.objects.create(name="Ops")
    client.force_login(user)
    invite = make_invite(team=team, role=Role.MEMBER)
    page = client.get(f"/invite/{invite.token}/").content.decode()
    assert "Join Ops as member" in page
    assert not Membership.objects.filter(user=user).exists()  # a GET changes nothing
    assert client.post(f"/invite/{invite.token}/")["Location"] == "/"
    assert Membership.objects.get(team=team, user=user).role == "member"

    Membership.objects.filter(team=team, user=user).update(role=Role.OWNER)
    second = make_invite(team=team, role=Role.MEMBER)
    client.post(f"/invite/{second.token}/")
    assert Membership.objects.get(team=team, user=user).role == "owner"


@pytest.mark.django_db
def test_invite_tokens_are_random_and_expire_in_a_week():
    a, b = make_invite(), make_invite()
    assert a.token != b.token and len(a.token) >= 32
    assert timedelta(days=6) < a.expires_at - timezone.now() <= timedelta(days=7)


# --- teams and roles ---


@pytest.mark.django_db
def test_roles_are_stored_and_a_person_is_in_a_team_once(user, other_user):
    team = Team.objects.create(name="Core")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    Membership.objects.create(team=team, user=other_user)
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"alice": "owner", "bob": "member"}
    assert list(team.members.order_by("username")) == [user, other_user]
    with pytest.raises(IntegrityError):
        Membership.objects.create(team=team, user=user, role=Role.ADMIN)


# --- deactivation ---


@pytest.mark.django_db
def test_deactivated_user_is_locked_out_of_an_existing_session(client, user):
    conversation = Conversation.objects.create(owner=user, title="Mine")
    client.force_login(user)
    assert client.get(f"/c/{conversation.pk}/").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    for url in ("/", f"/c/{conversation.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_deactivated_user_cannot_log_in(client, user):
    user.is_active = False
    user.save()
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 200 and "didn't match" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
async def test_deactivated_user_socket_is_refused(user):
    conversation = await sync_to_async(Conversation.objects.create)(owner=user)
    comm = await communicator(conversation.pk, user)  # the session cookie exists already
    await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
    ok, code = await comm.connect()
    assert not ok and code == 4401


# --- admin ---


@pytest.mark.django_db
def test_admin_pages_for_accounts_work(admin_client, user):
    team = Team.objects.create(name="Core")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    invite = make_invite(team=team)
    for url in (
        "/admin/accounts/team/",
        f"/admin/accounts/team/{team.pk}/change/",
        "/admin/accounts/invite/",
        "/admin/accounts/invite/add/",
        "/admin/accounts/reviewlog/",
        f"/admin/auth/user/{user.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(f"/admin/accounts/invite/{invite.pk}/change/").content.decode()
    assert f'value="http://testserver/invite/{invite.token}/"' in page


@pytest.mark.django_db
def test_admin_creates_an_invite_from_the_add_form(admin_client):
    team = Team.objects.create(name="Core")
    expires = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = admin_client.post(
        "/admin/accounts/invite/add/",
        {
            "email": "new@example.com",
            "team": team.pk,
            "role": "admin",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302
    invite = Invite.objects.get()
    assert (invite.email, invite.team, invite.role) == ("new@example.com", team, "admin")
    assert invite.created_by.username == "admin"


@pytest.mark.django_db
def test_admin_action_creates_an_invite_link_for_a_team(admin_client):
    team = Team.objects.create(name="Core")
    response = admin_client.post(
        "/admin/accounts/team/",
        {"action": "create_invite", "_selected_action": [team.pk]},
        follow=True,
    )
    invite = Invite.objects.get(team=team)
    assert invite.role == "member" and invite.created_by.username == "admin"
    assert f"http://testserver/invite/{invite.token}/" in response.content.decode()


@pytest.mark.django_db
def test_admin_deactivate_action_spares_the_admin_themself(admin_client, user):
    admin = User.objects.get(username="admin")
    admin_client.post(
        "/admin/auth/user/",
        {"action": "deactivate", "_selected_action": [user.pk, admin.pk]},
    )
    user.refresh_from_db()
    admin.refresh_from_db()
    assert not user.is_active and admin.is_active


@pytest.mark.django_db
def test_review_log_cannot_be_edited_in_the_admin(admin_client, user):
    conversation = Conversation.objects.create(owner=user, title="Secret")
    log = ReviewLog.objects.create(
        reviewer=user, reviewer_name="alice", conversation=conversation, via="page"
    )
    assert admin_client.get("/admin/accounts/reviewlog/add/").status_code == 403
    assert admin_client.post(f"/admin/accounts/reviewlog/{log.pk}/delete/").status_code == 403
    assert ReviewLog.objects.filter(pk=log.pk).exists()
