"""AsyncPosthog goes through the proxy named by HTTP_PROXY, as requests and httpx do (trust_env)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.support.scripts import run_script


class _RecordingProxy:
    """A 127.0.0.1 "proxy" that answers every request itself and records its request lines."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                body = json.dumps({"flags": {"beta": {"key": "beta", "enabled": True}}}).encode()
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[_RecordingProxy]:
    recording = _RecordingProxy()
    yield recording
    recording.close()


@pytest.mark.parametrize("library", ["aiohttp", "httpx"])
def test_http_proxy_from_the_environment_is_used(proxy: _RecordingProxy, library: str) -> None:
    blocked = "httpx" if library == "aiohttp" else "aiohttp"
    result = run_script(
        f"""
        import asyncio, os, sys
        sys.modules[{blocked!r}] = None
        os.environ["HTTP_PROXY"] = "http://127.0.0.1:{proxy.port}"
        os.environ.pop("NO_PROXY", None); os.environ.pop("no_proxy", None)
        from posthog import AsyncPosthog

        async def main():
            client = AsyncPosthog("phc_proxy", host="http://posthog.test")
            print(await client.get_feature_flag("beta", "ada", send_feature_flag_events=False))
            await client.shutdown(timeout=2)

        asyncio.run(main())
        """.replace("\n        ", "\n"),
        timeout=30,
    )
    assert result.stdout.strip() == "True"
    assert proxy.lines and proxy.lines[0].startswith("POST http://posthog.test/flags/")
