"""Voicemail left for an employee: stored, on the customer's timeline, and notified.

mod_voicemail fires CUSTOM ``vm::maintenance`` with ``VM-Action: leave-message`` once a message
is kept (mod_voicemail.c, deliver_vm), carrying the caller's channel data: its Unique-ID and
``ivr_app_customer_id`` as the IVR set it. That becomes a ``voicemails`` row (idempotent by
call UUID + file), a ``voicemail`` entry on the customer's timeline, and a notification to
``presence.voicemail_webhook_url`` and an e-mail to the employee (``presence.smtp_host``, the
recording attached), both marked urgent when the caller is a VIP customer. The
notification runs off the event path; ``notified_at`` records that it went out.

The row is an outbox write (ivr_app/outbox): while PostgreSQL is away it waits in the journal,
and the notice goes out when the row is written on replay (the outbox's hook), not before.
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from ivr_app import supervise
from ivr_app.config import Config
from ivr_app.db import voicemails
from ivr_app.esl.events import Event
from ivr_app.outbox import ops
from ivr_app.outbox.outbox import Outbox
from ivr_app.webhook import post_json

SUBCLASS = "vm::maintenance"

class VoicemailService:
    def __init__(self, config: Config, pool: Any, log: Any, outbox: Outbox):
        self.cfg = config.presence
        self.pool = pool
        self.outbox = outbox
        self.log = log.bind(component="voicemail")
        self.stored = 0
        self.notified = 0
        outbox.on_applied(ops.VoicemailStored.name, self._stored)

    def reconfigure(self, config: Config) -> None:
        """A reload: the notice's webhook and e-mail settings apply to the next message."""
        self.cfg = config.presence

    def attach(self, control: Any) -> VoicemailService:
        control.on(SUBCLASS, self.on_maintenance)
        return self

    def on_maintenance(self, event: Event) -> None:
        if event.get("VM-Action") != "leave-message":
            return
        supervise.spawn(self.store, event, log=self.log, what="voicemail store")

    def store(self, event: Event) -> str:
        """Store the message (or journal it); the notices follow once its row exists."""
        seconds = event.get("VM-Message-Len") or ""
        customer = event.variable("ivr_app_customer_id") or ""
        op = ops.VoicemailStored(
            call_uuid=event.unique_id or "", box=event.get("VM-User"),
            caller_number=event.get("VM-Caller-ID-Number"),
            caller_name=event.get("VM-Caller-ID-Name"), path=event.get("VM-File-Path") or "",
            seconds=int(seconds) if seconds.isdigit() else None,
            customer_id=int(customer) if customer.isdigit() else None)
        log = self.log.bind(call_uuid=op.call_uuid, mailbox=op.box)
        if not op.call_uuid or not op.path:
            log.warning("voicemail event without call or file", path=op.path)
            return "ignored"
        # the message itself is safe in FreeSWITCH's voicemail store either way
        return self.outbox.submit(op, log).status

    def _stored(self, op: ops.Op, row: Any) -> None:
        """The outbox hook: the row is in PostgreSQL (now or replayed); notify."""
        assert isinstance(op, ops.VoicemailStored)
        if row is None:
            return  # already stored (the same event twice)
        log = self.log.bind(call_uuid=op.call_uuid, mailbox=op.box)
        vm_id, urgent, customer_name, company, email_to, employee = row
        self.stored += 1
        log.info("voicemail stored", voicemail_id=vm_id, urgent=urgent)
        notice = {"id": f"voicemail:{vm_id}", "mailbox": op.box, "employee": employee,
                  "urgent": urgent, "caller_number": op.caller_number,
                  "caller_name": op.caller_name, "customer": customer_name,
                  "company": company, "seconds": op.seconds, "call_uuid": op.call_uuid}
        if self.cfg.voicemail_webhook_url:
            supervise.spawn(self.notify, vm_id, notice, log, log=log, what="voicemail notice")
        if self.cfg.smtp_host and email_to:
            supervise.spawn(self.email, email_to, notice, op.path, log, log=log,
                            what="voicemail e-mail")

    def email(self, to: str, notice: dict[str, Any], path: str, log: Any) -> bool:
        """The message as an e-mail to the employee, the recording attached (up to 10 MB)."""
        who = notice["customer"] or notice["caller_name"] or notice["caller_number"] or "unknown"
        msg = EmailMessage()
        msg["From"] = self.cfg.smtp_from
        msg["To"] = to
        msg["Subject"] = ("[URGENT] " if notice["urgent"] else "") + \
            f"Voicemail from {who} ({notice['caller_number']})"
        msg.set_content(
            f"{who} ({notice['caller_number']}) left you a voicemail of "
            f"{notice['seconds']} s" + (f", {notice['company']}" if notice["company"] else "")
            + ".\n" + ("This caller is a VIP customer.\n" if notice["urgent"] else ""))
        file = Path(path)
        if file.is_file() and file.stat().st_size <= 10 * 1024 * 1024:
            msg.add_attachment(file.read_bytes(), maintype="audio", subtype="wav",
                               filename=file.name)
        if notice["urgent"]:
            msg["Importance"] = "high"
            msg["X-Priority"] = "1"
        try:
            with smtplib.SMTP(self.cfg.smtp_host, self.cfg.smtp_port, timeout=10) as smtp:
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("voicemail e-mail not sent", to=to, error=str(exc))
            return False
        log.info("voicemail e-mailed", to=to)
        return True

    def notify(self, vm_id: int, notice: dict[str, Any], log: Any) -> None:
        ok = post_json(self.cfg.voicemail_webhook_url,
                       json.dumps(notice, ensure_ascii=False).encode(), timeout=5.0,
                       retries=5, log=log, what="voicemail notice", voicemail_id=vm_id)
        if not ok:
            return
        self.notified += 1
        try:
            with self.pool.connection(timeout=2.0) as conn:
                voicemails.notified(conn, vm_id)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("notified_at not recorded", error=str(exc).splitlines()[0])
