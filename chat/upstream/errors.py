"""The one error type the upstream client raises, with what a person needs to know.

What a person sees is always in our own words, chosen by the server's error code or HTTP
status: an upstream's error text is hostile input (a 401 body that echoed the Authorization
header once put the API key on the page and in the admin, issue 13). The server's own text
goes only to the logs, through `redact`.
"""

import re
from collections.abc import Iterable
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
# Nor will a conversation that does not fit the model: the same request fails the same way.
NEVER_RETRY_CODES = frozenset(
    {"insufficient_quota", "credit_balance_exhausted", "context_length_exceeded"}
)

# Our words, by the server's code (responses-protocol.md §8), then by HTTP status.
BY_CODE = {
    "invalid_api_key": "The model server did not accept our API key. An administrator needs "
    "to check OPENAI_API_KEY.",
    "insufficient_quota": "The model provider's quota for this account is used up.",
    "credit_balance_exhausted": "The model provider's credit for this account is used up.",
    "rate_limit_exceeded": "The model server is limiting requests right now. Try again shortly.",
    "model_not_found": "The model server does not offer this model.",
    "context_length_exceeded": "The conversation was too long for the model to read. "
    "Send a shorter message (your next one leaves the oldest messages out to fit), or start a "
    "new conversation.",
    "server_error": "The model server had an internal error.",
    "server_is_overloaded": "The model server is overloaded right now. Try again shortly.",
    "invalid_prompt": "The model server refused this message.",
    "content_filter": "The model server's content filter stopped the answer.",
}
BY_STATUS = {
    400: "The model server rejected the request.",
    401: BY_CODE["invalid_api_key"],
    403: "The model server refused this request for this account.",
    404: "The model server does not offer this model or address.",
    408: "The model server timed out.",
    409: "The model server reported a conflict. Try again.",
    413: "The request was too large for the model server.",
    422: "The model server rejected the request.",
    429: BY_CODE["rate_limit_exceeded"],
    500: BY_CODE["server_error"],
    502: "The model server's gateway failed.",
    503: BY_CODE["server_is_overloaded"],
    504: "The model server's gateway timed out.",
}
_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_SECRETS = [
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),  # an echoed Authorization header
    re.compile(r"(?i)((?:api[_-]?key|authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
    re.compile(r"()\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),  # OpenAI-style keys
]


def describe(status: int | None, code: str | None) -> str:
    """What went wrong, in our words: by the server's code, then its HTTP status."""
    if code in BY_CODE:
        return BY_CODE[code]
    if status is None and code and code.isdigit():
        status = int(code)  # llama.cpp sends the HTTP status as the code
    if status in BY_STATUS:
        return BY_STATUS[status]
    if status:
        return f"The model server answered with an error (HTTP {status})."
    return "The model server reported an error."


def safe_code(value: object) -> str | None:
    """An error code fit to store and show: a short identifier, else none at all."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with credentials replaced: bearer tokens, key-like values, `sk-…` keys and the
    given secrets (the configured API key), for the logs."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
    return text


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
