"""Customers as a call sees them: the card looked up by the caller's number."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class CustomerCard:
    id: int
    name: str
    company: str | None
    vip: bool
    language: str
    manager_extension: str | None
    manager_name: str | None


def find_by_number(conn: psycopg.Connection, e164: str) -> CustomerCard | None:
    """One index hit on customer_phone_numbers.number (UNIQUE)."""
    row = conn.execute(
        """SELECT c.id, c.name, c.company, c.vip, c.language, m.extension, m.name
           FROM customer_phone_numbers n
           JOIN customers c ON c.id = n.customer_id
           LEFT JOIN employees m ON m.id = c.account_manager_id
           WHERE n.number = %s""",
        (e164,),
    ).fetchone()
    return CustomerCard(*row) if row else None
