"""SSE framing on raw bytes, a whole network chunk at a time (responses-protocol.md §1).

Python code per line was most of the read path's CPU, so events are cut at `\\n\\n` in bulk and
the usual block (`data: {...}` or `event: x\\ndata: {...}`) costs one slice. Anything else goes
through the full field rules: comments, `event:`/`id:`/`retry:` ignored, multi-line `data:`
joined with `\\n`, no space after the colon, `\\r\\n` and lone `\\r` line endings.

The data stays bytes: orjson reads UTF-8 itself, and a character split across chunks is made
whole again before its event is cut (`\\n` never occurs inside a multi-byte sequence).

One leniency: the last event counts at EOF. Two real recordings end with `data: {...}\\n` and
no blank line; the WHATWG algorithm would drop that final event, which is the terminal
`response.failed`/`response.completed`. Losing it would lose the status, so we dispatch it.
"""

from __future__ import annotations


class SSEFramer:
    """Turns raw body chunks into the `data` of each complete event (bytes)."""

    __slots__ = ("_parts", "_cr")

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the unfinished event, normalised to \n endings
        self._cr = False  # a chunk ended in \r: it may be the first half of \r\n

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of every event this chunk completes; b"" for an event without data."""
        if not self._parts and not self._cr and chunk.endswith(b"\n\n") and b"\r" not in chunk:
            # The usual chunk: whole events (at a relay's pace, one).
            return _data_of(chunk[:-2].split(b"\n\n"))
        return _data_of(self._complete(chunk))

    def _complete(self, chunk: bytes) -> list[bytes]:
        """The events completed by this chunk and what came before; the rest waits."""
        if self._cr or b"\r" in chunk:
            chunk = self._normalise(chunk)
        parts = self._parts
        if b"\n\n" not in chunk and not (parts and parts[-1][-1:] == b"\n" and chunk[:1] == b"\n"):
            if chunk:
                parts.append(chunk)  # joined once, when the event is complete
            return []
        if parts:
            parts.append(chunk)
            chunk = b"".join(parts)
            parts.clear()
        end = chunk.rfind(b"\n\n")
        if end + 2 < len(chunk):
            parts.append(chunk[end + 2 :])
        return chunk[:end].split(b"\n\n")

    def close(self) -> list[bytes]:
        """At EOF: the unfinished event counts as if its blank line had come."""
        tail = b"".join(self._parts)
        self._parts.clear()
        self._cr = False  # a held \r only ended a line
        return _data_of([tail]) if tail else []

    def _normalise(self, chunk: bytes) -> bytes:
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.endswith(b"\r"):
            # Hold it back: with the next chunk's first byte it may make one \r\n, not two ends.
            self._cr = True
            chunk = chunk[:-1]
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _data_of(blocks: list[bytes]) -> list[bytes]:
    out = []
    for block in blocks:
        # Fast paths: OpenAI's `event: <type>\ndata: <json>`, and gateways' bare `data: <json>`.
        if block.startswith(b"event:"):
            nl = block.find(b"\n")
            if nl > 0 and block.startswith(b"data: ", nl + 1) and block.find(b"\n", nl + 1) < 0:
                out.append(block[nl + 7 :])
                continue
        elif block.startswith(b"data: ") and b"\n" not in block:
            out.append(block[6:])
            continue
        data = _parse_block(block)
        if data is not None:
            out.append(data)
    return out


def _parse_block(block: bytes) -> bytes | None:
    """The field rules for one event, line by line; None when nothing is dispatched."""
    data: list[bytes] = []
    dispatch = False
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue  # edge of a run of blank lines, or a comment
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name in (b"event", b"id", b"retry"):
            dispatch = True  # an event without data: nothing to parse, but it is a sign of life
    if data:
        return b"\n".join(data)
    return b"" if dispatch else None
