"""Regenerate, edit and switch versions over the socket: the message tree (chat/tree.py,
chat/branches.py), what the upstream is asked, and who may change the branch."""

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Membership, Team
from chat.consumers import READ_ONLY
from chat.models import Conversation, Message
from chat.tree import Tree
from tests import fake_upstream as fake
from tests.relay_client import connected, receive_until, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_registry")]
FINAL = 'id="turn-controls" class="turn-controls" data-live="false"'


@pytest.fixture
def conversation(user):
    return Conversation.objects.create(owner=user, title="Tree")


async def turn(comm, upstream, reply, **fields):
    """One whole turn: the command, then frames until the answer ended."""
    upstream.enqueue(fake.text_stream(reply, delay=0))
    await send(comm, **fields)
    return await receive_until(comm, FINAL)


def rows(conversation):
    return list(
        Message.objects.filter(conversation=conversation)
        .order_by("id")
        .values_list("id", "parent_id", "role", "text")
    )


def inputs(request):
    return [(i.get("role"), i.get("content")) for i in request["json"]["input"] if "role" in i]


def test_a_tree_shows_the_newest_line_below_the_chosen_message():
    class N:
        def __init__(self, id, parent_id):
            self.id, self.parent_id = id, parent_id

    # 1 -> 2 -> {3 -> 4, 5 -> {6, 7}}
    tree = Tree([N(1, None), N(2, 1), N(3, 2), N(4, 3), N(5, 2), N(6, 5), N(7, 5)])
    assert [n.id for n in tree.shown(None)] == [1, 2, 5, 7]  # none chosen: the newest message
    assert [n.id for n in tree.shown(3)] == [1, 2, 3, 4]
    assert [n.id for n in tree.shown(6)] == [1, 2, 5, 6]
    assert [n.id for n in tree.shown(2)] == [1, 2, 5, 7]  # below: the newest reply each step
    nav = tree.nav(5)
    assert (nav.index, nav.count, nav.prev_id, nav.next_id) == (2, 2, 3, None)
    assert tree.nav(1) is None and tree.nav(4) is None
    # A hostile cycle (imported rows) cannot loop for ever.
    looped = Tree([N(1, 2), N(2, 1)])
    assert len(looped.ancestors(1)) == 2


def test_messages_made_without_a_parent_continue_the_branch_on_screen(conversation):
    first = Message.objects.create(conversation=conversation, role="user", text="q")
    second = Message.objects.create(conversation=conversation, role="assistant", text="a")
    assert (first.parent_id, second.parent_id) == (None, first.pk)


async def test_regenerate_adds_a_sibling_answer_and_asks_the_same_question(
    upstream, conversation, user
):
    comm = await connected(conversation.pk, user)
    await turn(comm, upstream, "First answer.", action="send", message="Question one?")
    first = await sync_to_async(rows)(conversation)
    answer_id = first[-1][0]
    frames = await turn(comm, upstream, "Second answer.", action="retry", message=answer_id)
    after = await sync_to_async(rows)(conversation)
    questions = [r for r in after if r[2] == "user"]
    answers = [r for r in after if r[2] == "assistant"]
    assert [q[3] for q in questions] == ["Question one?"]  # never a second copy
    assert [a[1] for a in answers] == [questions[0][0]] * 2  # siblings
    assert [a[3] for a in answers] == ["First answer.", "Second answer."]
    joined = "".join(frames)
    # The old answer leaves the page (kept as a version), the new one says 2/2.
    assert f'id="m{answer_id}" hx-swap-oob="delete"' in joined
    assert "2/2" in joined and f'name="message" value="{answer_id}"' in joined
    # Both requests carried the same input: the question alone.
    assert [inputs(r) for r in upstream.requests] == [[("user", "Question one?")]] * 2
    await comm.disconnect()


async def test_edit_keeps_the_old_question_and_the_next_turn_follows_the_new_branch(
    upstream, conversation, user
):
    comm = await connected(conversation.pk, user)
    await turn(comm, upstream, "A1.", action="send", message="Q1")
    await turn(comm, upstream, "A2.", action="send", message="Q2")
    q2 = (await sync_to_async(rows)(conversation))[2]
    assert q2[3] == "Q2"
    await turn(comm, upstream, "A2 edited.", action="edit", message=q2[0], text="Q2 edited")
    await turn(comm, upstream, "A3.", action="send", message="Q3")
    all_rows = await sync_to_async(rows)(conversation)
    texts = {r[3]: r for r in all_rows}
    assert texts["Q2 edited"][1] == q2[1]  # a sibling of Q2: same parent (A1)
    assert texts["Q2"][0] in {r[0] for r in all_rows}  # the old version is kept
    assert inputs(upstream.requests[2]) == [
        ("user", "Q1"),
        ("assistant", "A1."),
        ("user", "Q2 edited"),
    ]
    # The next turn follows the branch on screen: the edited question, not the old one.
    assert inputs(upstream.requests[3]) == [
        ("user", "Q1"), ("assistant", "A1."), ("user", "Q2 edited"), ("assistant", "A2 edited."),
        ("user", "Q3"),
    ]  # fmt: skip
    await comm.disconnect()


