"""Employees as a call needs them: who has an extension, and which phone is their desk."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class EmployeeRef:
    id: int
    extension: str
    name: str
    desk: str  # the dial target of the enabled desk device (user/<ext> when none is set)


def find_by_extension(conn: psycopg.Connection, extension: str) -> EmployeeRef | None:
    row = conn.execute(
        """SELECT e.id, e.extension, e.name,
                  (SELECT d.destination FROM employee_devices d
                   WHERE d.employee_id = e.id AND d.kind = 'desk' AND d.enabled
                   ORDER BY d.id LIMIT 1)
           FROM employees e WHERE e.extension = %s""",
        (extension,),
    ).fetchone()
    if row is None:
        return None
    return EmployeeRef(row[0], row[1], row[2], row[3] or f"user/{row[1]}")


def all_extensions(conn: psycopg.Connection) -> list[str]:
    """Every employee's extension (the menus' digit map: which keys may begin one)."""
    return [r[0] for r in conn.execute("SELECT extension FROM employees ORDER BY extension")]
