"""Voicemail left for an employee: stored, on the customer's timeline, and notified.

mod_voicemail fires CUSTOM ``vm::maintenance`` with ``VM-Action: leave-message`` once a message
is kept (mod_voicemail.c, deliver_vm), carrying the caller's channel data: its Unique-ID and
``ivr_app_customer_id`` as the IVR set it. That becomes a ``voicemails`` row (idempotent by
call UUID + file), a ``voicemail`` entry on the customer's timeline, and a notification to
``presence.voicemail_webhook_url`` and an e-mail to the employee (``presence.smtp_host``, the
recording attached), both marked urgent when the caller is a VIP customer. The
notification runs off the event path; ``notified_at`` records that it went out.
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import gevent
import psycopg
from psycopg_pool import PoolTimeout

from ivr_app.config import Config
from ivr_app.esl.events import Event
from ivr_app.webhook import post_json

SUBCLASS = "vm::maintenance"

STORE = """
WITH ins AS (
    INSERT INTO voicemails (call_uuid, employee_id, customer_id, caller_number, caller_name,
                            path, seconds, urgent)
    SELECT %(call_uuid)s, (SELECT id FROM employees WHERE extension = %(box)s),
           c.id, %(caller_number)s, %(caller_name)s, %(path)s, %(seconds)s,
           COALESCE(c.vip, false)
    FROM (SELECT 1) one
    LEFT JOIN customers c ON c.id = COALESCE(
        %(customer_id)s::bigint,
        (SELECT customer_id FROM calls WHERE uuid = %(call_uuid)s::uuid),
        (SELECT customer_id FROM customer_phone_numbers WHERE number = %(caller_number)s))
    ON CONFLICT (call_uuid, path) DO NOTHING
    RETURNING id, employee_id, customer_id, urgent, seconds
), timeline AS (
    INSERT INTO interactions (customer_id, employee_id, kind, reference, summary)
    SELECT customer_id, employee_id, 'voicemail', 'voicemail:' || id,
           'voicemail, ' || COALESCE(seconds, 0) || ' s' FROM ins
    WHERE customer_id IS NOT NULL
    ON CONFLICT (kind, reference) WHERE reference IS NOT NULL DO NOTHING
)
SELECT ins.id, ins.urgent, c.name, c.company, e.email, e.name
FROM ins LEFT JOIN customers c ON c.id = ins.customer_id
LEFT JOIN employees e ON e.id = ins.employee_id
"""


class VoicemailService:
    def __init__(self, config: Config, pool: Any, log: Any):
        self.cfg = config.presence
        self.pool = pool
        self.log = log.bind(component="voicemail")
        self.stored = 0
        self.notified = 0

    def attach(self, control: Any) -> VoicemailService:
        control.on(SUBCLASS, self.on_maintenance)
        return self

    def on_maintenance(self, event: Event) -> None:
        if event.get("VM-Action") != "leave-message":
            return
        gevent.spawn(self.store, event)

    def store(self, event: Event) -> int | None:
        seconds = event.get("VM-Message-Len") or ""
        customer = event.variable("ivr_app_customer_id") or ""
        params = {
            "call_uuid": event.unique_id, "box": event.get("VM-User"),
            "caller_number": event.get("VM-Caller-ID-Number"),
            "caller_name": event.get("VM-Caller-ID-Name"),
            "path": event.get("VM-File-Path") or "",
            "seconds": int(seconds) if seconds.isdigit() else None,
            "customer_id": int(customer) if customer.isdigit() else None}
        log = self.log.bind(call_uuid=params["call_uuid"], mailbox=params["box"])
        if not params["call_uuid"] or not params["path"]:
            log.warning("voicemail event without call or file", path=params["path"])
            return None
        try:
            with self.pool.connection(timeout=2.0) as conn, conn.transaction():
                row = conn.execute(STORE, params).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            # the message itself is safe in FreeSWITCH's voicemail store
            log.error("voicemail not recorded in PostgreSQL", error=str(exc).splitlines()[0])
            return None
        if row is None:
            return None  # already stored (the same event twice)
        vm_id, urgent, customer_name, company, email_to, employee = row
        self.stored += 1
        log.info("voicemail stored", voicemail_id=vm_id, urgent=urgent)
        notice = {"id": f"voicemail:{vm_id}", "mailbox": params["box"], "employee": employee,
                  "urgent": urgent, "caller_number": params["caller_number"],
                  "caller_name": params["caller_name"], "customer": customer_name,
                  "company": company, "seconds": params["seconds"], "call_uuid":
                  params["call_uuid"]}
        if self.cfg.voicemail_webhook_url:
            self.notify(vm_id, notice, log)
        if self.cfg.smtp_host and email_to:
            self.email(email_to, notice, params["path"], log)
        return int(vm_id)

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
                conn.execute("UPDATE voicemails SET notified_at = now() WHERE id = %s",
                             (vm_id,))
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("notified_at not recorded", error=str(exc).splitlines()[0])
