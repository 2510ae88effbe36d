"""A non-200 answer read into an UpstreamError (chat.upstream.answers.http_error), exactly
(issue 13's mutation pass): which code picks our words, in each envelope servers send, and
what the log keeps of the server's own text (clipped, decoded leniently, redacted)."""

import logging

import orjson
import pytest

from chat.upstream import errors
from chat.upstream.answers import http_error

KEY = "configured-key-123456"


def read(
    status: int, raw: bytes, caplog, reason: str = "Reason"
) -> tuple[errors.UpstreamError, str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        err = http_error(status, reason, {}, raw, KEY)
    (record,) = [r for r in caplog.records if r.name == "chat.upstream.client"]
    return err, record.getMessage()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"error": {"code": "rate_limit_exceeded", "message": "m"}}, "rate_limit_exceeded"),
        ({"error": {"type": "server_error", "message": "m"}}, "server_error"),  # no code
        ({"error": {"code": None, "type": "invalid_api_key"}}, "invalid_api_key"),
        ({"code": "insufficient_quota", "message": "flat"}, "insufficient_quota"),  # no envelope
        # llama.cpp: an HTTP status as the code, the real reason in the type
        ({"error": {"code": 400, "type": "exceed_context_size_error"}}, "context_length_exceeded"),
        ({"error": {"code": 400, "type": "other_error"}}, "400"),
        ({"error": {"code": "Bearer abc def"}}, None),  # not an identifier: not kept
    ],
)
def test_the_code_of_each_envelope(payload, code, caplog):
    err, _ = read(400, orjson.dumps(payload), caplog)
    assert (err.kind, err.status, err.code) == (errors.HTTP, 400, code)
    assert err.message == errors.describe(400, code)


def test_the_context_error_of_llamacpp_is_never_retried(caplog):
    raw = orjson.dumps({"error": {"code": 400, "type": "exceed_context_size_error"}})
    err, _ = read(400, raw, caplog)
    assert err.message == errors.BY_CODE["context_length_exceeded"] and not err.retryable


@pytest.mark.parametrize(
    ("raw", "reason", "logged"),
    [
        (b'{"error": {"code": "server_error", "message": "the words"}}', "R",
         "upstream HTTP 500 server_error: the words"),
        (b'{"message": "flat words"}', "R", "upstream HTTP 500 -: flat words"),
        (b'{"error": "a plain string"}', "R", "upstream HTTP 500 -: a plain string"),
        (b'{"error": {"code": "x"}}', "R", 'upstream HTTP 500 x: {"error": {"code": "x"}}'),
        (b"  not json  ", "Reason Words", "upstream HTTP 500 -: not json"),
        (b"", "Reason Words", "upstream HTTP 500 -: Reason Words"),
        (b"   ", "Reason Words", "upstream HTTP 500 -: Reason Words"),
        (b"", "", "upstream HTTP 500 -: error"),
        (b"bad \xff\xfe bytes", "R", "upstream HTTP 500 -: bad \ufffd\ufffd bytes"),
    ],
)  # fmt: skip
def test_what_the_log_keeps_of_the_servers_text(raw, reason, logged, caplog):
    _, message = read(500, raw, caplog, reason)
    assert message == logged


def test_the_logged_text_is_clipped(caplog):
    _, message = read(500, b"a" * 400, caplog)
    assert message == "upstream HTTP 500 -: " + "a" * 300  # a body that is not JSON
    _, message = read(500, orjson.dumps({"message": "b" * 2000}), caplog)
    assert message == "upstream HTTP 500 -: " + "b" * 1000


def test_the_logged_text_is_redacted(caplog):
    raw = orjson.dumps({"error": {"message": f"key {KEY} and Bearer tok123 were sent"}})
    _, message = read(401, raw, caplog)
    assert message == "upstream HTTP 401 -: key [redacted] and Bearer [redacted] were sent"
