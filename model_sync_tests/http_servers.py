"""Real HTTP servers on 127.0.0.1 for tests: a webhook receiver, a source with validators, and
a router whose answers can misbehave (drop the connection, answer late, echo the request)."""

import hashlib
import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@contextmanager
def serve(handler_class):
    """Run a handler on a free port of 127.0.0.1; stopped and closed on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Receiver:
    """A chat webhook: records every JSON body posted to it; answers `status`."""

    def __init__(self):
        self.posts: list[dict] = []
        self.raw: list[bytes] = []
        self.status = 200
        self.url = ""

    @property
    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]

    @contextmanager
    def running(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.status < 300:
                    receiver.raw.append(body)
                    receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        with serve(Handler) as server:
            self.url = f"http://127.0.0.1:{server.server_port}/hooks/T000/B000/s3cr3t-token"
            yield self


class SourceServer:
    """A source API whose body and validators (ETag, Last-Modified or none) a test changes."""

    def __init__(self, body: bytes, validator: str = "etag"):
        self.body = body
        self.validator = validator  # etag, last_modified, none
        self.last_modified = "Wed, 19 Aug 2026 02:00:00 GMT"
        self.requests: list[dict] = []
        self.url = ""

    def etag(self) -> str:
        return '"' + hashlib.md5(self.body).hexdigest() + '"'

    @contextmanager
    def running(self):
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                source.requests.append(dict(self.headers))
                headers = {}
                if source.validator == "etag":
                    headers["ETag"] = source.etag()
                    if self.headers.get("If-None-Match") == source.etag():
                        return self._answer(304, headers, b"")
                if source.validator == "last_modified":
                    headers["Last-Modified"] = source.last_modified
                    if self.headers.get("If-Modified-Since") == source.last_modified:
                        return self._answer(304, headers, b"")
                headers["Content-Type"] = "application/json"
                return self._answer(200, headers, source.body)

            def _answer(self, status, headers, body):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        with serve(Handler) as server:
            self.url = f"http://127.0.0.1:{server.server_port}/api/v1/models"
            yield self


class Drop:
    """An answer that closes the connection without a response, as a failing proxy does."""


@dataclass(frozen=True)
class Held:
    """`answer`, given only once `release` is set: a server slower than the client's timeout.
    `longest` bounds the hold, so a test that fails before it sets `release` still ends."""

    release: threading.Event
    answer: Any
    longest: float = 60.0


@dataclass(frozen=True)
class Echo:
    """An error answer whose body quotes the request's headers, as some APIs quote what they
    were sent (a key in a header comes back in the body)."""

    status: int = 400


def in_turn(*answers) -> Callable[[dict], Any]:
    """A route giving each request the next of `answers`, and the last one from then on."""
    given = iter(answers)
    last = [answers[-1]]

    def answer(_query: dict) -> Any:
        last[0] = next(given, last[0])
        return last[0]

    return answer


class Api:
    """A source API on 127.0.0.1: answers each path from `routes` (a body, a `(status, headers,
    body)` triple, a `Drop`, `Held` or `Echo`, or a function of the query giving any of these)
    and records every request."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path?query, headers)
        self.base = ""

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def sent(self, header: str) -> list[str | None]:
        return [headers.get(header) for _, headers in self.requests]

    def count(self, path: str) -> int:
        """How many requests asked for `path` (any query)."""
        return sum(1 for p in self.paths if p.partition("?")[0] == path)

    @contextmanager
    def running(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.requests.append((self.path, headers))
                path, _, query = self.path.partition("?")
                answer = api.routes.get(path, (404, {}, b'{"error": "no such path"}'))
                if callable(answer):
                    answer = answer(parse_qs(query))
                if isinstance(answer, Held):
                    answer.release.wait(answer.longest)
                    answer = answer.answer
                if isinstance(answer, Drop):
                    self.close_connection = True
                    return
                if isinstance(answer, Echo):
                    answer = (answer.status, {}, json.dumps({"error": {
                        "message": "invalid request",
                        "authorization": headers.get("authorization"),
                        "received_headers": headers}}).encode())
                status, headers, body = (200, {}, answer) if isinstance(answer, bytes) else answer
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a held answer)

            def log_message(self, *args):
                pass

        with serve(Handler) as server:
            self.base = f"http://127.0.0.1:{server.server_port}"
            yield self
