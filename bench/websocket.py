"""The benchmark's bare RFC 6455 client: text frames in (fragments, ping, deflate), text out.

A plain asyncio protocol on uvloop, so that reading hundreds of sockets costs the client
process little CPU next to the server under test. It offers permessage-deflate as browsers do.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import zlib


class WSClient(asyncio.Protocol):
    """A bare RFC 6455 client: text frames in (fragments and deflate handled), text out."""

    def __init__(self, host: str, port: int, path: str, cookie: str, deflate: bool) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Origin: http://{host}:{port}\r\nCookie: sessionid={cookie}\r\n"
            + (
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                if deflate
                else ""
            )
            + "\r\n"
        ).encode()
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.upgraded = False
        self.deflate = False
        self.reset_inflater = False
        self.inflater = None
        self.fragments: list[bytes] = []
        self.compressed = False
        self.on_message = None  # callable(t, text)
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        elif self.close_code is None:
            self.close_code = 1006

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            status = head.split("\r\n", 1)[0]
            if " 101 " not in status + " ":
                self.opened.set_exception(ConnectionError(f"handshake refused: {status}"))
                self.transport.close()
                return
            ext = ""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-extensions":
                    ext = value.lower()
            if "permessage-deflate" in ext:
                self.deflate = True
                self.reset_inflater = "server_no_context_takeover" in ext
                self.inflater = zlib.decompressobj(-15)
            self.upgraded = True
            self.opened.set_result(True)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buf
        while True:
            if len(buf) < 2:
                return
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                pos = 10
            if b1 & 0x80:
                pos += 4  # servers never mask; skip a key if one did
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            del buf[: pos + length]
            opcode = b0 & 0x0F
            if opcode in (1, 2, 0):
                if opcode:
                    self.compressed = bool(b0 & 0x40)
                self.fragments.append(payload)
                if b0 & 0x80:
                    data = b"".join(self.fragments)
                    self.fragments = []
                    if self.compressed:
                        if self.reset_inflater:
                            self.inflater = zlib.decompressobj(-15)
                        data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                    if self.on_message is not None:
                        self.on_message(now, data.decode("utf-8"))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._send(0x8, payload[:2])
                self.transport.close()
                return
            elif opcode == 9:
                self._send(0xA, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        reps = mask * (n // 4 + 1)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(
            n, "big"
        )
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()
