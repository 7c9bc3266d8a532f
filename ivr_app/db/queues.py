"""The hold queues' shared state in PostgreSQL: entries, agents, offers, history.

Several ivr-app nodes serve one queue. The rule that keeps them from offering one caller to two
agents, or one agent two callers, is a single transaction (:func:`claim`) run only by the
caller's own flow (so a caller is never offered twice) that locks the chosen agent's row with
``FOR UPDATE SKIP LOCKED``: an agent another node is deciding about is skipped, never waited
for, and what is committed (the entry ``offered``, the agent's ``entry_id``) is what every other
node's next look sees. ``agents.entry_id`` is also unique, so even a bug elsewhere could not give
one agent two callers.

Order: VIP callers, then callers whose account manager is an agent of the queue ("team"), then
everyone else; first come first served inside each class (ivr_app/queue/order.py says the same
in Python). With F agents free, only the first F waiting callers may take one, so nobody
overtakes a caller ahead and a burst of free agents is filled in one dispatch round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

# an entry whose node has not looked for an agent for this long is treated as gone
STALE_SECONDS = 15
# an agent whose presence rules did not ring for a caller is skipped this long (so the same
# caller is not offered to them on every look)
REFUSED_PAUSE_SECONDS = 5
# how many agents may be added to an offer that still rings (see claim)
ADDED_AGENTS = 1
LIVE = ("waiting", "offered")

_AVAILABLE_STATE = """COALESCE(CASE WHEN p.until IS NOT NULL AND p.until <= now()
                                    THEN 'available' ELSE p.state::text END,
                               'available')"""

_HAS_SKILLS = """NOT EXISTS (
    SELECT 1 FROM jsonb_each_text(%(skills)s::jsonb) AS req(skill, lvl)
    WHERE NOT EXISTS (SELECT 1 FROM agent_skills s
                      WHERE s.employee_id = a.employee_id AND s.skill = req.skill
                        AND s.level >= req.lvl::int))"""

_RANK = "vip DESC, team DESC, entered_at, id"



def _alive(t: str = "") -> str:
    """An entry in the line now: a call whose node still looks for an agent (seen_at), or a
    callback whose (re)try time has come. ``t``: the table alias, with its dot."""
    return (f"(CASE WHEN {t}callback_id IS NULL"
            f" THEN {t}seen_at > now() - make_interval(secs => %(stale)s)"
            f" ELSE {t}not_before IS NULL OR {t}not_before <= now() END)")

# agents free to take a call now (see claim)
_FREE_AGENTS = ("""
    FROM agents a
    JOIN employees e ON e.id = a.employee_id
    LEFT JOIN presence p ON p.employee_id = a.employee_id
    WHERE a.entry_id IS NULL AND a.ready_after <= now()
      AND """ + _AVAILABLE_STATE + """ = 'available'
      AND NOT (e.extension = ANY(%(busy)s))
      AND """ + _HAS_SKILLS)


def queue_sql(text: str) -> sql.Composed:
    """A query with the shared fragments above filled in (constants; values stay bound)."""
    return sql.SQL(text).format(rank=sql.SQL(_RANK), has_skills=sql.SQL(_HAS_SKILLS),
                                available=sql.SQL(_AVAILABLE_STATE),
                                free_agents=sql.SQL(_FREE_AGENTS), alive=sql.SQL(_alive()),
                                q_alive=sql.SQL(_alive("q.")))


@dataclass(frozen=True)
class Entered:
    entry_id: int
    position: int
    waiting: int


@dataclass(frozen=True)
class Offer:
    entry_id: int
    agent_id: int
    extension: str
    name: str


def enter(conn: psycopg.Connection, queue: str, skills: Mapping[str, int], *, call_uuid: str,
          node: str, caller_number: str | None, customer_id: int | None, vip: bool,
          manager_extension: str | None, max_length: int) -> Entered | None:
    """Put a caller in the queue; None when it is full (max_length callers in line)."""
    team = False
    if manager_extension:
        t = conn.execute(
            queue_sql("""SELECT 1 FROM agents a JOIN employees e ON e.id = a.employee_id
                WHERE e.extension = %(ext)s AND {has_skills}"""),
            {"ext": manager_extension, "skills": Jsonb(dict(skills))}).fetchone()
        team = t is not None
    with conn.transaction():
        # one entrant at a time per queue, so max_length holds across nodes; kept to the
        # count and the insert (a burst of callers queues here)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ivr_app_queue:' || %s))", (queue,))
        row = conn.execute(queue_sql("""SELECT count(*) FROM queue_entries
                                 WHERE queue = %(queue)s
                                 AND status = ANY(%(live)s) AND {alive}"""),
                           {"queue": queue, "live": list(LIVE), "stale": STALE_SECONDS}
                           ).fetchone()
        if row and row[0] >= max_length:
            return None
        row = conn.execute(
            """INSERT INTO queue_entries (queue, call_uuid, node, caller_number, customer_id,
                                          vip, team, position_at_entry)
               VALUES (%s, %s, %s, %s, %s, %s, %s, 0)
               ON CONFLICT (queue, call_uuid) DO UPDATE SET status = 'waiting', left_at = NULL,
                   seen_at = now()
               RETURNING id""",
            (queue, call_uuid, node, caller_number, customer_id, vip, team)).fetchone()
    assert row is not None
    entry_id = row[0]
    pos, waiting = position(conn, queue, entry_id)
    conn.execute("UPDATE queue_entries SET position_at_entry = %s WHERE id = %s",
                 (pos, entry_id))
    return Entered(entry_id, pos, waiting)


def position(conn: psycopg.Connection, queue: str, entry_id: int) -> tuple[int, int]:
    """(1-based position of the entry among the live callers, how many are live)."""
    row = conn.execute(
        queue_sql("""WITH live AS (
                SELECT id, row_number() OVER (ORDER BY {rank}) AS pos
                FROM queue_entries
                WHERE queue = %(queue)s AND status = ANY(%(live)s) AND {alive})
            SELECT (SELECT pos FROM live WHERE id = %(me)s), (SELECT count(*) FROM live)"""),
        {"queue": queue, "live": list(LIVE), "stale": STALE_SECONDS, "me": entry_id}).fetchone()
    assert row is not None
    return (int(row[0]) if row[0] is not None else 0, int(row[1]))


def claim(conn: psycopg.Connection, queue: str, entry_id: int, skills: Mapping[str, int],
          busy_extensions: Sequence[str] = (), *, added: bool = False) -> Offer | None:
    """If an agent is free for this caller, offer the call to the longest-idle one.

    Free: an agent with every skill of the queue at its level, presence ``available`` (or a
    timed state that has run out), not on a call (``busy_extensions``: from channel events),
    not offered or talking, past wrap-up and any no-answer pause.

    For this caller: with F agents free, only the first F waiting callers may take one (a
    caller never overtakes those ahead; F callers at the front are served in one dispatch
    round rather than one per round). The agent's row is locked FOR UPDATE SKIP LOCKED, so
    two callers deciding at once (on any nodes) take two different agents, or one of them
    none. The longest idle goes to the first in line; ties: the higher skill level.

    A caller whose offer still rings keeps their place: they count as ahead of those behind
    until their offer holds ADDED_AGENTS + 1 agents. ``added``: this caller's offer rings
    (one agent so far), someone waits behind, and another agent may be added to the offer
    (ivr_app/handlers/queue_added.py): the same rule picks that agent, and the entry stays
    ``offered`` to the first."""
    with conn.transaction():
        me = conn.execute("""SELECT status, seen_at < now() - interval '3 seconds',
                                    (SELECT count(*) FROM agents WHERE entry_id = q.id)
                             FROM queue_entries q WHERE id = %s
                             FOR UPDATE OF q""", (entry_id,)).fetchone()
        # (the entry's row locked: an answer or a release of its offer written meanwhile
        # waits for this claim, or this claim sees it)
        if me is None:
            return None
        if added:
            if me[0] != "offered" or me[2] > ADDED_AGENTS or not _someone_behind(conn, entry_id):
                return None
        elif me[0] != "waiting":
            return None
        if me[1]:  # this node is alive and the caller still waiting (see STALE_SECONDS)
            conn.execute("UPDATE queue_entries SET seen_at = now() WHERE id = %s", (entry_id,))
        return offer_agent(conn, entry_id, skills, busy_extensions, added=added)


def _someone_behind(conn: psycopg.Connection, entry_id: int) -> bool:
    """A caller waits behind this one. With nobody behind, an agent who comes free can wait
    for the offer's end (nobody could overtake), and the longest-idle rule holds: one agent
    rings at a time."""
    row = conn.execute(queue_sql(
        """SELECT EXISTS (
               SELECT 1 FROM queue_entries q JOIN queue_entries m ON m.id = %(me)s
               WHERE q.queue = m.queue AND q.status = 'waiting' AND q.id <> m.id AND {q_alive}
                 AND (NOT q.vip, NOT q.team, q.entered_at, q.id)
                     > (NOT m.vip, NOT m.team, m.entered_at, m.id))"""),
        {"me": entry_id, "stale": STALE_SECONDS}).fetchone()
    return bool(row and row[0])


def offer_agent(conn: psycopg.Connection, entry_id: int, skills: Mapping[str, int],
                busy_extensions: Sequence[str], *, added: bool = False) -> Offer | None:
    """Inside claim's transaction: the agent for this entry, if it is among the first F."""
    params = {"me": entry_id, "busy": list(busy_extensions), "skills": Jsonb(dict(skills)),
              "stale": STALE_SECONDS}
    row = conn.execute(queue_sql("SELECT count(*) {free_agents}"), params).fetchone()
    free = int(row[0]) if row else 0
    if free == 0:
        return None
    # callers ahead of this one (bounded by how many agents are free: the usual case, far
    # back in a busy queue, stops at the first `free` rows)
    row = conn.execute(queue_sql(
        """SELECT count(*) FROM (
               SELECT 1 FROM queue_entries q JOIN queue_entries m ON m.id = %(me)s
               WHERE q.queue = m.queue AND q.id <> m.id AND {q_alive}
                 AND (q.status = 'waiting'
                      OR (q.status = 'offered' AND q.callback_id IS NULL
                          AND (SELECT count(*) FROM agents h WHERE h.entry_id = q.id)
                              <= %(added)s))
                 AND (NOT q.vip, NOT q.team, q.entered_at, q.id)
                     < (NOT m.vip, NOT m.team, m.entered_at, m.id)
               LIMIT %(free)s) ahead"""),
        {**params, "free": free, "added": ADDED_AGENTS}).fetchone()
    ahead = int(row[0]) if row else free
    if ahead >= free:
        return None
    # the k-th caller in line takes the k-th longest-idle agent, so the head gets the longest
    # idle even when the callers behind it happen to look first
    agent = conn.execute(queue_sql("""SELECT a.employee_id, e.extension, e.name {free_agents}
            ORDER BY a.idle_since,
                     (SELECT COALESCE(sum(s.level), 0) FROM agent_skills s
                      WHERE s.employee_id = a.employee_id
                        AND s.skill IN (SELECT jsonb_object_keys(%(skills)s::jsonb))) DESC,
                     e.extension
            LIMIT 1 OFFSET %(ahead)s
            FOR UPDATE OF a SKIP LOCKED"""), {**params, "ahead": ahead}).fetchone()
    if agent is None:
        return None
    conn.execute("UPDATE agents SET entry_id = %s, entry_state = 'offered' "
                 "WHERE employee_id = %s", (entry_id, agent[0]))
    # an added agent rings beside the first: the entry stays the first's offer
    conn.execute("""UPDATE queue_entries SET status = 'offered',
                    agent_id = CASE WHEN %s THEN agent_id ELSE %s END,
                    offers = offers + 1, seen_at = now() WHERE id = %s""",
                 (added, agent[0], entry_id))
    return Offer(entry_id, agent[0], agent[1], agent[2])


