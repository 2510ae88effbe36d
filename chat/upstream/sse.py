"""SSE framing on httpx-sse's decoders, plus one leniency: the last event counts at EOF.

Two real recordings end with `data: {...}\n` and no blank line; the WHATWG algorithm (and
httpx-sse's `aiter_sse`) would drop that final event, which is the terminal
`response.failed`/`response.completed`. Losing it would lose the status, so we dispatch it.
"""

from collections.abc import AsyncIterator

import httpx
from httpx_sse import SSEError

# httpx-sse (pinned ~=0.4.3) keeps its decoders private; we use them for the framing rules.
from httpx_sse._decoders import SSEDecoder, SSELineDecoder


async def aiter_sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """Yield the `data` of each event (comments skipped, multi-line data joined by \\n)."""
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise SSEError(f"expected text/event-stream, got {content_type or 'no content type'!r}")
    lines, decoder = SSELineDecoder(), SSEDecoder()
    async for text in response.aiter_text():
        for line in lines.decode(text):
            event = decoder.decode(line)
            if event is not None:
                yield event.data
    for line in [*lines.flush(), ""]:
        event = decoder.decode(line)
        if event is not None:
            yield event.data
