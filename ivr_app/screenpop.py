"""Screen pop: when a call is offered to an employee, their desk software learns who calls.

Two ways out, both off the call's path (a greenlet each; the call never waits for them):

* a FreeSWITCH CUSTOM event ``ivr_app::screen_pop`` fired over the control connection, so a
  desk integration already listening on the Event Socket gets it;
* a JSON POST to ``screen_pop.webhook_url``, retried with exponential backoff.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import gevent

from ivr_app.config import ScreenPopConfig
from ivr_app.db.customers import CustomerCard
from ivr_app.db.interactions import Interaction
from ivr_app.esl.errors import EslError
from ivr_app.webhook import post_json

SUBCLASS = "ivr_app::screen_pop"


@dataclass(frozen=True)
class Offer:
    call_uuid: str
    employee_extension: str
    caller_number: str
    caller_name: str
    customer: CustomerCard | None
    recent: tuple[Interaction, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "call_uuid": self.call_uuid, "employee_extension": self.employee_extension,
            "caller_number": self.caller_number, "caller_name": self.caller_name,
            "customer": asdict(self.customer) if self.customer else None,
            "recent_interactions": [
                {"kind": i.kind, "reference": i.reference,
                 "occurred_at": i.occurred_at.isoformat(), "summary": i.summary}
                for i in self.recent],
        }


class ScreenPop:
    def __init__(self, cfg: ScreenPopConfig, control: Any, log: Any):
        self.cfg = cfg
        self.control = control
        self.log = log.bind(component="screen-pop")
        self.sent = 0

    def reconfigure(self, config: Any) -> None:
        """A reload: the next screen pop goes where the new configuration says."""
        self.cfg = config.screen_pop

    def offer(self, offer: Offer) -> gevent.Greenlet:
        return gevent.spawn(self._publish, offer)

    def _publish(self, offer: Offer) -> None:
        body = json.dumps(offer.as_json(), ensure_ascii=False)
        if self.control is not None:
            headers = [("Event-Subclass", SUBCLASS), ("Unique-ID", offer.call_uuid),
                       ("ivr_app_employee", offer.employee_extension),
                       ("ivr_app_customer_id", str(offer.customer.id) if offer.customer else ""),
                       ("ivr_app_caller_number", offer.caller_number)]
            try:
                self.control.sendevent("CUSTOM", headers, body)
            except EslError as exc:
                self.log.warning("screen pop event not sent", error=str(exc),
                                 call_uuid=offer.call_uuid)
        if self.cfg.webhook_url:
            self._post(body.encode(), offer.call_uuid)
        self.sent += 1

    def _post(self, data: bytes, call_uuid: str) -> None:
        post_json(self.cfg.webhook_url, data, timeout=self.cfg.timeout_seconds,
                  retries=self.cfg.retries, log=self.log, what="screen pop", call_uuid=call_uuid)