def touch(conn: psycopg.Connection, entry_id: int) -> None:
    """The caller's node is alive and the caller still waiting (see STALE_SECONDS)."""
    conn.execute("UPDATE queue_entries SET seen_at = now() WHERE id = %s", (entry_id,))


# ``at`` of the writes below: when it happened (a write replayed after an outage keeps the
# call's own time, ivr_app/outbox); None: now.
AT = "COALESCE(%s::timestamptz, now())"


def release(conn: psycopg.Connection, offer: Offer, pause_s: int,
            at: str | dt.datetime | None = None) -> None:
    """The agent did not take the offer: the agent is skipped for ``pause_s``, and the caller
    waits again (in their old place) unless another agent's phones still ring for them (an
    added agent: the entry is then theirs)."""
    with conn.transaction():
        conn.execute(f"""UPDATE agents SET entry_id = NULL, entry_state = NULL,
                        ready_after = {AT} + make_interval(secs => %s)
                        WHERE employee_id = %s AND entry_id = %s""",  # noqa: S608 - constant
                     (at, pause_s, offer.agent_id, offer.entry_id))
        conn.execute("""UPDATE queue_entries q SET
                        status = CASE WHEN o.other IS NULL THEN 'waiting' ELSE 'offered' END,
                        agent_id = o.other, seen_at = now()
                        FROM (SELECT (SELECT employee_id FROM agents WHERE entry_id = %s
                                      LIMIT 1) AS other) o
                        WHERE q.id = %s AND q.status = 'offered'""",
                     (offer.entry_id, offer.entry_id))


