"""The bare reader over TLS (a loopback server with a certificate made for the test) and the
proxy rule: a stream to a host the environment proxies goes through httpx instead."""

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest

from chat.turns.state import TurnState
from chat.upstream import bare, errors, pool
from chat.upstream.client import UpstreamConfig, close_shared_client, stream_response
from chat.upstream.errors import UpstreamError
from tests import raw_http as raw
from tests.raw_http import RawServer

pytestmark = pytest.mark.timeout(60)
BODY = {"model": "m", "input": "hi"}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509", reason="the cryptography package makes it")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def certificate(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
async def tls_server(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    async with RawServer(tls=context) as server:
        yield server
    await close_shared_client()


async def stream_text(cfg: UpstreamConfig) -> str:
    state = TurnState()
    async for event in stream_response(BODY, config=cfg):
        state.apply(event)
    return state.text


async def test_https_stream_with_a_trusted_certificate(tls_server, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # httpx's rule, ours too
    tls_server.script(raw.chunked_answer("over tls"), raw.chunked_answer("again"))
    for host in ("127.0.0.1", "localhost"):
        cfg = UpstreamConfig(base_url=tls_server.url("https", host), max_retries=0)
        assert await stream_text(cfg) == ("overtls" if host == "127.0.0.1" else "again")
    assert tls_server.connections == 2  # one per host name: never shared across names
    assert tls_server.requests[1].headers["host"] == f"localhost:{tls_server.port}"


async def test_https_with_an_untrusted_certificate_fails_to_connect(tls_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls_server.script(raw.chunked_answer("never"))
    cfg = UpstreamConfig(base_url=tls_server.url("https"), max_retries=0)
    with pytest.raises(UpstreamError) as caught:
        await stream_text(cfg)
    assert caught.value.kind == errors.CONNECT
    assert tls_server.requests == []


async def test_tls_connections_are_kept_alive(tls_server, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    tls_server.script(*(raw.chunked_answer(f"t{i}") for i in range(3)))
    cfg = UpstreamConfig(base_url=tls_server.url("https"), max_retries=0)
    assert [await stream_text(cfg) for _ in range(3)] == ["t0", "t1", "t2"]
    assert tls_server.connections == 1


@pytest.mark.parametrize(
    "env, proxied",
    [
        ({}, False),
        ({"HTTP_PROXY": "http://proxy:3128"}, True),
        ({"http_proxy": "http://proxy:3128"}, True),
        ({"ALL_PROXY": "http://proxy:3128"}, True),
        ({"HTTPS_PROXY": "http://proxy:3128"}, False),  # the URL is http: not for it
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "127.0.0.1"}, False),
        ({"ALL_PROXY": "http://proxy:3128", "no_proxy": "*"}, False),
    ],
)
def test_which_urls_go_through_a_proxy(monkeypatch, env, proxied):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert bare.uses_proxy("http://127.0.0.1:9/v1/responses") is proxied


@pytest.mark.parametrize("variable", ["ALL_PROXY", "HTTP_PROXY"])
async def test_a_proxied_host_streams_through_httpx(monkeypatch, variable):
    """With ALL_PROXY (or the URL scheme's own variable) naming our own loopback server as the
    proxy, httpx sends it the request in proxy form (an absolute URL), which the bare reader
    never does."""
    async with RawServer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
        proxy.script(raw.chunked_answer("via proxy"))
        cfg = UpstreamConfig(base_url="http://upstream.invalid/v1", max_retries=0)
        try:
            assert await stream_text(cfg) == "viaproxy"
        finally:
            await close_shared_client()
        assert proxy.requests[0].line == b"POST http://upstream.invalid/v1/responses HTTP/1.1"
        assert pool._pools.get(asyncio.get_running_loop()) is None  # the bare pool unused


def test_https_on_uvloop(certificate, monkeypatch):
    """uvloop has its own TLS implementation: the production loop, checked on its own."""
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    async def scenario() -> tuple[list[str], int]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        async with RawServer(tls=context) as server:
            server.script(*(raw.chunked_answer(f"s{i}") for i in range(2)))
            cfg = UpstreamConfig(base_url=server.url("https"), max_retries=0)
            try:
                texts = [await stream_text(cfg) for _ in range(2)]
            finally:
                await close_shared_client()
            return texts, server.connections

    assert uvloop.run(scenario()) == (["s0", "s1"], 1)
