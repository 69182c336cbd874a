"""The fake PostHog's HTTP side: a threading server that tracks connections, and the request handler."""

from __future__ import annotations

import gzip
import json
import socket
import sys
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Protocol
from urllib.parse import parse_qs, urlsplit

from ._capture_v1 import accepted_events
from ._records import (
    CONTROL_PREFIX,
    HOST,
    Headers,
    RecordedRequest,
    V1Outcome,
    _Reply,
)
from ._v1_checks import V1_ROUTE, decompress
from .scenarios import Fault, FaultKind, FaultPlan


class ServedFake(Protocol):
    """What the HTTP server needs of the fake it serves (``FakePostHog``)."""

    faults: FaultPlan
    handler_errors: list[str]
    _closing: threading.Event

    def _count_connection(self) -> None: ...
    def _record(self, request: RecordedRequest, events: int = -1) -> None: ...
    def _control(self, method: str, path: str, query: dict[str, list[str]], parsed: Any) -> _Reply: ...
    def _fault_reply(self, path: str, headers: Headers, fault: Fault) -> _Reply: ...
    def _route(self, method: str, path: str, headers: Headers, parsed: Any, bad_json: bool) -> _Reply: ...


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so close() can end them promptly."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    timeout = 0.05  # handle_request() poll interval: how fast the serve loop notices close()

    def __init__(self, fake: ServedFake, port: int) -> None:
        self.fake = fake
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it. Keep what
        # TCPServer.server_bind does first, SO_REUSEADDR: a server restarted on the same port
        # must not be refused because of the TIME_WAIT connections of the previous one.
        if self.allow_reuse_address:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._lock:
                self._live.add(request)
        self.fake._count_connection()
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        thread = threading.current_thread()
        with self._lock:
            self._conn_threads.add(thread)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._conn_threads.discard(thread)
                self._live.discard(request)

    def abort_connections(self) -> list[threading.Thread]:
        """Shut down every open connection (waking blocked readers); return their threads."""
        with self._lock:
            live = list(self._live)
            threads = list(self._conn_threads)
        for conn in live:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler
        return threads

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up are normal here; anything else is a bug in the fake, kept for tests.
        if not isinstance(sys.exc_info()[1], OSError):
            self.fake.handler_errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, applies scripted faults, routes it, records it, answers in one write."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        headers = Headers(self.headers.items())
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(_Reply(400, {"detail": "unreadable body"}))
            return
        body, parsed, bad_json = self._decode(raw, headers, path)

        if path.startswith(CONTROL_PREFIX):
            self._send(self._guarded(lambda: fake._control(self.command, path, query, parsed)))
            return

        def record(
            status: int | None, events: int = -1, v1_results: tuple[V1Outcome, ...] | None = None
        ) -> None:
            fake._record(
                RecordedRequest(
                    self.command, path, query, headers, raw, body, parsed, arrived, status, v1_results
                ),
                events,
            )

        delay = fake.faults.delay_for(path)
        if delay > 0:
            fake._closing.wait(delay)
        fault = fake.faults.take(path)
        if fault is not None and fault.kind is FaultKind.DELAY:
            fake._closing.wait(fault.seconds)
        elif fault is not None and fault.kind is FaultKind.DROP:
            record(None)
            self.close_connection = True
            return
        elif fault is not None and fault.kind is FaultKind.HANG:
            record(None)
            fake._closing.wait()  # bounded: max_lifetime expiry sets it too
            self.close_connection = True
            return
        elif fault is not None and fault.kind is FaultKind.FAIL:
            reply = self._guarded(lambda: fake._fault_reply(path, headers, fault))
            record(fault.status)
            self._send(reply)
            return

        reply = self._guarded(lambda: fake._route(self.command, path, headers, parsed, bad_json))
        record(reply.status, accepted_events(path, reply.status, parsed, reply.v1_results), reply.v1_results)
        self._send(reply)

    def _guarded(self, answer: Callable[[], _Reply]) -> _Reply:
        try:
            return answer()
        except Exception:  # a bug in the fake or in a test's handler: answer 500, keep it for the test
            self.server.fake.handler_errors.append(traceback.format_exc())
            return _Reply(500, {"detail": "fake PostHog handler error"})

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _decode(raw: bytes, headers: Headers, path: str) -> tuple[bytes, Any, bool]:
        """Return (decoded body, parsed JSON or None, whether decoding failed)."""
        encoding = headers.get("Content-Encoding", "").strip().lower()
        try:
            if path.rstrip("/") == V1_ROUTE:  # zstd and br too; an unknown encoding is a failure
                body = decompress(raw, encoding)
            elif encoding == "gzip":
                body = gzip.decompress(raw)
            elif encoding == "deflate":
                body = zlib.decompress(raw)
            else:
                body = raw
        except (OSError, EOFError, ValueError, zlib.error):
            return raw, None, True
        if not body.strip():
            return body, None, False
        try:
            return body, json.loads(body), False
        except ValueError:
            return body, None, True

    def _send(self, reply: _Reply) -> None:
        """Write status line, headers and body in one send (no Nagle / delayed-ACK stalls)."""
        if reply.status in (204, 304) or reply.payload is None:
            body = b""
        elif isinstance(reply.payload, bytes):
            body = reply.payload
        else:
            body = json.dumps(reply.payload).encode("utf-8")
        phrase = self.responses.get(reply.status, ("Unknown",))[0]
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
