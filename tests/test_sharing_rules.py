"""The sharing rules of chat/permissions.py on their own, beneath the views and forms that
also enforce them (survivors of `make mutate` showed the rules were only tested through those)."""

import pytest

from accounts.models import Membership, Role, Team
from chat import permissions
from chat.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(django_user_model):
    make = django_user_model.objects.create_user  # no password: no slow hashing
    return make(username="owner"), make(username="member"), make(username="stranger")


def team(name: str, *members) -> Team:
    created = Team.objects.create(name=name)
    for member in members:
        Membership.objects.create(team=created, user=member, role=Role.MEMBER)
    return created


def test_only_the_owner_shares_and_only_with_their_own_team(people):
    owner, member, stranger = people
    ours, theirs = team("ours", owner, member), team("theirs", member, stranger)
    conversation = Conversation.objects.create(owner=owner, title="c")
    assert permissions.can_share(owner, conversation, ours)
    assert permissions.can_share(owner, conversation, None)  # making it private
    assert not permissions.can_share(owner, conversation, theirs)  # not the owner's team
    assert not permissions.can_share(member, conversation, ours)  # not the owner
    assert not permissions.can_share(stranger, conversation, None)


def test_shared_with_lists_others_conversations_in_common_teams_only(people):
    owner, member, stranger = people
    ours = team("ours", owner, member)
    shared = Conversation.objects.create(owner=owner, title="shared", shared_with=ours)
    Conversation.objects.create(owner=owner, title="private")
    mine = Conversation.objects.create(owner=member, title="mine", shared_with=ours)
    assert list(permissions.shared_with(member)) == [shared]
    assert list(permissions.shared_with(owner)) == [mine]  # never one's own
    assert list(permissions.shared_with(stranger)) == []


def test_a_share_ends_when_the_owner_leaves_the_team(people):
    owner, member, _ = people
    ours = team("ours", owner, member)
    team("elsewhere", owner, member)  # still together in another team
    conversation = Conversation.objects.create(owner=owner, title="c", shared_with=ours)
    assert list(permissions.shared_with(member)) == [conversation]
    Membership.objects.filter(team=ours, user=owner).delete()
    assert list(permissions.shared_with(member)) == []
    assert not permissions.can_view(member, conversation)


def test_the_shared_list_reads_owners_in_the_same_query(people, django_assert_num_queries):
    owner, member, _ = people
    ours = team("ours", owner, member)
    for n in range(3):
        Conversation.objects.create(owner=owner, title=f"c{n}", shared_with=ours)
    with django_assert_num_queries(1):
        names = [(c.owner.username, c.shared_with.name) for c in permissions.shared_with(member)]
    assert names == [("owner", "ours")] * 3


def test_watchers_of_a_conversation_are_its_owner_and_its_team(people):
    owner, member, stranger = people
    team("theirs", stranger, member)  # memberships first: their ids differ from the people's
    ours = team("ours", owner, member)
    private = Conversation.objects.create(owner=owner, title="private")
    shared = Conversation.objects.create(owner=owner, title="shared", shared_with=ours)
    assert permissions.watchers_of(private) == [owner.pk]
    assert permissions.watchers_of(shared) == sorted([owner.pk, member.pk])
