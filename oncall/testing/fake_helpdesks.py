"""Fake Zendesk and Freshdesk HTTP servers on 127.0.0.1, and vendor-exact webhook signing.

Both fakes are real HTTP servers running in a thread (use them as context managers), serve the
vendors' payload shapes, check the vendors' authentication, record every request, and can be
told to fail: :meth:`fail_next` (e.g. 500, or 429 with ``Retry-After``) or ``down = True``
(every request 503) or :meth:`stop` (connection refused).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from oncall.sources.signatures import (
    FRESHDESK_HEADER,
    GENERIC_HEADER,
    JIRA_HEADER,
    ZENDESK_HEADER,
    ZENDESK_TIMESTAMP_HEADER,
    sign_generic,
    sign_jira,
    sign_zendesk,
)

__all__ = [
    "FakeFreshdesk",
    "FakeZendesk",
    "RecordedRequest",
    "freshdesk_headers",
    "generic_headers",
    "jira_headers",
    "sign_generic",
    "sign_jira",
    "sign_zendesk",
    "zendesk_headers",
]


def generic_headers(secret: str, body: bytes) -> dict[str, str]:
    return {GENERIC_HEADER: sign_generic(secret, body), "Content-Type": "application/json"}


def zendesk_headers(secret: str, body: bytes, timestamp: datetime | str) -> dict[str, str]:
    """Headers exactly as a Zendesk webhook sends them (timestamp like 2026-11-25T03:00:00Z)."""
    ts = timestamp if isinstance(timestamp, str) else (
        timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return {ZENDESK_HEADER: sign_zendesk(secret, ts, body), ZENDESK_TIMESTAMP_HEADER: ts,
            "Content-Type": "application/json"}


def freshdesk_headers(secret: str) -> dict[str, str]:
    return {FRESHDESK_HEADER: secret, "Content-Type": "application/json"}


def jira_headers(secret: str, body: bytes, delivery_id: str | None = None) -> dict[str, str]:
    headers = {JIRA_HEADER: sign_jira(secret, body), "Content-Type": "application/json"}
    if delivery_id is not None:
        headers["X-Atlassian-Webhook-Identifier"] = delivery_id
    return headers


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: str | None


Reply = tuple[int, dict[str, str], Any]


class _FakeServer:
    """Threaded HTTP server dispatching to :meth:`handle`; subclasses implement the API."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.down = False
        self._failures: deque[_Failure] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, payload = fake._serve(self.command, self.path,
                                                       dict(self.headers.items()), raw)
                data = b"" if payload is None else json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _dispatch

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll interval keeps stop() (and so every test teardown) fast
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # failure injection --------------------------------------------------------------------
    def fail_next(self, status: int = 500, *, times: int = 1,
                  retry_after: int | str | None = None) -> None:
        with self._lock:
            for _ in range(times):
                self._failures.append(_Failure(status, None if retry_after is None
                                               else str(retry_after)))

    def _serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(RecordedRequest(method, parts.path, query, headers, body))
            failure = self._failures.popleft() if self._failures else None
            if self.down:
                return 503, {}, {"error": "Service Unavailable"}
            if failure is not None:
                extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, extra, {"error": f"injected {failure.status}"}
            return self.handle(method, parts.path, query, headers, body)

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: Any) -> Reply:
        raise NotImplementedError

    @staticmethod
    def _basic(headers: dict[str, str]) -> tuple[str, str] | None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not value.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        except ValueError:
            return None
        return user, password