async def test_switching_versions_moves_every_tab_and_the_next_input(upstream, conversation, user):
    tab1 = await connected(conversation.pk, user)
    await turn(tab1, upstream, "A1.", action="send", message="Q1")
    a1 = (await sync_to_async(rows)(conversation))[-1][0]
    await turn(tab1, upstream, "A1 again.", action="retry", message=a1)
    tab2 = await connected(conversation.pk, user)
    await tab2.receive_from(timeout=5)  # the connect-time render of the latest answer
    await send(tab1, action="switch", message=a1)
    for tab in (tab1, tab2):
        frame = await receive_until(tab, 'id="transcript"')
        joined = "".join(frame)
        assert "A1." in joined and "A1 again." not in joined and "1/2" in joined
    stored = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert stored.current_leaf_id == a1
    await turn(tab1, upstream, "A2.", action="send", message="Q2")
    assert inputs(upstream.requests[-1]) == [("user", "Q1"), ("assistant", "A1."), ("user", "Q2")]
    await tab1.disconnect()
    await tab2.disconnect()


async def test_nothing_switches_or_regenerates_under_a_live_answer(upstream, conversation, user):
    comm = await connected(conversation.pk, user)
    await turn(comm, upstream, "A1.", action="send", message="Q1")
    a1 = (await sync_to_async(rows)(conversation))[-1][0]
    await turn(comm, upstream, "A1 again.", action="retry", message=a1)
    upstream.enqueue(fake.text_stream("slow " * 200, chunk=5, delay=0.01))
    await send(comm, action="send", message="Q2")
    await receive_until(comm, 'data-live="true"')
    await send(comm, action="switch", message=a1)
    assert await receive_until(comm, "switch versions once it is done")  # fails by timeout
    await send(comm, action="retry", message=a1)
    assert await receive_until(comm, "still being written")
    await receive_until(comm, FINAL)  # the live answer went on and was saved
    live = await sync_to_async(Message.objects.filter(conversation=conversation).latest)("id")
    assert live.status == "completed" and live.text.startswith("slow")
    stored = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert stored.current_leaf_id != a1  # the refused switch changed nothing
    await comm.disconnect()


async def test_read_only_viewers_follow_but_cannot_regenerate_edit_or_switch(
    upstream, conversation, user, other_user
):
    def share():
        team = Team.objects.create(name="crew")
        Membership.objects.create(team=team, user=user)
        Membership.objects.create(team=team, user=other_user)
        Conversation.objects.filter(pk=conversation.pk).update(shared_with=team)

    await sync_to_async(share)()
    owner = await connected(conversation.pk, user)
    await turn(owner, upstream, "A1.", action="send", message="Q1")
    q1, a1 = (r[0] for r in await sync_to_async(rows)(conversation))
    await turn(owner, upstream, "A1 again.", action="retry", message=a1)
    viewer = await connected(conversation.pk, other_user)
    await viewer.receive_from(timeout=5)
    before = await sync_to_async(rows)(conversation)
    for fields in (
        {"action": "retry", "message": a1},
        {"action": "edit", "message": q1, "text": "mine"},
        {"action": "switch", "message": a1},
    ):
        await send(viewer, **fields)
        assert READ_ONLY in await viewer.receive_from(timeout=5)
    assert await sync_to_async(rows)(conversation) == before
    # The owner's switch reaches the viewer, without version buttons.
    await send(owner, action="switch", message=a1)
    seen = "".join(await receive_until(viewer, 'id="transcript"'))
    assert "1/2" in seen and 'value="switch"' not in seen and "Regenerate" not in seen
    await owner.disconnect()
    await viewer.disconnect()


def test_the_migration_links_existing_messages_in_order(conversation, user):
    """0011's data step on rows without parents, as every row was before it."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("chat.migrations.0011_message_tree")
    other = Conversation.objects.create(owner=user)
    made = {
        convo.pk: [
            Message.objects.create(conversation=convo, role=role, text=role).pk
            for role in ("user", "assistant", "user", "assistant")
        ]
        for convo in (conversation, other)
    }
    Message.objects.update(parent=None)
    migration.link_linearly(apps, None)
    for convo_id, ids in made.items():
        parents = list(
            Message.objects.filter(conversation_id=convo_id)
            .order_by("id")
            .values_list("parent_id", flat=True)
        )
        assert parents == [None, *ids[:-1]]


def test_exports_carry_the_tree_and_the_markdown_the_version_shown(conversation):
    from chat.history import export

    question = Message.objects.create(conversation=conversation, role="user", text="Q")
    first = Message.objects.create(conversation=conversation, role="assistant", text="Old one")
    Message.objects.create(
        conversation=conversation, role="assistant", text="New one", parent=question
    )
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=first)
    conversation.refresh_from_db()
    document = export.conversation_document(conversation)
    assert [m["parent_id"] for m in document["messages"]] == [None, question.pk, question.pk]
    assert document["conversation"]["current_leaf_id"] == first.pk
    markdown = export.as_markdown(conversation)
    assert "Old one" in markdown and "New one" not in markdown
    assert "other versions (1 messages)" in markdown


async def test_a_tab_that_connects_is_sent_the_answer_at_the_end_of_the_branch_shown(
    upstream, conversation, user
):
    """A page rendered while the turn was live is brought up to date by that answer's frame."""
    comm = await connected(conversation.pk, user)
    await turn(comm, upstream, "A1.", action="send", message="Q1")
    await turn(comm, upstream, "A2.", action="send", message="Q2")
    ids = [r[0] for r in await sync_to_async(rows)(conversation)]
    late = await connected(conversation.pk, user)
    assert f'id="m{ids[3]}"' in await late.receive_from(timeout=5)  # the newest, not A1
    await late.disconnect()
    await turn(comm, upstream, "A2 again.", action="retry", message=ids[3])
    await send(comm, action="switch", message=ids[3])
    await receive_until(comm, 'id="transcript"')
    late = await connected(conversation.pk, user)
    assert f'id="m{ids[3]}"' in await late.receive_from(timeout=5)  # the version shown
    await late.disconnect()
    await comm.disconnect()
