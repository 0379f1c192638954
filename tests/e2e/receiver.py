"""A coach's webhook receiver for tests: a real HTTP server on loopback, in a thread, that
keeps every request and answers with the statuses it is given, in turn."""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses or (200,))
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                    statuses = receiver.statuses
                    status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/hipfix"

    def ids(self) -> Counter[str]:
        with self._lock:
            return Counter(r.headers["webhook-id"] for r in self.received)

    def wait_for(self, done: Callable[["Receiver"], bool], seconds: float = 60) -> None:
        """Until `done(self)` holds; a deadline so a broken worker fails instead of hanging."""
        deadline = time.monotonic() + seconds
        while not done(self):
            assert time.monotonic() < deadline, f"receiver got {len(self.received)} requests"
            time.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator["Receiver"]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