class FakeZendesk(_FakeServer):
    """Incremental ticket export (cursor pages), ticket comments (``PUT /tickets/{id}``), and the
    show endpoints event webhooks' ids are looked up with (``GET /organizations/{id}.json``,
    ``/users/{id}.json``, ``/custom_statuses/{id}.json``)."""

    def __init__(self, *, email: str = "oncall-bot@example.com", api_token: str = "zd-token",  # noqa: S107 - fake
                 page_size: int = 2) -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.page_size = page_size
        self.tickets: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.custom_statuses: dict[int, dict[str, Any]] = {}
        self._log: list[Any] = []  # every ticket version (and injected oddities), in change order

    def add_organization(self, org_id: int, name: str, tags: tuple[str, ...] = ()) -> None:
        self.organizations[org_id] = {"id": org_id, "name": name, "tags": list(tags)}

    def add_user(self, user_id: int, email: str, name: str = "") -> None:
        self.users[user_id] = {"id": user_id, "email": email, "name": name or email}

    def add_custom_status(self, status_id: int, agent_label: str, status_category: str) -> None:
        self.custom_statuses[status_id] = {
            "id": status_id, "agent_label": agent_label, "end_user_label": agent_label,
            "status_category": status_category, "active": True, "default": False}

    def put_ticket(self, ticket: dict[str, Any]) -> None:
        """Create or replace a ticket (API shape); it appears in the export stream."""
        with self._lock:
            stamp = ticket.get("updated_at") or ticket["created_at"]
            version = {**ticket, "generated_timestamp": int(
                datetime.fromisoformat(stamp).timestamp())}
            self.tickets[int(ticket["id"])] = version
            self._log.append(version)

    def put_export_entry(self, entry: Any, *, at: datetime) -> None:
        """Append anything to the export stream as-is (a ticket without an id, not an object…)."""
        with self._lock:
            if isinstance(entry, dict):
                entry = {**entry, "generated_timestamp": int(at.timestamp())}
            self._log.append(entry)

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: Any) -> Reply:
        if self._basic(headers) != (f"{self.email}/token", self.api_token):
            return 401, {}, {"error": "Couldn't authenticate you"}
        if method == "GET" and path == "/api/v2/incremental/tickets/cursor.json":
            return self._export(query)
        if method == "PUT" and path.startswith("/api/v2/tickets/") and path.endswith(".json"):
            return self._comment(path[len("/api/v2/tickets/"):-len(".json")], body)
        for prefix, key, table in (("/api/v2/organizations/", "organization", self.organizations),
                                   ("/api/v2/users/", "user", self.users),
                                   ("/api/v2/custom_statuses/", "custom_status", self.custom_statuses)):
            if method == "GET" and path.startswith(prefix) and path.endswith(".json"):
                raw_id = path[len(prefix):-len(".json")]
                if not raw_id.isdigit() or int(raw_id) not in table:
                    return 404, {}, {"error": "RecordNotFound", "description": "Not found"}
                return 200, {}, {key: table[int(raw_id)]}
        return 404, {}, {"error": "InvalidEndpoint"}

    def _export(self, query: dict[str, str]) -> Reply:
        if "cursor" in query:
            try:
                start = int(base64.urlsafe_b64decode(query["cursor"]).decode())
            except ValueError:
                return 400, {}, {"error": "InvalidCursor"}
        elif "start_time" in query and query["start_time"].isdigit():
            t = int(query["start_time"])
            start = next((i for i, v in enumerate(self._log)
                          if isinstance(v, dict) and v["generated_timestamp"] >= t), len(self._log))
        else:
            return 400, {}, {"error": "InvalidValue", "description": "start_time or cursor"}
        page = self._log[start:start + self.page_size]
        end = start + len(page)
        payload: dict[str, Any] = {
            "tickets": page,
            "after_cursor": base64.urlsafe_b64encode(str(end).encode()).decode(),
            "before_cursor": None,
            "end_of_stream": end >= len(self._log),
        }
        includes = query.get("include", "").split(",")
        if "users" in includes:
            payload["users"] = list(self.users.values())
        if "organizations" in includes:
            payload["organizations"] = list(self.organizations.values())
        return 200, {}, payload

    def _comment(self, raw_id: str, body: Any) -> Reply:
        if not raw_id.isdigit() or int(raw_id) not in self.tickets:
            return 404, {}, {"error": "RecordNotFound"}
        comment = body.get("ticket", {}).get("comment") if isinstance(body, dict) else None
        if not isinstance(comment, dict) or not isinstance(comment.get("body"), str):
            return 422, {}, {"error": "RecordInvalid"}
        self.comments.setdefault(int(raw_id), []).append(comment)
        return 200, {}, {"ticket": self.tickets[int(raw_id)]}


class FakeFreshdesk(_FakeServer):
    """``GET /api/v2/tickets`` with ``updated_since``, ordering and pagination."""

    def __init__(self, *, api_key: str = "fd-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.tickets: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}

    def add_contact(self, contact_id: int, email: str, name: str = "") -> None:
        self.contacts[contact_id] = {"id": contact_id, "email": email, "name": name or email}

    def put_ticket(self, ticket: dict[str, Any]) -> None:
        with self._lock:
            self.tickets[int(ticket["id"])] = dict(ticket)

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: Any) -> Reply:
        if self._basic(headers) != (self.api_key, "X"):
            return 401, {}, {"code": "invalid_credentials", "message": "You have to be logged in"}
        if method == "GET" and path == "/api/v2/tickets":
            return self._list(query)
        return 404, {}, {"code": "not_found"}

    def _list(self, query: dict[str, str]) -> Reply:
        try:
            since = datetime.fromisoformat(query.get("updated_since", "1970-01-01T00:00:00Z"))
            per_page = min(int(query.get("per_page", "30")), 100)
            page = int(query.get("page", "1"))
        except ValueError:
            return 400, {}, {"description": "Validation failed", "errors": [
                {"field": "updated_since", "code": "invalid_value"}]}
        rows = sorted((t for t in self.tickets.values()
                       if datetime.fromisoformat(t["updated_at"]) >= since),
                      key=lambda t: (t["updated_at"], t["id"]))
        chosen = rows[(page - 1) * per_page: page * per_page]
        if "requester" in query.get("include", ""):
            chosen = [{**t, "requester": self.contacts.get(t.get("requester_id", -1))}
                      for t in chosen]
        return 200, {}, chosen
