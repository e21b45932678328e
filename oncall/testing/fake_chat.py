"""A fake chat service on 127.0.0.1: incoming webhooks for Slack, Teams, Mattermost, Google Chat.

Every path is a webhook. The first segment says which service answers, as that service does:
``/slack/…`` and ``/mattermost/…`` answer ``200 ok``, ``/teams/…`` (a Workflows webhook)
``202`` with no body, ``/googlechat/…`` ``200`` with the created message's JSON (its ``name``);
any other path ``200 ok``. Posts are recorded per path, their JSON parsed. Failures can be
queued for the next requests (of one path, or of any): a status with the service's error word
and a ``Retry-After`` header, or a dropped connection.

    with FakeChat() as chat:
        settings = ChatSettings(webhooks={"ops": {"url": chat.url("/slack/ops"), "kind": "slack"}})
        chat.fail_next(1, status=429, retry_after=2)
        [post] = chat.wait_for_posts("/slack/ops", 1)
        assert "acknowledged by" in post.body["text"]
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

FailureStatus = int | Literal["drop"]

# The words the services answer failures with (Slack's, where it documents them).
_WORDS = {400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found",
          410: "channel_is_archived", 429: "rate_limited", 500: "rollup_error", 503: "service_unavailable"}


@dataclass(frozen=True, kw_only=True)
class Failure:
    status: FailureStatus
    path: str | None = None
    retry_after: str | None = None
    body: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReceivedPost:
    """A request the fake received, accepted or not; ``body`` its JSON (None if it was not)."""

    path: str
    body: Any
    content_type: str
    outcome: str  # "200", "202", "429", "drop"…
    headers: dict[str, str] = field(default_factory=dict)


class FakeChat:
    """Incoming webhooks on 127.0.0.1; thread-safe; ``with FakeChat() as chat:``."""

    def __init__(self) -> None:
        self.requests: list[ReceivedPost] = []
        self._posts: dict[str, list[ReceivedPost]] = defaultdict(list)
        self._failures: deque[Failure] = deque()
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-chat",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeChat:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        """A webhook's URL on the fake, e.g. ``url("/slack/T0/B0/secret")``."""
        return self.base_url + path

    def fail_next(self, n: int, status: FailureStatus = 500, *, path: str | None = None,
                  retry_after: str | float | None = None, body: str | None = None) -> None:
        """The next ``n`` requests (to ``path``, or to any path) fail with ``status``."""
        after = None if retry_after is None else f"{retry_after:g}" if isinstance(retry_after, float) \
            else str(retry_after)
        with self._cond:
            self._failures.extend(Failure(status=status, path=path, retry_after=after, body=body)
                                  for _ in range(n))

    def posts(self, path: str) -> list[ReceivedPost]:
        """The posts ``path`` accepted, in order."""
        with self._cond:
            return list(self._posts[path])

    def wait_for_posts(self, path: str, n: int, timeout: float = 10.0) -> list[ReceivedPost]:
        """Block until ``path`` accepted at least ``n`` posts; AssertionError after ``timeout``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._posts[path]) >= n, timeout):
                raise AssertionError(f"{path}: {len(self._posts[path])} post(s) after {timeout}s, wanted {n}")
            return list(self._posts[path])

    def _next_failure(self, path: str) -> Failure | None:
        with self._cond:
            for failure in self._failures:
                if failure.path in (None, path):
                    self._failures.remove(failure)
                    return failure
        return None

    def _record(self, post: ReceivedPost) -> None:
        with self._cond:
            self.requests.append(post)
            if post.outcome.startswith("2"):
                self._posts[post.path].append(post)
            self._cond.notify_all()


def _answer_for(path: str) -> tuple[int, str, str]:
    """(status, content type, body) of a service accepting a post at ``path``."""
    service = path.strip("/").partition("/")[0]
    if service == "teams":
        return 202, "text/plain", ""
    if service == "googlechat":
        name = f"spaces/AAAA{secrets.token_hex(4)}/messages/{secrets.token_hex(8)}"
        return 200, "application/json; charset=UTF-8", json.dumps({"name": name, "createTime": "now"})
    return 200, "text/plain", "ok"


def _handler_for(fake: FakeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # everything is in fake.requests

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            content_type = self.headers.get("Content-Type", "")
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = None
            failure = fake._next_failure(path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if failure is not None and failure.status == "drop":
                fake._record(ReceivedPost(path=path, body=body, content_type=content_type, outcome="drop",
                                          headers=headers))
                self.close_connection = True
                return
            if failure is not None:
                assert isinstance(failure.status, int)
                status, kind, text = failure.status, "text/plain", failure.body or _WORDS.get(failure.status, "error")
            elif body is None:
                status, kind, text = 400, "text/plain", "invalid_payload"
            else:
                status, kind, text = _answer_for(path)
            fake._record(ReceivedPost(path=path, body=body, content_type=content_type, outcome=str(status),
                                      headers=headers))
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            if failure is not None and failure.retry_after is not None:
                self.send_header("Retry-After", failure.retry_after)
            self.end_headers()
            self.wfile.write(data)

    return Handler
