"""Group commit: concurrent webhook deliveries share one transaction, each still answered
only after its ticket is stored; duplicates are recognised; failures reach every waiter."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oncall.sources.store_adapters import GroupCommitSink
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import Inbox
from oncall.tickets import parse_ticket

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def inbox(tmp_path: Path) -> Inbox:
    engine = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    upgrade(engine)
    return Inbox(engine)


def ticket(n: int) -> object:
    return parse_ticket({"id": f"T-{n}", "created_at": "2026-11-28T03:00:00Z", "priority": "urgent"})


def test_concurrent_accepts_are_all_stored_once(tmp_path: Path) -> None:
    box = inbox(tmp_path)
    sink = GroupCommitSink(box, max_batch=7)
    results: dict[int, bool] = {}
    start = threading.Barrier(40)

    def deliver(n: int) -> None:
        start.wait()
        results[n] = sink.accept("generic", f"k{n % 30}", ticket(n % 30), NOW)  # type: ignore[arg-type]

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert 40 == len(results)
    assert 30 == sum(results.values())  # ten deliveries were repeats of earlier keys
    assert sorted(f"k{n}" for n in range(30)) == sorted(i.event_key for i in box.unprocessed(100))


def test_a_repeat_after_the_commit_is_a_duplicate(tmp_path: Path) -> None:
    sink = GroupCommitSink(inbox(tmp_path))
    assert sink.accept("generic", "k1", ticket(1), NOW)  # type: ignore[arg-type]
    assert not sink.accept("generic", "k1", ticket(1), NOW)  # type: ignore[arg-type]
    assert sink.accept("zendesk", "k1", ticket(1), NOW)  # type: ignore[arg-type]  # other source


def test_a_failed_commit_fails_every_waiter_and_the_next_one_succeeds(tmp_path: Path) -> None:
    box = inbox(tmp_path)
    sink = GroupCommitSink(box)
    real = box.receive_many
    calls = {"n": 0}

    def flaky(events: list[tuple[str, str, dict[str, object], datetime]]) -> list[bool]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk full")
        return real(events)  # type: ignore[arg-type]

    box.receive_many = flaky  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk full"):
        sink.accept("generic", "k1", ticket(1), NOW)  # type: ignore[arg-type]
    assert sink.accept("generic", "k1", ticket(1), NOW)  # type: ignore[arg-type]  # the retry stores it
    assert ["k1"] == [i.event_key for i in box.unprocessed(10)]


def test_mark_many_marks_only_the_given_events(tmp_path: Path) -> None:
    box = inbox(tmp_path)
    box.receive_many([("g", f"k{n}", {"id": str(n)}, NOW) for n in range(3)])
    first, second, third = box.unprocessed(10)
    box.mark_many([(first.id, "paged: rule x"), (third.id, "ignored: y")], NOW)
    assert [second.id] == [i.id for i in box.unprocessed(10)]
