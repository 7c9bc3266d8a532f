"""The external-leg cap for the whole installation: how many of an employee's external legs
ring or talk at once, counted in PostgreSQL across every node (db/external_legs.py).

A call asks before it rings (``claim``: atomic per employee, so two nodes cannot both pass the
cap) and gives the legs back when its bridge ends (``release``, a write of the call's path
through the outbox: journaled if PostgreSQL is away, never lost). While PostgreSQL does not
answer, this node's own count stands in, as before.
"""

from __future__ import annotations

from typing import Any

from ivr_app.db import external_legs as db
from ivr_app.outbox import ops

UNKNOWN = object()


class ExternalLegs:
    def __init__(self, ctx: Any, call_uuid: str, log: Any):
        self.ctx, self.call_uuid, self.log = ctx, call_uuid, log
        self.held: dict[str, tuple[int, bool]] = {}  # extension -> (legs, counted in PG)

    def in_use(self, extension: str) -> int:
        """The employee's external legs now, on every node (this node's, without PG)."""
        used = self.ctx.db("external legs in use", lambda c: db.in_use(c, extension), UNKNOWN,
                           self.log)
        return self.ctx.external_legs[extension] if used is UNKNOWN else int(used)

    def claim(self, extension: str, legs: int) -> tuple[bool, int]:
        """Hold ``legs`` for this call: (True, in use before), or (False, in use now) when
        they would pass the cap (another node took some meanwhile: plan again)."""
        if legs <= 0:
            return True, 0
        cap = self.ctx.config.presence.max_external_legs
        got = self.ctx.db("external legs claim", lambda c: db.claim(
            c, extension, self.call_uuid, legs, cap, self.ctx.config.node_name), UNKNOWN,
            self.log)
        if got is UNKNOWN:  # PostgreSQL away: this node's own count
            used = self.ctx.external_legs[extension]
            if used + legs > cap:
                return False, used
            self.ctx.external_legs[extension] += legs
            self.held[extension] = (legs, False)
            return True, used
        ok, used = got
        if ok:
            self.held[extension] = (legs, True)
        return ok, used

    def release_all(self) -> None:
        """The call is over: whatever it still holds (an added agent's legs) goes back."""
        for extension in list(self.held):
            self.release(extension)

    def release(self, extension: str) -> None:
        legs, in_pg = self.held.pop(extension, (0, False))
        if not legs:
            return
        if in_pg:
            self.ctx.write(ops.ExternalLegsReleased(call_uuid=self.call_uuid,
                                                    extension=extension), self.log)
        else:
            self.ctx.external_legs[extension] -= legs
