"""Commands a browser may send over the socket. Strict: anything else is refused clearly."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Command(BaseModel):
    # htmx's ws extension adds the request headers to every message as "HEADERS".
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    headers: dict[str, Any] | None = Field(default=None, alias="HEADERS")


class Send(_Command):
    action: Literal["send"]
    message: str = Field(max_length=1_000_000)


class Stop(_Command):
    action: Literal["stop"]


class Retry(_Command):
    """Regenerate an answer (any, ended): a new sibling answer to the same question."""

    action: Literal["retry"]
    message: int  # the id of the answer to retry


class Edit(_Command):
    """Replace a question by a new version (a sibling) and answer it."""

    action: Literal["edit"]
    message: int  # the id of the question edited
    text: str = Field(max_length=1_000_000)


class Switch(_Command):
    """Show another version (‹ 2/3 ›): the branch through that message, in every tab."""

    action: Literal["switch"]
    message: int


class ApproveTool(_Command):
    """Approve or deny an MCP tool request (chat/tools/approval.py)."""

    action: Literal["approve_tool"]
    message: int  # the answer holding the request
    request: str = Field(min_length=1, max_length=200)  # the request item's id
    approve: Literal["true", "false"]  # form values arrive as text


class Continue(_Command):
    """Go on with an incomplete answer: one more round into the same message."""

    action: Literal["continue"]
    message: int  # the incomplete answer


AnyCommand = Send | Stop | Retry | Edit | Switch | ApproveTool | Continue
Command = Annotated[AnyCommand, Field(discriminator="action")]
command_adapter: TypeAdapter[AnyCommand] = TypeAdapter(Command)

MAX_FRAME_BYTES = 1_100_000  # a frame larger than this is refused before parsing
