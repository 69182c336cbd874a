"""A fake OpenAI / Anthropic HTTP server on 127.0.0.1 for tests that drive the real provider SDKs.

Routes (``/v1`` prefix and trailing slash optional): ``POST /v1/chat/completions``,
``POST /v1/responses``, ``POST /v1/embeddings`` (OpenAI) and ``POST /v1/messages`` (Anthropic).
Point ``openai.OpenAI(base_url=llm.url + "/v1")`` and ``anthropic.Anthropic(base_url=llm.url)`` at it.

Every request is recorded (method, path, headers, parsed JSON) before it is answered. Each request to
a provider route takes the next scripted step (see ``script.py``): a :class:`Reply`, a :class:`Failure`
(HTTP status plus the provider's error JSON) or a :class:`Drop`; with none queued,
``responder(request)`` or ``default_reply`` answers. ``"stream": true`` in the body selects SSE, sent
with chunked transfer encoding so that ``Reply.break_after`` can end a stream mid-body: the SDK then
sees an incomplete chunked read and raises.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from tests.fake_server import RecordedRequest

from .handler import HOST, LLMHTTPServer, route_of
from .script import Drop, Failure, Reply, Step

__all__ = ["FakeLLM", "Responder"]

JOIN_DEADLINE: Final = 0.8  # seconds close() waits for the serving and connection threads

Responder = Callable[[RecordedRequest], Step]


class FakeLLM:
    """OpenAI/Anthropic-compatible server on 127.0.0.1:<random port>; stops on close() or max_lifetime."""

    def __init__(
        self,
        *,
        port: int = 0,
        max_lifetime: float | None = 300.0,
        default_reply: Reply | None = None,
    ) -> None:
        self.default_reply = default_reply if default_reply is not None else Reply()
        self.responder: Responder | None = None
        self.handler_errors: list[str] = []
        self._port = port
        self._max_lifetime = max_lifetime
        self._cond = threading.Condition()
        self._script: deque[Step] = deque()
        self._requests: list[RecordedRequest] = []
        self._serial = 0
        self._closing = threading.Event()
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._httpd: LLMHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("FakeLLM already started")
        self._httpd = LLMHTTPServer(self, self._port)
        self._serve_thread = threading.Thread(target=self._serve, name="fake-llm.serve", daemon=True)
        self._serve_thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections (streams included); returns within about a second."""
        self._closing.set()
        with self._close_lock:
            httpd = self._httpd
            if httpd is None or self._closed.is_set():
                self._closed.set()
                return
            serve = self._serve_thread
            if serve is not None and serve is not threading.current_thread():
                serve.join(JOIN_DEADLINE)
            threads = httpd.abort_connections()
            httpd.server_close()
            deadline = time.monotonic() + JOIN_DEADLINE
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))
            self._closed.set()
        with self._cond:
            self._cond.notify_all()  # wake wait_for_requests()

    def __enter__(self) -> FakeLLM:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self) -> None:
        httpd = self._httpd
        assert httpd is not None
        deadline = None if self._max_lifetime is None else time.monotonic() + self._max_lifetime
        while not self._closing.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                self.close()  # a forgotten server must not outlive its test run
                return
            httpd.handle_request()  # returns after one connection or httpd.timeout

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no ``/v1``: OpenAI clients want ``llm.url + "/v1"``)."""
        return f"http://{HOST}:{self.port}"

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeLLM not started")
        return self._httpd.server_address[1]

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- scripting ---------------------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Queue steps; each later request to a provider route takes the first one left."""
        with self._cond:
            self._script.extend(steps)

    def reply(self, **fields: Any) -> Reply:
        """Queue ``Reply(**fields)`` and return it."""
        step = Reply(**fields)
        self.script(step)
        return step

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        message: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> Failure:
        """Answer the next ``times`` provider requests with ``status`` and the provider's error JSON."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        failure = Failure(status, message, error_type, code, retry_after)
        self.script(*([failure] * times))
        return failure

    def drop_next(self, times: int = 1) -> None:
        """Close the connection of the next ``times`` provider requests without answering."""
        self.script(*([Drop()] * times))

    @property
    def pending(self) -> int:
        """Scripted steps not used yet."""
        with self._cond:
            return len(self._script)

    def clear_script(self) -> None:
        with self._cond:
            self._script.clear()

    def _next_step(self, request: RecordedRequest) -> tuple[Step, int]:
        with self._cond:
            self._serial += 1
            serial = self._serial
            step = self._script.popleft() if self._script else None
        if step is None:
            responder = self.responder
            step = responder(request) if responder is not None else self.default_reply
        return step, serial

    # -- recordings --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received, in arrival order."""
        with self._cond:
            return list(self._requests)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Requests to ``route`` (``"chat"``, ``"responses"``, ``"embeddings"``, ``"messages"``)."""
        return [r for r in self.requests if route_of(r.path) == route]

    @property
    def last(self) -> RecordedRequest:
        """The latest request; AssertionError when there is none."""
        requests = self.requests
        if not requests:
            raise AssertionError("fake LLM received no request")
        return requests[-1]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``n`` requests arrived (all routes); AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed.is_set():
                    raise AssertionError(f"fake LLM: expected {n} requests, got {len(self._requests)}")
                self._cond.wait(remaining)
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests (the script stays)."""
        with self._cond:
            self._requests = []

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
