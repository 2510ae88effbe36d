"""Built-in tool: search the asking person's own conversations (chat/permissions.py decides
which), newest first, answering with short excerpts."""

from django.contrib.auth import get_user_model
from pydantic import BaseModel, Field

from chat.models import Message
from chat.permissions import own_conversations
from chat.tools.registry import Tool, ToolContext

EXCERPT_CHARS = 300


class SearchArguments(BaseModel):
    query: str = Field(min_length=1, max_length=200, description="Words to look for.")
    limit: int | None = Field(
        default=None, ge=1, le=10, description="How many matches at most (1-10; null: 5)."
    )


def search_conversations(arguments: SearchArguments, context: ToolContext) -> str:
    user = get_user_model().objects.filter(pk=context.user_id).first()
    query = arguments.query.strip()
    matches = (
        Message.objects.filter(conversation__in=own_conversations(user), text__icontains=query)
        .exclude(status__in=Message.LIVE_STATUSES)
        .select_related("conversation")
        .order_by("-created_at", "-id")[: arguments.limit or 5]
    )
    lines = [
        f"- conversation {m.conversation_id} “{m.conversation}” ({m.role}, "
        f"{m.created_at:%Y-%m-%d}): {_excerpt(m.text, query)}"
        for m in matches
    ]
    if not lines:
        return f"No message in your conversations contains {query!r}."
    return "\n".join(lines)


def _excerpt(text: str, query: str) -> str:
    at = max(text.lower().find(query.lower()), 0)
    start = max(at - EXCERPT_CHARS // 3, 0)
    piece = " ".join(text[start : start + EXCERPT_CHARS].split())
    return ("…" if start else "") + piece + ("…" if start + EXCERPT_CHARS < len(text) else "")


TOOL = Tool(
    name="search_conversations",
    description="Search the person's own earlier conversations for messages with these words.",
    arguments=SearchArguments,
    func=search_conversations,
    uses_database=True,
)