def answered(conn: psycopg.Connection, offer: Offer, at: str | dt.datetime | None = None) -> None:
    """The offered agent took the call; another agent whose phones rang for it too is free
    again at once (their ring was cut, not ignored: no pause)."""
    with conn.transaction():
        conn.execute("""UPDATE agents SET entry_id = NULL, entry_state = NULL
                        WHERE entry_id = %s AND employee_id <> %s AND entry_state = 'offered'""",
                     (offer.entry_id, offer.agent_id))
        conn.execute("UPDATE agents SET entry_state = 'talking' WHERE employee_id = %s "
                     "AND entry_id = %s", (offer.agent_id, offer.entry_id))
        conn.execute("""UPDATE queue_entries SET status = 'answered', agent_id = %s,
                        answered_at = COALESCE(%s::timestamptz, now()),
                        left_at = COALESCE(%s::timestamptz, now()) WHERE id = %s""",
                     (offer.agent_id, at, at, offer.entry_id))


def finished(conn: psycopg.Connection, offer: Offer, wrap_up_s: int,
             at: str | dt.datetime | None = None) -> None:
    """The conversation is over: the agent wraps up, then is idle (and last in line)."""
    with conn.transaction():
        conn.execute(f"""UPDATE agents SET entry_id = NULL, entry_state = NULL,
                        ready_after = {AT} + make_interval(secs => %s),
                        idle_since = {AT} + make_interval(secs => %s)
                        WHERE employee_id = %s AND entry_id = %s""",  # noqa: S608 - constant
                     (at, wrap_up_s, at, wrap_up_s, offer.agent_id, offer.entry_id))
        conn.execute(f"UPDATE queue_entries SET ended_at = {AT} WHERE id = %s",  # noqa: S608
                     (at, offer.entry_id))


