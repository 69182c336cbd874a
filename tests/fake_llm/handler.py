"""The HTTP side of the fake LLM: a ThreadingHTTPServer that can cut its connections, and the handler.

The handler reads a request, records it, takes the next scripted step from the FakeLLM and renders it
for the route: JSON with Content-Length, or SSE frames with chunked transfer encoding (one chunk per
event), so that a broken stream is an incomplete chunked body the client notices.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from tests.fake_server import Headers, RecordedRequest

from . import anthropic_wire, openai_wire
from .script import Drop, Exchange, Failure, Frame, Reply, Step

if TYPE_CHECKING:
    from .server import FakeLLM

__all__ = ["HOST", "LLMHTTPServer", "route_of"]

HOST: Final = "127.0.0.1"

_ROUTES: Final = {
    "/chat/completions": "chat",
    "/responses": "responses",
    "/embeddings": "embeddings",
    "/messages": "messages",
}


def route_of(path: str) -> str | None:
    """``"chat"``, ``"responses"``, ``"embeddings"``, ``"messages"`` or None for ``path``."""
    route = path.rstrip("/")
    if route.startswith("/v1/"):
        route = route[len("/v1") :]
    return _ROUTES.get(route)


class LLMHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so close() can cut them, streams included."""

    daemon_threads = True
    block_on_close = False
    timeout = 0.05  # handle_request() poll interval: how fast the serve loop notices close()

    def __init__(self, fake: FakeLLM, port: int) -> None:
        self.fake = fake
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's reverse DNS lookup (getfqdn); keep SO_REUSEADDR.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:  # registered before its thread starts, so close() always finds it
            self._live.add(request)
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
        # Clients hanging up (a closed stream) are normal; anything else is a bug kept for the test.
        if not isinstance(sys.exc_info()[1], OSError):
            self.fake.handler_errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, records it, takes a scripted step and renders it for the route."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60  # an idle keep-alive connection ends by itself
    server: LLMHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        split = urlsplit(self.path)
        headers = Headers(self.headers.items())
        raw = self._read_body()
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = None
        route = route_of(split.path)
        anthropic = route == "messages"

        recorded = RecordedRequest(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            headers,
            raw,
            raw,
            parsed,
            arrived,
        )
        if self.command != "POST" or route is None or not isinstance(parsed, dict):
            failure = Failure(
                404 if route is None else 400, f"fake LLM cannot answer {self.command} {split.path}"
            )
            fake._record(replace(recorded, status=failure.status))
            self._send_error(failure, anthropic)
            return
        try:
            step, serial = fake._next_step(recorded)
        except Exception:  # a test's responder raised: answer 500, keep it for the test
            fake.handler_errors.append(traceback.format_exc())
            fake._record(replace(recorded, status=500))
            self._send_error(Failure(500, "fake LLM responder error"), anthropic)
            return
        # Recorded before answering: a test that got its answer finds its request here.
        fake._record(replace(recorded, status=_status_of(step)))
        if isinstance(step, Drop):
            self.close_connection = True
            return
        if isinstance(step, Failure):
            self._send_error(step, anthropic, f"req_fake{serial}")
            return
        if step.latency > 0 and fake._closing.wait(step.latency):
            self.close_connection = True
            return
        exchange = Exchange(parsed, step, serial, int(time.time()))
        try:
            if exchange.stream and route != "embeddings":
                self._send_stream(_frames(route, exchange), step, route, f"req_fake{serial}")
            else:
                self._send_json(200, _body(route, exchange), _request_id_header(anthropic, serial))
        except OSError:
            raise
        except Exception:  # a bug in the fake or in a scripted value: answer 500, keep it for the test
            fake.handler_errors.append(traceback.format_exc())
            self._send_error(Failure(500, "fake LLM handler error"), anthropic)

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
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, payload: Any, extra: dict[str, str]) -> None:
        body = json.dumps(payload).encode("utf-8")
        head = {"Content-Type": "application/json", "Content-Length": str(len(body)), **extra}
        self.wfile.write(self._head(status, head) + body)

    def _send_error(self, failure: Failure, anthropic: bool, request_id: str | None = None) -> None:
        extra: dict[str, str] = {}
        if request_id is not None:
            extra["request-id" if anthropic else "x-request-id"] = request_id
        if failure.retry_after is not None:
            value = failure.retry_after
            extra["Retry-After"] = str(int(value)) if float(value).is_integer() else str(value)
        if anthropic:
            payload = anthropic_wire.error_body(failure, request_id)
        else:
            payload = openai_wire.error_body(failure)
        self._send_json(failure.status, payload, extra)

    def _send_stream(self, frames: list[Frame], reply: Reply, route: str, request_id: str) -> None:
        fake = self.server.fake
        broken = False
        if reply.stream_error is not None:
            frames = [*frames[: reply.break_after or 0], _error_frame(route, reply.stream_error)]
        elif reply.break_after is not None and reply.break_after < len(frames):
            frames = frames[: reply.break_after]
            broken = True
        header_name = "request-id" if route == "messages" else "x-request-id"
        head = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
            header_name: request_id,
        }
        self.wfile.write(self._head(200, head))
        for index, (event, data) in enumerate(frames):
            if index and reply.chunk_delay > 0 and fake._closing.wait(reply.chunk_delay):
                broken = True
                break
            text = (f"event: {event}\n" if event is not None else "") + f"data: {data}\n\n"
            payload = text.encode("utf-8")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        if broken:
            # No terminating chunk: the client sees the body end early and raises.
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        phrase = self.responses.get(status, ("Unknown",))[0]
        lines = [f"HTTP/1.1 {status} {phrase}", *(f"{name}: {value}" for name, value in headers.items())]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status_of(step: Step) -> int | None:
    if isinstance(step, Failure):
        return step.status
    return None if isinstance(step, Drop) else 200


def _request_id_header(anthropic: bool, serial: int) -> dict[str, str]:
    return {("request-id" if anthropic else "x-request-id"): f"req_fake{serial}"}


def _body(route: str, exchange: Exchange) -> dict[str, Any]:
    if route == "chat":
        return openai_wire.chat_body(exchange)
    if route == "responses":
        return openai_wire.responses_body(exchange)
    if route == "embeddings":
        return openai_wire.embeddings_body(exchange)
    return anthropic_wire.message_body(exchange)


def _frames(route: str, exchange: Exchange) -> list[Frame]:
    if route == "chat":
        return openai_wire.chat_frames(exchange)
    if route == "responses":
        return openai_wire.responses_frames(exchange)
    return anthropic_wire.message_frames(exchange)


def _error_frame(route: str, failure: Failure) -> Frame:
    if route == "chat":
        return openai_wire.error_frame(failure)
    if route == "responses":
        return openai_wire.responses_error_frame(failure)
    return anthropic_wire.error_frame(failure)
