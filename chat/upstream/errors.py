"""The one error type the upstream client raises, with what a person needs to know."""

from dataclasses import dataclass

# kind values, each a distinct way a request can end badly:
CONNECT = "connect"  # refused, DNS, TLS: nothing reached the server
CONNECT_TIMEOUT = "connect_timeout"
FIRST_EVENT_TIMEOUT = "first_event_timeout"  # connected, but no event arrived in time
IDLE_TIMEOUT = "idle_timeout"  # the stream stalled between events
HTTP = "http"  # a non-200 answer before the stream (status, code, message)
PROTOCOL = "protocol"  # not an event stream at all
STREAM_CUT = "stream_cut"  # the connection broke, or ended without a terminal event

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# A quota error will fail again however long we wait (responses-protocol.md §8.2).
NEVER_RETRY_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted"})


@dataclass
class UpstreamError(Exception):
    kind: str
    message: str
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else self.kind
        return f"{where}: {self.message}"

    @property
    def retryable(self) -> bool:
        if self.code in NEVER_RETRY_CODES:
            return False
        if self.kind == HTTP:
            return self.status in RETRYABLE_STATUSES
        # A server that accepted but stayed silent would likely do it again: not retried.
        return self.kind in {CONNECT, CONNECT_TIMEOUT, STREAM_CUT}

    @property
    def error_code(self) -> str:
        """A stable code to store and show: the server's own code when it gave one."""
        if self.code:
            return self.code
        if self.kind == HTTP:
            return f"http_{self.status}"
        return self.kind