def leave(conn: psycopg.Connection, entry_id: int, status: str, reason: str | None = None,
          at: str | dt.datetime | None = None) -> None:
    """The caller stopped waiting without an agent: ``abandoned`` (hung up) or ``overflow``
    (max wait, full, a key): any offer in progress is withdrawn."""
    assert status in ("abandoned", "overflow")
    with conn.transaction():
        conn.execute("""UPDATE agents SET entry_id = NULL, entry_state = NULL
                        WHERE entry_id = %s AND entry_state = 'offered'""", (entry_id,))
        conn.execute(f"""UPDATE queue_entries SET status = %s, reason = %s, left_at = {AT},
                        ended_at = {AT}, agent_id = CASE WHEN status = 'offered' THEN NULL
                                                          ELSE agent_id END
                        WHERE id = %s AND status = ANY(%s)""",  # noqa: S608 - constant
                     (status, reason, at, at, entry_id, list(LIVE)))


def unavailable(conn: psycopg.Connection, queue: str, *, call_uuid: str, node: str,
                caller_number: str | None, customer_id: int | None, vip: bool,
                at: str | dt.datetime | None = None) -> None:
    """A caller the queue could not take because PostgreSQL did not answer (they went the
    queue's on_full way): written when it is back, so the history and the report count
    them (overflow, ``queue unavailable``)."""
    conn.execute(
        f"""INSERT INTO queue_entries (queue, call_uuid, node, caller_number, customer_id, vip,
                                      team, entered_at, position_at_entry, status, reason,
                                      left_at, ended_at, seen_at)
           VALUES (%s, %s, %s, %s,
                   COALESCE(%s, (SELECT customer_id FROM customer_phone_numbers
                                 WHERE number = %s)),
                   %s, false, {AT}, 0, 'overflow', 'queue unavailable', {AT}, {AT}, {AT})
           ON CONFLICT (queue, call_uuid) DO NOTHING""",  # noqa: S608 - constant fragment
        (queue, call_uuid, node, caller_number, customer_id, caller_number, vip, at, at, at,
         at))


