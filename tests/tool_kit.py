"""Function tools for tests (CHAT_TOOLS points at them by dotted path)."""

import asyncio

from pydantic import BaseModel

from chat.tools.registry import Tool, ToolContext

BUILTINS = ["chat.tools.clock.TOOL", "chat.tools.calculator.TOOL", "chat.tools.search.TOOL"]


class NoArguments(BaseModel):
    pass


def _boom(arguments: NoArguments, context: ToolContext) -> str:
    raise RuntimeError("secret internals that must not reach the model")


async def _hang(arguments: NoArguments, context: ToolContext) -> str:
    await asyncio.Event().wait()  # never answers: only the per-call timeout ends it
    return ""


BOOM = Tool(name="boom", description="Always raises.", arguments=NoArguments, func=_boom)
HANG = Tool(name="hang", description="Never answers.", arguments=NoArguments, func=_hang)

# Two calls that can only both finish if they run at the same time.
_barrier: asyncio.Barrier | None = None


async def _meet(arguments: NoArguments, context: ToolContext) -> str:
    global _barrier
    if _barrier is None:
        _barrier = asyncio.Barrier(2)
    await _barrier.wait()
    return "met"


def reset_meeting() -> None:
    global _barrier
    _barrier = None


MEET = Tool(name="meet", description="Waits for a second call.", arguments=NoArguments, func=_meet)


def _hostile(arguments: NoArguments, context: ToolContext) -> str:
    return '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


HOSTILE = Tool(name="hostile", description="Answers HTML.", arguments=NoArguments, func=_hostile)


def _whoami(arguments: NoArguments, context: ToolContext) -> str:
    return f"user={context.user_id} conversation={context.conversation_id}"


WHOAMI = Tool(name="whoami", description="Says who asked.", arguments=NoArguments, func=_whoami)
