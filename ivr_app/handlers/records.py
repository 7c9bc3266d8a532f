"""What an IVR call leaves behind: its calls row (start, answer, end with route, keys,
employee and hangup cause), its entry on the customer's timeline, its recordings following the
customer. Every one is an outbox operation (ivr_app/outbox/ops.py): written at once when
PostgreSQL answers, journaled and replayed in order when it does not.

A caller whose lookup could not be made (PostgreSQL away) went the anonymous way; the rows
still carry the caller's E.164 number and the employee's extension, so the replay finds the
customer and the employee the call was really about.
"""

from __future__ import annotations

from typing import Any, Protocol

from ivr_app.db.customers import CustomerCard
from ivr_app.db.employees import EmployeeRef
from ivr_app.esl.call import Call
from ivr_app.handlers.context import HandlerContext
from ivr_app.outbox import ops
from ivr_app.phone import to_e164


class Flow(Protocol):
    call: Call
    ctx: HandlerContext
    card: CustomerCard | None
    customer_unknown: bool
    keys: list[dict[str, str]]
    route: str
    outcome: str
    employee: EmployeeRef | None
    employee_extension: str | None
    employee_answered: bool

    @property
    def log(self) -> Any: ...


def _e164(flow: Flow) -> str | None:
    return to_e164(flow.call.caller_id_number, flow.ctx.config.ivr.default_region)


def started(flow: Flow) -> None:
    call = flow.call
    flow.ctx.write(ops.CallStarted(
        uuid=call.uuid, direction="inbound", caller_number=call.caller_id_number,
        caller_name=call.caller_id_name, destination=call.destination_number,
        customer_id=flow.card.id if flow.card else None, node=flow.ctx.config.node_name,
        caller_e164=_e164(flow)), flow.log)


def answered(flow: Flow) -> None:
    flow.ctx.write(ops.CallAnswered(uuid=flow.call.uuid), flow.log)


def ended(flow: Flow) -> None:
    route, keys, cause = flow.route, list(flow.keys), flow.call.final_cause()
    employee, extension = flow.employee, flow.employee_extension
    tried = employee is not None or extension is not None
    flow.ctx.write(ops.CallEnded(
        uuid=flow.call.uuid, hangup_cause=cause, route=route, menu_path=keys,
        employee_id=employee.id if employee else None,
        employee_extension=None if employee else extension,
        employee_answered=flow.employee_answered if tried else None), flow.log)
    if flow.card is None and not flow.customer_unknown:
        return  # an anonymous caller: no timeline
    pressed = " ".join(f"{k['menu']}:{k['digits'] or '-'}" for k in keys) or "none"
    summary = f"IVR call: keys {pressed}; route {route}" + \
        (f"; {flow.outcome}" if flow.outcome else "")
    card = flow.card
    flow.ctx.write(ops.InteractionAdded(
        customer_id=card.id if card else None, kind="call", reference=flow.call.uuid,
        summary=summary, employee_id=employee.id if employee else None,
        caller_number=None if card else _e164(flow),
        employee_extension=None if employee else extension), flow.log)
    if card is not None:
        # recordings attached before the customer was known follow the call to them (after
        # an outage the recording finds the customer through the calls row itself)
        flow.ctx.write(ops.RecordingsFollowCustomer(call_uuid=flow.call.uuid,
                                                    customer_id=card.id), flow.log)
