"""The hand-over duty: at each desk's opening, the tickets that waited while it was closed
are handed to the people on duty — once per opening, remembered in the database (the opening
instant sent, and each ticket marked handed over), so a restart does not repeat it.

Readers: the people on call at that moment in the desk's ``handover.schedule``, else (no
schedule, or nobody on it) the admins (``notifications.admins``). Each gets an SMS summary
(an e-mail instead without a phone or after STOP) and the full list on each ``handover.digest``
channel they have an address on. Tickets solved or closed meanwhile drop out; a ticket whose
rule said ``page: at_opening`` and that is still untouched (its status unchanged, not pending)
pages through the rule's policy at the opening. A ticket kept after its opening's hand-over
went out (a late decision) follows in an addition to that hand-over.

A singleton under the ``handover`` lease (``fence``): every write (a ticket dropped or marked
handed over, the opening recorded, an incident opened at the opening) holds the lease in its
transaction, and each message checks it before it goes, so an instance woken from a freeze
after another took the lease over writes and sends nothing (``LeaseLost`` ends the run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.errors import DeliveryError, LeaseLost, OncallError, TicketError
from oncall.handover.model import HandoverText, WaitingTicket, by_urgency, handover_text
from oncall.handover.store import WaitingTickets
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.interfaces import Channel, Outbound, Transport
from oncall.notify.channels import quiet_channels, reachable
from oncall.notify.chat import CHAT, CHAT_TONE
from oncall.notify.chat_formats import Tone
from oncall.schedules.models import Person
from oncall.store.inbox import Inbox, get_cursor
from oncall.store.leases import UNFENCED, Fencing, fenced_set_cursor
from oncall.tickets import Status, Ticket, parse_ticket

log = logs.get("oncall.daemon")

_TOUCHED = frozenset({Status.PENDING, Status.SOLVED, Status.CLOSED})


class HandoverDuty:
    name = "handover"
    pacing = Pacing.INTERVAL
    at_start = True
    singleton = True
    fence: Fencing = UNFENCED  # the lease keeper's, when it runs the duty

    def __init__(self, engine: Engine, transport: Transport, snapshot: Callable[[], Snapshot], *,
                 inbox: Inbox, service: IncidentService, sms_blocked: Callable[[str], bool],
                 interval: timedelta) -> None:
        self.engine = engine
        self.waiting = WaitingTickets(engine)
        self.transport = transport
        self.snapshot = snapshot
        self.inbox = inbox
        self.service = service
        self.sms_blocked = sms_blocked
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        by_desk: dict[str, list[WaitingTicket]] = defaultdict(list)
        for t in self.waiting.due(now):
            by_desk[t.desk].append(t)
        sent = 0
        for desk_id, tickets in by_desk.items():
            sent += self._hand_over(desk_id, tickets, now)
        return DutyReport(done=sent)

    def _hand_over(self, desk_id: str, due: list[WaitingTicket], now: datetime) -> int:
        snap = self.snapshot()
        still: list[WaitingTicket] = []
        latest: dict[tuple[str, str], Ticket] = {}
        for t in due:
            ticket = self._latest(t)
            if ticket is not None and ticket.status.is_closed:
                self.waiting.drop(t.source, t.ticket_id, self.fence)
                continue
            if ticket is not None:
                latest[(t.source, t.ticket_id)] = ticket
            still.append(t)
        opening = max(t.handover_at for t in due)
        key = f"handover:{desk_id}:{opening.astimezone(UTC).isoformat()}"
        addition = get_cursor(self.engine, key) is not None
        tickets = by_urgency(self.waiting.handed_over(still, now, self.fence))
        fenced_set_cursor(self.engine, self.fence, key, now.isoformat(), now)
        if not tickets:
            return 0
        paged = self._page_untouched(tickets, latest, now)
        desk = snap.desks.get(desk_id) or snap.default_desk
        text = handover_text(desk.name or desk.id, opening, desk.timezone, tickets,
                             customers={c.id: c.name or c.id for c in snap.customers.values()},
                             paged=paged, addition=addition)
        readers = desk_readers(snap, desk.handover.schedule, now)
        log.info("handover.sent", desk=desk_id, opening=opening.isoformat(), tickets=len(tickets),
                 readers=len(readers), addition=addition)
        tag = f"handover-{desk_id}-{int(opening.timestamp())}{'-' + str(int(now.timestamp())) if addition else ''}"
        return sum(self._send(p, text, tag, desk.handover.sms, desk.handover.digest) for p in readers)

    def _latest(self, t: WaitingTicket) -> Ticket | None:
        data = self.inbox.last_ticket_state(t.source, t.ticket_id)
        try:
            return None if data is None else parse_ticket(data)
        except TicketError:
            return None

    def _page_untouched(self, tickets: list[WaitingTicket], latest: dict[tuple[str, str], Ticket],
                        now: datetime) -> dict[tuple[str, str], str]:
        """Page the tickets whose rule said ``page: at_opening`` and nobody has touched."""
        paged: dict[tuple[str, str], str] = {}
        for t in tickets:
            ticket = latest.get((t.source, t.ticket_id))
            if t.page_policy is None or ticket is None or ticket.status in _TOUCHED or ticket.status != t.status:
                continue
            self.fence.ready()
            try:
                with self.engine.begin() as conn:
                    self.fence.hold(conn)
                    self.service.within(conn).open_or_update(TicketSummary.from_ticket(ticket), t.page_policy, now)
            except LeaseLost:
                raise
            except (OncallError, SQLAlchemyError) as exc:
                log.error("handover.page_failed", source=t.source, ticket_id=t.ticket_id, error=str(exc))
                continue
            paged[(t.source, t.ticket_id)] = t.page_policy
        if paged:
            self.service.on_change()  # after the commit: the runner pages them now
        return paged

    def _send(self, person: Person, text: HandoverText, tag: str, sms: bool, digest: tuple[str, ...]) -> int:
        """The SMS summary (an e-mail with the digest without a phone or after STOP), then the
        digest on each of ``digest``'s channels the person has an address on and did not get it on."""
        blocked = self.sms_blocked(person.id)
        chosen = _quiet_choice(person, blocked) if sms else None
        sent = send_quiet(self.transport, person, text.sms, f"{tag}-{person.id}", text.subject,
                          sms_blocked=blocked, long_text=text.digest, fence=self.fence) if sms else 0
        for channel in (c for c in Channel if c in digest and c != chosen):
            address = reachable(person, channel, sms_blocked=blocked)
            if address is not None:
                room = channel == CHAT  # a post: one line per ticket, marked as a notice, not a page
                sent += _deliver(self.transport, Outbound(
                    key=f"{tag}-{person.id}-{channel}"[:100], channel=channel, to=address, person_id=person.id,
                    incident_ids=(), text=text.chat if room else text.digest, subject=text.subject,
                    extra={CHAT_TONE: Tone.NOTICE.value} if room else {}), self.fence)
        return sent

