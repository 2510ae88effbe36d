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

# One event may hold at most this much; a longer one is dropped as it comes (never buffered
# whole) and reported as one malformed event (issue 13: bound every size from upstream).
MAX_EVENT_BYTES = 8 * 1024 * 1024
TOO_LARGE = b"(an event larger than 8 MiB, not read)"  # not JSON: parsed as MALFORMED


class SSEFramer:
    """Turns raw body chunks into the `data` of each complete event (bytes)."""

    __slots__ = ("_parts", "_cr", "_size", "_skipping")

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the unfinished event, normalised to \n endings
        self._cr = False  # a chunk ended in \r: it may be the first half of \r\n
        self._size = 0  # bytes in _parts
        self._skipping = False  # inside an event past MAX_EVENT_BYTES: dropped to its end

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of every event this chunk completes; b"" for an event without data."""
        if not self._parts and not self._cr and chunk.endswith(b"\n\n") and b"\r" not in chunk:
            if not self._skipping:
                # The usual chunk: whole events (at a relay's pace, one).
                return _data_of(chunk[:-2].split(b"\n\n"))
        if self._skipping:
            return self._skip(chunk)
        return _data_of(self._complete(chunk))

    def _skip(self, chunk: bytes) -> list[bytes]:
        """Drop the rest of a too-large event; go on after its blank line."""
        if self._cr or b"\r" in chunk:
            chunk = self._normalise(chunk)
        held = self._parts[0] if self._parts else b""  # at most a "\n" ending the last chunk
        self._parts.clear()
        chunk = held + chunk
        end = chunk.find(b"\n\n")
        if end < 0:
            if chunk.endswith(b"\n"):
                self._parts.append(b"\n")  # may be half of the blank line
            return []
        self._skipping = False
        rest = chunk[end + 2 :]
        return self.feed(rest) if rest else []

    def _complete(self, chunk: bytes) -> list[bytes]:
        """The events completed by this chunk and what came before; the rest waits."""
        if self._cr or b"\r" in chunk:
            chunk = self._normalise(chunk)
        parts = self._parts
        if b"\n\n" not in chunk and not (parts and parts[-1][-1:] == b"\n" and chunk[:1] == b"\n"):
            if chunk:
                parts.append(chunk)  # joined once, when the event is complete
                self._size += len(chunk)
                if self._size > MAX_EVENT_BYTES:
                    return self._too_large(chunk)
            return []
        if parts:
            parts.append(chunk)
            chunk = b"".join(parts)
            parts.clear()
            self._size = 0
        end = chunk.rfind(b"\n\n")
        if end + 2 < len(chunk):
            parts.append(chunk[end + 2 :])
            self._size = len(parts[0])
            if self._size > MAX_EVENT_BYTES:
                return [*chunk[:end].split(b"\n\n"), *self._too_large(parts[0])]
        return chunk[:end].split(b"\n\n")

    def _too_large(self, last: bytes) -> list[bytes]:
        """Forget the event so far; drop the rest of it as it comes (see _skip)."""
        self._parts.clear()
        self._size = 0
        self._skipping = True
        if last.endswith(b"\n"):
            self._parts.append(b"\n")
        return [b"data: " + TOO_LARGE]  # one block: reported once as a malformed event

    def close(self) -> list[bytes]:
        """At EOF: the unfinished event counts as if its blank line had come."""
        tail = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._cr = False  # a held \r only ended a line
        if self._skipping:
            self._skipping = False
            return []
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
