"""A non-200 answer to a stream request, turned into an UpstreamError (§8.2).

Shared by both transports (httpx in client.py, the bare reader in bare.py): each reads at
most MAX_ERROR_BODY bytes of the body its own way and hands over status, headers and bytes.
"""

import email.utils
import logging
import time
from collections.abc import Mapping

import orjson

from chat.upstream import errors
from chat.upstream.errors import UpstreamError

log = logging.getLogger("chat.upstream.client")

MAX_ERROR_BODY = 65_536  # bytes of a non-200 answer we read (for its code, and the logs)


def http_error(
    status: int, reason: str, headers: Mapping[str, str], raw: bytes, api_key: str
) -> UpstreamError:
    """Read the JSON error envelope `{"error": {...}}`: its code picks our words for the
    person (errors.describe); its text goes to the logs, redacted."""
    code, message = None, None
    try:
        payload = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            code = error.get("code") or error.get("type")
            if error.get("type") == "exceed_context_size_error":  # llama.cpp's code is 400
                code = "context_length_exceeded"
            message = error.get("message")
        elif isinstance(error, str):
            message = error
    if not message:
        message = raw[:300].decode("utf-8", "replace").strip() or reason or "error"
    code = errors.safe_code(code)
    detail = errors.redact(str(message)[:1000], [api_key])
    log.warning("upstream HTTP %s %s: %s", status, code or "-", detail)
    return UpstreamError(
        errors.HTTP,
        errors.describe(status, code),
        status=status,
        code=code,
        retry_after=retry_after(headers),
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, then `retry-after` in seconds or as an HTTP date."""
    if ms := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