def desk_readers(snap: Snapshot, schedule: str | None, now: datetime) -> list[Person]:
    """The people on duty for a desk: on call now in its hand-over schedule, else the admins."""
    ids: tuple[str, ...] = ()
    if schedule is not None and schedule in snap.schedules:
        ids = snap.on_call(schedule, now)
    if not ids:
        ids = tuple(snap.notifications.admins)
    return [snap.people[i] for i in dict.fromkeys(ids) if i in snap.people]


def _quiet_choice(person: Person, blocked: bool) -> Channel | None:
    return next((c for c in quiet_channels() if reachable(person, c, sms_blocked=blocked) is not None), None)


def send_quiet(transport: Transport, person: Person, text: str, key: str, subject: str, *, sms_blocked: bool,
               long_text: str | None = None, fence: Fencing = UNFENCED) -> int:
    """Send ``text`` on the first channel that never rings the person can be reached on: a text,
    else (no phone, or they texted STOP) an e-mail (with ``long_text`` when given). 1 if sent.
    ``fence`` is checked just before (raises ``LeaseLost``, sending nothing)."""
    channel = _quiet_choice(person, sms_blocked)
    if channel is None:
        return 0
    address = reachable(person, channel, sms_blocked=sms_blocked)
    assert address is not None
    body = text if channel is Channel.SMS else (long_text or text)
    return _deliver(transport, Outbound(key=f"{key}-{channel}"[:100], channel=channel, to=address,
                                        person_id=person.id, incident_ids=(), text=body, subject=subject), fence)


def _deliver(transport: Transport, message: Outbound, fence: Fencing = UNFENCED) -> int:
    """Send ``message`` if ``fence`` still holds (raises ``LeaseLost`` otherwise); 1 if sent."""
    fence.check()
    try:
        transport.send(message)
        return 1
    except DeliveryError as exc:
        log.warning("notice.send_failed", person=message.person_id, channel=str(message.channel), error=str(exc))
        return 0
