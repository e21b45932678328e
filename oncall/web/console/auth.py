"""Console sign-in without passwords: one-time codes, login links, signed sessions, CSRF.

- **Who may sign in**: the people of the configuration. A code goes to the person's own
  contact (SMS to their phone, else e-mail), never to an address the visitor types.
- **One-time codes and login links** are stored only as HMAC digests keyed with the console's
  secret (``console_tokens``), so they work across restarts and across instances sharing the
  database, and a copy of the database does not reveal them. A code allows
  ``CODE_ATTEMPTS`` guesses and lives ``CODE_LIFETIME``; a login link lives ``LINK_LIFETIME``.
  Each is used once.
- **Sessions** are a signed cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) holding the
  person and an expiry: nothing to store, valid on every instance that has the key.
- **CSRF**: every visitor holds a random ``oncall_csrf`` cookie; each form carries its HMAC,
  checked on every POST, so another site cannot make a signed-in browser act.
- **Rate limits** per client address and per person (:class:`RateLimiter`), every attempt
  logged (``console.signin``) without the code.
- **Incident links**: ``/i/<id>/<person>/<tag>`` where the tag is an HMAC of the incident
  and the person: it opens that incident only, for that person, while it is open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from oncall.config.settings import Settings
from oncall.store.tables import console_tokens, cursors

SECRET_CURSOR = "console:secret_key"  # noqa: S105 - the cursor row name, not a secret
CODE_LIFETIME = timedelta(minutes=10)
LINK_LIFETIME = timedelta(minutes=15)
CODE_ATTEMPTS = 5
CODE_DIGITS = 6


def load_or_create_secret(engine: Engine, configured: str | None, now: datetime) -> bytes:
    """The console's key: the configured one, else one generated once and kept in the
    database (the first instance to start writes it; the others read it)."""
    if configured:
        return configured.encode()
    with engine.connect() as conn:
        found = conn.execute(select(cursors.c.value).where(cursors.c.name == SECRET_CURSOR)).scalar()
    if found:
        return str(found).encode()
    fresh = secrets.token_urlsafe(48)
    try:
        with engine.begin() as conn:
            conn.execute(insert(cursors).values(name=SECRET_CURSOR, value=fresh, updated_at=now))
    except IntegrityError:  # another instance wrote it first: use theirs
        with engine.connect() as conn:
            fresh = str(conn.execute(select(cursors.c.value).where(cursors.c.name == SECRET_CURSOR)).scalar_one())
    return fresh.encode()


class Signer:
    """HMAC-SHA256 over text with the console's key, for cookies, CSRF and token digests."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{text}".encode(), hashlib.sha256).hexdigest()

    def sign(self, purpose: str, payload: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self.mac(purpose, body)[:43]}"

    def unsign(self, purpose: str, value: str) -> dict[str, object] | None:
        body, _, tag = value.rpartition(".")
        if not body or not hmac.compare_digest(tag.encode(), self.mac(purpose, body)[:43].encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # ---- sessions and CSRF -------------------------------------------------------------

    def session_cookie(self, person_id: str, expires: datetime) -> str:
        return self.sign("session", {"p": person_id, "e": int(expires.timestamp())})

    def session_person(self, cookie: str | None, now: datetime) -> str | None:
        data = self.unsign("session", cookie) if cookie else None
        if not data or not isinstance(data.get("p"), str) or not isinstance(data.get("e"), int):
            return None
        return str(data["p"]) if int(data["e"]) > now.timestamp() else None  # type: ignore[call-overload]

    def csrf_token(self, csrf_cookie: str) -> str:
        return self.mac("csrf", csrf_cookie)[:32]

    def csrf_ok(self, csrf_cookie: str | None, given: str | None) -> bool:
        if not csrf_cookie or not given:
            return False
        return hmac.compare_digest(given.encode(), self.csrf_token(csrf_cookie).encode())

    # ---- incident links ----------------------------------------------------------------

    def incident_tag(self, incident_id: int, person_id: str) -> str:
        return self.mac("incident", f"{incident_id}:{person_id}")[:20]

    def incident_tag_ok(self, incident_id: int, person_id: str, tag: str) -> bool:
        return hmac.compare_digest(tag.encode(), self.incident_tag(incident_id, person_id).encode())


def page_links(engine: Engine, settings: Settings, now: datetime) -> Callable[[int, str], str] | None:
    """``(incident id, person id) -> URL`` of the incident link a page carries, when the console
    and its ``incident_links`` setting are on (the runner appends it to one-incident pages)."""
    conf = settings.console
    if not (conf.enabled and conf.incident_links):
        return None
    secret = conf.secret_key.get_secret_value() if conf.secret_key else None
    signer = Signer(load_or_create_secret(engine, secret, now))
    base = (settings.public_url or f"http://{settings.listen}").rstrip("/")

    def link(incident_id: int, person_id: str) -> str:
        return f"{base}/i/{incident_id}/{person_id}/{signer.incident_tag(incident_id, person_id)}"

    return link


class Tokens:
    """One-time codes and login links in ``console_tokens`` (digests only)."""

    def __init__(self, engine: Engine, signer: Signer) -> None:
        self.engine = engine
        self.signer = signer

    def new_link(self, person_id: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        self._store("link", person_id, token, now, now + LINK_LIFETIME)
        return token

    def new_code(self, person_id: str, now: datetime) -> str:
        """A fresh code; the person's earlier unused codes stop working."""
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        with self.engine.begin() as conn:
            conn.execute(update(console_tokens).where(and_(
                console_tokens.c.person_id == person_id, console_tokens.c.kind == "code",
                console_tokens.c.used_at.is_(None))).values(used_at=now))
        self._store("code", person_id, f"{person_id}:{code}", now, now + CODE_LIFETIME)
        return code

    def _store(self, kind: str, person_id: str, secret: str, now: datetime, expires: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(console_tokens).values(
                digest=self.signer.mac(kind, secret), kind=kind, person_id=person_id, created_at=now,
                expires_at=expires))

    def use_link(self, token: str, now: datetime, *, consume: bool = True) -> str | None:
        """The person a valid link signs in (marking it used when ``consume``), else None."""
        digest = self.signer.mac("link", token)
        with self.engine.begin() as conn:
            row = conn.execute(select(console_tokens).where(and_(
                console_tokens.c.digest == digest, console_tokens.c.kind == "link"))).first()
            if row is None or row.used_at is not None or row.expires_at <= now:
                return None
            if consume:
                done = conn.execute(update(console_tokens).where(and_(
                    console_tokens.c.id == row.id, console_tokens.c.used_at.is_(None))).values(used_at=now))
                if done.rowcount != 1:
                    return None
            return str(row.person_id)

    def use_code(self, person_id: str, code: str, now: datetime) -> bool:
        """True (and the code is spent) when ``code`` is the person's current code. A wrong
        guess counts against it; after ``CODE_ATTEMPTS`` it is spent whatever comes next."""
        digest = self.signer.mac("code", f"{person_id}:{code.strip()}")
        with self.engine.begin() as conn:
            row = conn.execute(select(console_tokens).where(and_(
                console_tokens.c.person_id == person_id, console_tokens.c.kind == "code",
                console_tokens.c.used_at.is_(None), console_tokens.c.expires_at > now))
                .order_by(console_tokens.c.id.desc()).limit(1)).first()
            if row is None:
                return False
            if hmac.compare_digest(row.digest.encode(), digest.encode()):
                conn.execute(update(console_tokens).where(console_tokens.c.id == row.id).values(used_at=now))
                return True
            attempts = row.attempts + 1
            conn.execute(update(console_tokens).where(console_tokens.c.id == row.id).values(
                attempts=attempts, used_at=now if attempts >= CODE_ATTEMPTS else None))
            return False


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` (sliding), in this process."""

    def __init__(self, limit: int, window: timedelta, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window.total_seconds()
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            if len(self._events) > 10_000:  # bound memory under a spray of addresses
                self._events = {k: v for k, v in self._events.items() if v}
            return True
