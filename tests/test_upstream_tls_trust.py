"""Which TLS trust the bare reader's pool uses (chat.upstream.pool._ssl_context, issue 13's
mutation pass): a certificate directory (SSL_CERT_DIR) counts as httpx counts it, a change
of either setting makes a new context rather than reusing one made for another trust, and
we offer only HTTP/1.1 in ALPN, so a server that prefers h2 still speaks what we read."""

import shutil
import ssl
import subprocess

import pytest

from chat.upstream import pool
from chat.upstream.client import UpstreamConfig, close_shared_client
from chat.upstream.errors import UpstreamError
from tests import raw_http as raw
from tests.raw_http import RawServer
from tests.test_upstream_tls import self_signed, stream_text

pytestmark = pytest.mark.timeout(60)


def server_context(certificate, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def cert_dir(directory, cert_file):
    """A directory in OpenSSL's hashed layout holding `cert_file` (what SSL_CERT_DIR names)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command names the hashed file")
    digest = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(cert_file)],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    directory.mkdir()
    (directory / f"{digest}.0").write_bytes(cert_file.read_bytes())
    return directory


@pytest.fixture
def clean_trust(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


async def test_a_certificate_directory_and_a_change_of_it(tmp_path, monkeypatch, clean_trust):
    certificate = self_signed(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    trusted = cert_dir(tmp_path / "trusted", certificate[0])
    async with RawServer(tls=server_context(certificate)) as server:
        server.script(raw.chunked_answer("dir"))
        cfg = UpstreamConfig(base_url=server.url("https"), max_retries=0)
        try:
            monkeypatch.setenv("SSL_CERT_DIR", str(empty))
            with pytest.raises(UpstreamError):
                await stream_text(cfg)  # nothing trusted there
            monkeypatch.setenv("SSL_CERT_DIR", str(trusted))
            assert await stream_text(cfg) == "dir"  # a new context, not the one made above
        finally:
            await close_shared_client()


async def test_a_change_of_certificate_file_makes_a_new_context(tmp_path, monkeypatch, clean_trust):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = self_signed(tmp_path / "a"), self_signed(tmp_path / "b")
    async with (
        RawServer(tls=server_context(first)) as one,
        RawServer(tls=server_context(second)) as two,
    ):
        one.script(raw.chunked_answer("one"))
        two.script(raw.chunked_answer("two"))
        try:
            monkeypatch.setenv("SSL_CERT_FILE", str(first[0]))
            cfg = UpstreamConfig(base_url=one.url("https"), max_retries=0)
            assert await stream_text(cfg) == "one"
            monkeypatch.setenv("SSL_CERT_FILE", str(second[0]))
            cfg = UpstreamConfig(base_url=two.url("https"), max_retries=0)
            assert await stream_text(cfg) == "two"
        finally:
            await close_shared_client()


async def test_only_http11_is_offered_in_alpn(tmp_path, monkeypatch, clean_trust):
    certificate = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    chosen = []

    async def note_alpn(writer, request):
        chosen.append(writer.get_extra_info("ssl_object").selected_alpn_protocol())
        return await raw.chunked_answer("alpn")(writer, request)

    async with RawServer(tls=server_context(certificate, ["h2", "http/1.1"])) as server:
        server.script(note_alpn)
        try:
            cfg = UpstreamConfig(base_url=server.url("https"), max_retries=0)
            assert await stream_text(cfg) == "alpn"
        finally:
            await close_shared_client()
    assert chosen == ["http/1.1"]
    assert pool._ssl_context().verify_mode == ssl.CERT_REQUIRED
