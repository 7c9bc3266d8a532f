"""The writes of a call's path, each a named, typed operation serialised as data.

An operation is a frozen dataclass of JSON values: its ``name`` (``calls.ended``) and its
fields are what the journal stores, never SQL text or code. ``apply(conn)`` calls the one SQL
function of ivr_app/db/ for it, the same whether it is written at once or replayed after an
outage. ``at`` is when it happened (ISO 8601), so a write replayed an hour later still stores
the call's own times, not the replay's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import psycopg

from ivr_app.db import (
    calls,
    external_legs,
    interactions,
    presence,
    queue_callbacks,
    queues,
    recordings,
    voicemails,
)
from ivr_app.db.recordings import RecordingMeta
from ivr_app.presence.model import State


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class UnknownOperation(ValueError):
    """A journal line names an operation this version does not know, or wrong arguments."""


OPERATIONS: dict[str, type[Op]] = {}


@dataclass(frozen=True, kw_only=True)
class Op:
    name: ClassVar[str]
    at: str = field(default_factory=now_iso)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        OPERATIONS[cls.name] = cls

    def apply(self, conn: psycopg.Connection) -> Any:
        raise NotImplementedError

    def args(self) -> dict[str, Any]:
        return asdict(self)

    def call(self) -> str | None:
        """The call this write belongs to (for the logs), if any."""
        return getattr(self, "uuid", None) or getattr(self, "call_uuid", None)


def from_data(name: str, args: dict[str, Any]) -> Op:
    """The operation a journal line describes (UnknownOperation if it cannot be one)."""
    cls = OPERATIONS.get(name)
    if cls is None:
        raise UnknownOperation(f"unknown operation {name!r}")
    known = {f.name for f in fields(cls)}
    if not isinstance(args, dict) or set(args) - known:
        raise UnknownOperation(f"{name}: unexpected arguments {sorted(set(args) - known)}")
    try:
        return cls(**args)
    except TypeError as exc:
        raise UnknownOperation(f"{name}: {exc}") from None


# -- calls ------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CallStarted(Op):
    name = "calls.started"
    uuid: str
    direction: str
    caller_number: str
    caller_name: str
    destination: str
    customer_id: int | None
    node: str | None
    caller_e164: str | None = None

    def apply(self, conn: psycopg.Connection) -> None:
        calls.started(conn, self.uuid, direction=self.direction,
                      caller_number=self.caller_number, caller_name=self.caller_name,
                      destination=self.destination, customer_id=self.customer_id,
                      node=self.node, caller_e164=self.caller_e164, at=self.at)


@dataclass(frozen=True, kw_only=True)
class CallAnswered(Op):
    name = "calls.answered"
    uuid: str

    def apply(self, conn: psycopg.Connection) -> None:
        calls.answered(conn, self.uuid, at=self.at)


@dataclass(frozen=True, kw_only=True)
class CallEnded(Op):
    name = "calls.ended"
    uuid: str
    hangup_cause: str | None
    route: str | None
    menu_path: list[dict[str, str]]
    employee_id: int | None = None
    employee_extension: str | None = None
    employee_answered: bool | None = None

    def apply(self, conn: psycopg.Connection) -> None:
        calls.ended(conn, self.uuid, hangup_cause=self.hangup_cause, route=self.route,
                    menu_path=self.menu_path, employee_id=self.employee_id,
                    employee_answered=self.employee_answered,
                    employee_extension=self.employee_extension, at=self.at)


# -- the customer's timeline ------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class InteractionAdded(Op):
    name = "interactions.added"
    customer_id: int | None
    kind: str
    reference: str | None
    summary: str
    employee_id: int | None = None
    caller_number: str | None = None  # finds the customer when customer_id is unknown
    employee_extension: str | None = None

    def apply(self, conn: psycopg.Connection) -> None:
        interactions.add(conn, self.customer_id, self.kind, self.reference, self.summary,
                         self.employee_id, caller_number=self.caller_number,
                         employee_extension=self.employee_extension, at=self.at)


# -- recordings -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class RecordingsAttached(Op):
    name = "recordings.attached"
    metas: list[dict[str, Any]]  # RecordingMeta.as_dict() each

    def apply(self, conn: psycopg.Connection) -> None:
        recordings.attach_many(conn, [RecordingMeta(**m) for m in self.metas])

    def call(self) -> str | None:
        return self.metas[0]["call_uuid"] if len(self.metas) == 1 else None


@dataclass(frozen=True, kw_only=True)
class RecordingsFollowCustomer(Op):
    name = "recordings.follow_customer"
    call_uuid: str
    customer_id: int

    def apply(self, conn: psycopg.Connection) -> None:
        recordings.follow_customer(conn, self.call_uuid, self.customer_id)


# -- hold queues ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _OfferOp(Op):
    name = "queues._offer"
    entry_id: int
    agent_id: int
    extension: str
    agent_name: str

    @property
    def offer(self) -> queues.Offer:
        return queues.Offer(self.entry_id, self.agent_id, self.extension, self.agent_name)

    @classmethod
    def of(cls, offer: queues.Offer, **kw: Any) -> Any:
        return cls(entry_id=offer.entry_id, agent_id=offer.agent_id, extension=offer.extension,
                   agent_name=offer.name, **kw)


OPERATIONS.pop(_OfferOp.name)


@dataclass(frozen=True, kw_only=True)
class QueueAnswered(_OfferOp):
    name = "queues.answered"

    def apply(self, conn: psycopg.Connection) -> None:
        queues.answered(conn, self.offer, at=self.at)


@dataclass(frozen=True, kw_only=True)
class QueueFinished(_OfferOp):
    name = "queues.finished"
    wrap_up_s: int

    def apply(self, conn: psycopg.Connection) -> None:
        queues.finished(conn, self.offer, self.wrap_up_s, at=self.at)


@dataclass(frozen=True, kw_only=True)
class QueueReleased(_OfferOp):
    name = "queues.released"
    pause_s: int

    def apply(self, conn: psycopg.Connection) -> None:
        queues.release(conn, self.offer, self.pause_s, at=self.at)


@dataclass(frozen=True, kw_only=True)
class QueueLeft(Op):
    name = "queues.left"
    entry_id: int
    status: str
    reason: str | None

    def apply(self, conn: psycopg.Connection) -> None:
        queues.leave(conn, self.entry_id, self.status, self.reason, at=self.at)


@dataclass(frozen=True, kw_only=True)
class QueueUnavailable(Op):
    name = "queues.unavailable"
    queue: str
    call_uuid: str
    node: str
    caller_number: str | None
    customer_id: int | None
    vip: bool

    def apply(self, conn: psycopg.Connection) -> None:
        queues.unavailable(conn, self.queue, call_uuid=self.call_uuid, node=self.node,
                           caller_number=self.caller_number, customer_id=self.customer_id,
                           vip=self.vip, at=self.at)


@dataclass(frozen=True, kw_only=True)
class CallbackRequested(Op):
    name = "queues.callback_requested"
    queue: str
    entry_id: int | None
    number: str
    customer_id: int | None

    def apply(self, conn: psycopg.Connection) -> int:
        return queue_callbacks.request_callback(conn, self.queue, self.entry_id, self.number,
                                       self.customer_id, at=self.at)


# -- voicemail --------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class VoicemailStored(Op):
    name = "voicemails.stored"
    call_uuid: str
    box: str | None
    caller_number: str | None
    caller_name: str | None
    path: str
    seconds: int | None
    customer_id: int | None

    def apply(self, conn: psycopg.Connection) -> tuple[Any, ...] | None:
        return voicemails.store(conn, call_uuid=self.call_uuid, box=self.box,
                                caller_number=self.caller_number,
                                caller_name=self.caller_name, path=self.path,
                                seconds=self.seconds, customer_id=self.customer_id, at=self.at)


@dataclass(frozen=True, kw_only=True)
class PresenceChanged(Op):
    """A star code's change: ``column`` is ``state`` (a presence state) or ``forward_to`` (a
    number, None to clear). Journaled like the call's other writes when PostgreSQL is away:
    the employee's *31 in an outage takes effect, in order, once it is back."""

    name = "presence.changed"
    extension: str
    column: str
    value: str | None
    by: str

    def apply(self, conn: psycopg.Connection) -> bool:
        if self.column == "state":
            return presence.set_state(conn, self.extension, State(self.value or ""), self.by)
        if self.column == "forward_to":
            return presence.set_forward(conn, self.extension, self.value, self.by)
        raise UnknownOperation(f"presence.changed: no column {self.column!r}")


@dataclass(frozen=True, kw_only=True)
class ExternalLegsReleased(Op):
    """A bridge to an employee's external legs is over: they no longer count against the
    cap on any node."""

    name = "external_legs.released"
    call_uuid: str
    extension: str

    def apply(self, conn: psycopg.Connection) -> None:
        external_legs.release(conn, self.call_uuid, self.extension)
