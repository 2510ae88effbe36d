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
    action: Literal["retry"]
    message: int  # the id of the answer to retry


Command = Annotated[Send | Stop | Retry, Field(discriminator="action")]
command_adapter: TypeAdapter[Send | Stop | Retry] = TypeAdapter(Command)

MAX_FRAME_BYTES = 1_100_000  # a frame larger than this is refused before parsing
