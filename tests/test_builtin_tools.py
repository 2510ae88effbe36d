"""The built-in function tools and the schemas the model sees."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.models import Conversation, Message
from chat.tools import calculator, clock, search
from chat.tools.registry import ToolContext, ToolError, strict_schema

CONTEXT = ToolContext(user_id=0, conversation_id=None)


@pytest.mark.parametrize(
    "expression,value",
    [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 10", 1024), ("7 / 2", 3.5), ("7 // 2", 3),
     ("-3 % 5", 2), ("sqrt(16)", 4.0), ("max(1, 5, 3)", 5), ("round(pi, 2)", 3.14)],
)  # fmt: skip
def test_calculator_computes(expression, value):
    assert calculator.evaluate(expression) == value


@pytest.mark.parametrize(
    "expression,error",
    [("__import__('os').system('id')", "Not allowed"), ("open('x')", "Not allowed"),
     ("(1).__class__", "Not allowed"), ("'a' * 3", "Not allowed"), ("1 / 0", "Division by zero"),
     ("9 ** 9 ** 9", "exponent"), ("2 ** 5000", "too large"), ("10 ** 400 * 10 ** 900", "too large"),
     ("factorial(10000)", "limited"), ("1 +", "not an arithmetic"), ("10.0 ** 400", "Cannot compute"),
     ("+".join(["1"] * 300), "too long")],
)  # fmt: skip
def test_calculator_refuses_what_is_not_bounded_arithmetic(expression, error):
    with pytest.raises(ToolError, match=error):
        calculator.evaluate(expression)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_calculator_never_raises_anything_but_a_tool_error(text):
    try:
        calculator.evaluate(text)
    except ToolError:
        pass


def test_clock_knows_time_zones():
    answer = clock.current_time(clock.ClockArguments(timezone="Asia/Tokyo"), CONTEXT)
    assert "+09:00" in answer and "Asia/Tokyo" in answer
    with pytest.raises(ToolError, match="Unknown time zone"):
        clock.current_time(clock.ClockArguments(timezone="../../etc/passwd"), CONTEXT)


@pytest.mark.django_db
def test_search_sees_only_the_persons_own_conversations(user, other_user):
    mine = Conversation.objects.create(owner=user, title="Trip plans")
    theirs = Conversation.objects.create(owner=other_user, title="Secret")
    Message.objects.create(conversation=mine, role="user", text="Pack the blue tent please")
    Message.objects.create(conversation=theirs, role="user", text="the blue tent is mine")
    found = search.search_conversations(
        search.SearchArguments(query="blue tent"), ToolContext(user.pk, None)
    )
    assert "Trip plans" in found and "Pack the blue tent" in found
    assert "Secret" not in found and "is mine" not in found
    none = search.search_conversations(
        search.SearchArguments(query="zebra"), ToolContext(user.pk, None)
    )
    assert none.startswith("No message")
    user.is_active = False
    user.save()
    gone = search.search_conversations(
        search.SearchArguments(query="blue tent"), ToolContext(user.pk, None)
    )
    assert gone.startswith("No message")


def test_strict_schemas_require_every_property_and_forbid_others():
    schema = strict_schema(clock.ClockArguments.model_json_schema())
    assert schema["required"] == ["timezone"]
    assert schema["additionalProperties"] is False
    assert "default" not in str(schema) and "title" not in schema
    loose = search.TOOL.declaration(strict=False)
    assert loose["strict"] is False and loose["parameters"]["required"] == ["query"]