def expire_stale(conn: psycopg.Connection, queue: str) -> int:
    """Clean up after a node that vanished (no heartbeat for 4 x STALE_SECONDS): its waiting
    or ringing callers are closed as abandoned (``node lost``), a callback it was dialling goes
    back in line, a conversation it was holding is closed at its last heartbeat, and every
    agent those held is free again. Returns how many entries it touched."""
    stale = {"queue": queue, "secs": 4 * STALE_SECONDS, "live": list(LIVE)}
    old = "seen_at < now() - make_interval(secs => %(secs)s)"
    lost = conn.execute(
        f"""UPDATE queue_entries SET status = 'abandoned', reason = 'node lost',
               left_at = seen_at, ended_at = seen_at, agent_id = NULL
           WHERE queue = %(queue)s AND status = ANY(%(live)s) AND callback_id IS NULL
             AND {old} RETURNING id""", stale).fetchall()  # noqa: S608 - constant fragment
    retry = conn.execute(
        f"""UPDATE queue_entries SET status = 'waiting', agent_id = NULL, seen_at = now()
           WHERE queue = %(queue)s AND status = 'offered' AND callback_id IS NOT NULL
             AND {old} RETURNING id""", stale).fetchall()  # noqa: S608 - constant fragment
    cut = conn.execute(
        f"""UPDATE queue_entries SET ended_at = seen_at
           WHERE queue = %(queue)s AND status = 'answered' AND ended_at IS NULL
             AND {old} RETURNING id""", stale).fetchall()  # noqa: S608 - constant fragment
    ids = [r[0] for r in lost + retry + cut]
    if ids:
        conn.execute("UPDATE agents SET entry_id = NULL, entry_state = NULL "
                     "WHERE entry_id = ANY(%s)", (ids,))
    return len(ids)


def staffed_agents(conn: psycopg.Connection, skills: Mapping[str, int]) -> int:
    """Agents who can serve the queue and are at work (available or busy on a call): the
    expected wait divides by them."""
    row = conn.execute(
        queue_sql("""SELECT count(*) FROM agents a
            LEFT JOIN presence p ON p.employee_id = a.employee_id
            WHERE {available} IN ('available', 'on_call') AND {has_skills}"""),
        {"skills": Jsonb(dict(skills))}).fetchone()
    return int(row[0]) if row else 0


def average_handle_seconds(conn: psycopg.Connection, queue: str, default: float,
                           min_calls: int = 5, days: int = 7) -> float:
    """Mean talk time of the queue's answered calls in the last ``days`` (``default`` until
    there are ``min_calls`` of them)."""
    row = conn.execute(
        """SELECT count(*), avg(extract(epoch FROM ended_at - answered_at))
           FROM queue_entries WHERE queue = %s AND status = 'answered'
             AND ended_at IS NOT NULL AND entered_at > now() - make_interval(days => %s)""",
        (queue, days)).fetchone()
    if not row or row[0] < min_calls or row[1] is None:
        return default
    return float(row[1])
