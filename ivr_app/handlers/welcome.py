"""The first call flow: greet the caller, known or not, and offer a one-key menu.

    caller ID -> customer card (PostgreSQL) -> greeting -> "1: your account manager's
    extension, 2: your customer number" -> said back -> goodbye

It exercises the whole path (outbound socket, Call verbs, quoting, DB lookup that never
blocks the call, the calls row) and is what `make demo` shows. The YAML-defined IVR menus
replace it as the entry flow.
"""

from __future__ import annotations

from ivr_app.db import calls, customers
from ivr_app.esl.call import Call
from ivr_app.handlers.context import HandlerContext
from ivr_app.phone import to_e164

GREETING = "tone_stream://%(400,200,523,659);%(400,0,784)"
MENU = "tone_stream://%(300,100,440);%(300,0,440)"
INVALID = "tone_stream://%(200,100,300);%(200,0,300)"
GOODBYE = "tone_stream://%(500,0,392)"


def handle(call: Call, ctx: HandlerContext) -> None:
    log = call.log
    number = to_e164(call.caller_id_number)
    card = ctx.db("customer lookup",
                  lambda conn: customers.find_by_number(conn, number) if number else None,
                  None, log)
    if card is not None:
        log = call.log = log.bind(customer_id=card.id, vip=card.vip)
        log.info("known caller", customer=card.name, manager=card.manager_extension)
    else:
        log.info("anonymous caller")
    ctx.db("calls row", lambda conn: calls.started(
        conn, call.uuid, direction="inbound", caller_number=call.caller_id_number,
        caller_name=call.caller_id_name, destination=call.destination_number,
        customer_id=card.id if card else None), None, log)
    menu_path: list[dict[str, str]] = []
    route = "welcome"
    try:
        call.answer()
        ctx.db("answered", lambda conn: calls.answered(conn, call.uuid), None, log)
        call.playback(GREETING)
        digit = call.play_and_get_digits(MENU, invalid=INVALID, max_digits=1, tries=3,
                                         timeout_ms=5000, regex="^[12]$")
        menu_path.append({"menu": "welcome", "digits": digit or ""})
        if digit == "1" and card is not None and card.manager_extension:
            route = "welcome/manager-extension"
            call.say(card.manager_extension, method="iterated")
        elif digit == "2" and card is not None:
            route = "welcome/customer-number"
            call.say(str(card.id), method="iterated")
        elif digit is None:
            route = "welcome/no-input"
        call.playback(GOODBYE)
        call.hangup("NORMAL_CLEARING")
    finally:
        ctx.db("calls row", lambda conn: calls.ended(
            conn, call.uuid, hangup_cause=call.hangup_cause, route=route,
            menu_path=menu_path), None, log)
