"""Built-in tool: the current date and time, in a time zone the model names (IANA)."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from pydantic import BaseModel, Field

from chat.tools.registry import Tool, ToolContext, ToolError


class ClockArguments(BaseModel):
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone such as Europe/Paris; null for the server's time zone.",
    )


def current_time(arguments: ClockArguments, context: ToolContext) -> str:
    name = arguments.timezone or settings.TIME_ZONE
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"Unknown time zone {name!r}; use an IANA name like Europe/Paris."
        ) from None
    now = datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({now:%A}, time zone {name})"


TOOL = Tool(
    name="current_time",
    description="The current date, time and weekday in a time zone.",
    arguments=ClockArguments,
    func=current_time,
)
