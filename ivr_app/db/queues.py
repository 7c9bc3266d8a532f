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

from ivr_app.queue.figures import Entry

# an entry whose node has not looked for an agent for this long is treated as gone
STALE_SECONDS = 15
# an agent whose presence rules did not ring for a caller is skipped this long (so the same
# caller is not offered to them on every look)
REFUSED_PAUSE_SECONDS = 5
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


def _q(text: str) -> sql.Composed:
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
            _q("""SELECT 1 FROM agents a JOIN employees e ON e.id = a.employee_id
                WHERE e.extension = %(ext)s AND {has_skills}"""),
            {"ext": manager_extension, "skills": Jsonb(dict(skills))}).fetchone()
        team = t is not None
    with conn.transaction():
        # one entrant at a time per queue, so max_length holds across nodes; kept to the
        # count and the insert (a burst of callers queues here)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ivr_app_queue:' || %s))", (queue,))
        row = conn.execute(_q("""SELECT count(*) FROM queue_entries WHERE queue = %(queue)s
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
        _q("""WITH live AS (
                SELECT id, row_number() OVER (ORDER BY {rank}) AS pos
                FROM queue_entries
                WHERE queue = %(queue)s AND status = ANY(%(live)s) AND {alive})
            SELECT (SELECT pos FROM live WHERE id = %(me)s), (SELECT count(*) FROM live)"""),
        {"queue": queue, "live": list(LIVE), "stale": STALE_SECONDS, "me": entry_id}).fetchone()
    assert row is not None
    return (int(row[0]) if row[0] is not None else 0, int(row[1]))


def claim(conn: psycopg.Connection, queue: str, entry_id: int, skills: Mapping[str, int],
          busy_extensions: Sequence[str] = ()) -> Offer | None:
    """If an agent is free for this caller, offer the call to the longest-idle one.

    Free: an agent with every skill of the queue at its level, presence ``available`` (or a
    timed state that has run out), not on a call (``busy_extensions``: from channel events),
    not offered or talking, past wrap-up and any no-answer pause.

    For this caller: with F agents free, only the first F waiting callers may take one (a
    caller never overtakes those ahead; F callers at the front are served in one dispatch
    round rather than one per round). The agent's row is locked FOR UPDATE SKIP LOCKED, so
    two callers deciding at once (on any nodes) take two different agents, or one of them
    none. The longest idle goes to the first in line; ties: the higher skill level."""
    with conn.transaction():
        me = conn.execute("""SELECT status = 'waiting', seen_at < now() - interval '3 seconds'
                             FROM queue_entries WHERE id = %s""", (entry_id,)).fetchone()
        if me is None or not me[0]:
            return None
        if me[1]:  # this node is alive and the caller still waiting (see STALE_SECONDS)
            conn.execute("UPDATE queue_entries SET seen_at = now() WHERE id = %s", (entry_id,))
        return _offer(conn, entry_id, skills, busy_extensions)


def _offer(conn: psycopg.Connection, entry_id: int, skills: Mapping[str, int],
           busy_extensions: Sequence[str]) -> Offer | None:
    """Inside claim's transaction: the agent for this entry, if it is among the first F."""
    params = {"me": entry_id, "busy": list(busy_extensions), "skills": Jsonb(dict(skills)),
              "stale": STALE_SECONDS}
    row = conn.execute(_q("SELECT count(*) {free_agents}"), params).fetchone()
    free = int(row[0]) if row else 0
    if free == 0:
        return None
    # callers ahead of this one (bounded by how many agents are free: the usual case, far
    # back in a busy queue, stops at the first `free` rows)
    row = conn.execute(_q(
        """SELECT count(*) FROM (
               SELECT 1 FROM queue_entries q JOIN queue_entries m ON m.id = %(me)s
               WHERE q.queue = m.queue AND q.status = 'waiting' AND q.id <> m.id AND {q_alive}
                 AND (NOT q.vip, NOT q.team, q.entered_at, q.id)
                     < (NOT m.vip, NOT m.team, m.entered_at, m.id)
               LIMIT %(free)s) ahead"""), {**params, "free": free}).fetchone()
    ahead = int(row[0]) if row else free
    if ahead >= free:
        return None
    # the k-th caller in line takes the k-th longest-idle agent, so the head gets the longest
    # idle even when the callers behind it happen to look first
    agent = conn.execute(_q("""SELECT a.employee_id, e.extension, e.name {free_agents}
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
    conn.execute("""UPDATE queue_entries SET status = 'offered', agent_id = %s,
                    offers = offers + 1, seen_at = now() WHERE id = %s""",
                 (agent[0], entry_id))
    return Offer(entry_id, agent[0], agent[1], agent[2])


def touch(conn: psycopg.Connection, entry_id: int) -> None:
    """The caller's node is alive and the caller still waiting (see STALE_SECONDS)."""
    conn.execute("UPDATE queue_entries SET seen_at = now() WHERE id = %s", (entry_id,))


# ``at`` of the writes below: when it happened (a write replayed after an outage keeps the
# call's own time, ivr_app/outbox); None: now.
_AT = "COALESCE(%s::timestamptz, now())"


def release(conn: psycopg.Connection, offer: Offer, pause_s: int,
            at: str | dt.datetime | None = None) -> None:
    """The agent did not take the offer: the caller waits again (in their old place), the
    agent is skipped for ``pause_s``."""
    with conn.transaction():
        conn.execute(f"""UPDATE agents SET entry_id = NULL, entry_state = NULL,
                        ready_after = {_AT} + make_interval(secs => %s)
                        WHERE employee_id = %s AND entry_id = %s""",  # noqa: S608 - constant
                     (at, pause_s, offer.agent_id, offer.entry_id))
        conn.execute("""UPDATE queue_entries SET status = 'waiting', agent_id = NULL,
                        seen_at = now() WHERE id = %s AND status = 'offered'""",
                     (offer.entry_id,))


def answered(conn: psycopg.Connection, offer: Offer, at: str | dt.datetime | None = None) -> None:
    with conn.transaction():
        conn.execute("UPDATE agents SET entry_state = 'talking' WHERE employee_id = %s "
                     "AND entry_id = %s", (offer.agent_id, offer.entry_id))
        conn.execute("""UPDATE queue_entries SET status = 'answered',
                        answered_at = COALESCE(%s::timestamptz, now()),
                        left_at = COALESCE(%s::timestamptz, now()) WHERE id = %s""",
                     (at, at, offer.entry_id))


def finished(conn: psycopg.Connection, offer: Offer, wrap_up_s: int,
             at: str | dt.datetime | None = None) -> None:
    """The conversation is over: the agent wraps up, then is idle (and last in line)."""
    with conn.transaction():
        conn.execute(f"""UPDATE agents SET entry_id = NULL, entry_state = NULL,
                        ready_after = {_AT} + make_interval(secs => %s),
                        idle_since = {_AT} + make_interval(secs => %s)
                        WHERE employee_id = %s AND entry_id = %s""",  # noqa: S608 - constant
                     (at, wrap_up_s, at, wrap_up_s, offer.agent_id, offer.entry_id))
        conn.execute(f"UPDATE queue_entries SET ended_at = {_AT} WHERE id = %s",  # noqa: S608
                     (at, offer.entry_id))


def leave(conn: psycopg.Connection, entry_id: int, status: str, reason: str | None = None,
          at: str | dt.datetime | None = None) -> None:
    """The caller stopped waiting without an agent: ``abandoned`` (hung up) or ``overflow``
    (max wait, full, a key): any offer in progress is withdrawn."""
    assert status in ("abandoned", "overflow")
    with conn.transaction():
        conn.execute("""UPDATE agents SET entry_id = NULL, entry_state = NULL
                        WHERE entry_id = %s AND entry_state = 'offered'""", (entry_id,))
        conn.execute(f"""UPDATE queue_entries SET status = %s, reason = %s, left_at = {_AT},
                        ended_at = {_AT}, agent_id = CASE WHEN status = 'offered' THEN NULL
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
                   %s, false, {_AT}, 0, 'overflow', 'queue unavailable', {_AT}, {_AT}, {_AT})
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
        _q("""SELECT count(*) FROM agents a LEFT JOIN presence p ON p.employee_id = a.employee_id
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


def request_callback(conn: psycopg.Connection, queue: str, entry_id: int | None, number: str,
                     customer_id: int | None, at: str | dt.datetime | None = None) -> int:
    """Store the request and put it in the line where the caller was (``entry_id``: the entry
    of the call that asked; None: at the back, as of ``at``). Returns the request's id."""
    with conn.transaction():
        row = conn.execute(
            f"""INSERT INTO queue_callbacks (queue, entry_id, number, customer_id, requested_at)
               VALUES (%s, %s, %s, %s, {_AT}) RETURNING id""",  # noqa: S608 - constant
            (queue, entry_id, number, customer_id, at)).fetchone()
        assert row is not None
        conn.execute(
            """INSERT INTO queue_entries (queue, call_uuid, node, caller_number, customer_id, vip,
                                          team, entered_at, position_at_entry, callback_id)
               SELECT %(queue)s, 'callback-' || %(cb)s, 'callback', %(number)s, %(customer)s,
                      COALESCE(o.vip, false), COALESCE(o.team, false),
                      COALESCE(o.entered_at, %(at)s::timestamptz, now()),
                      COALESCE(o.position_at_entry, 0), %(cb)s
               FROM (SELECT 1) one LEFT JOIN queue_entries o ON o.id = %(entry)s""",
            {"queue": queue, "cb": row[0], "number": number, "customer": customer_id,
             "entry": entry_id, "at": at})
    return row[0]


@dataclass(frozen=True)
class CallbackOffer:
    offer: Offer
    callback_id: int
    number: str
    customer_id: int | None
    attempts: int


def claim_callback(conn: psycopg.Connection, queue: str, skills: Mapping[str, int],
                   busy_extensions: Sequence[str] = ()) -> CallbackOffer | None:
    """The first callback of the queue whose turn it is, with an agent for it. Any node may
    dial a callback, so the entry itself is locked FOR UPDATE SKIP LOCKED here."""
    with conn.transaction():
        row = conn.execute(
            """SELECT q.id, c.id, c.number, c.customer_id, c.attempts
               FROM queue_entries q JOIN queue_callbacks c ON c.id = q.callback_id
               WHERE q.queue = %s AND q.status = 'waiting'
                 AND (q.not_before IS NULL OR q.not_before <= now())
               ORDER BY q.vip DESC, q.team DESC, q.entered_at, q.id LIMIT 1
               FOR UPDATE OF q SKIP LOCKED""", (queue,)).fetchone()
        if row is None:
            return None
        offer = _offer(conn, row[0], skills, busy_extensions)
        if offer is None:
            return None
    return CallbackOffer(offer, row[1], row[2], row[3], row[4])


def callback_reached(conn: psycopg.Connection, cb: CallbackOffer) -> None:
    """The agent answered and so did the customer: the request is done, by that agent."""
    with conn.transaction():
        answered(conn, cb.offer)
        conn.execute("""UPDATE queue_callbacks SET done_at = now(), done_by = %s,
                        attempts = attempts + 1, last_result = 'reached' WHERE id = %s""",
                     (cb.offer.extension, cb.callback_id))


def callback_not_reached(conn: psycopg.Connection, cb: CallbackOffer, result: str,
                         retry_s: int, max_attempts: int) -> bool:
    """The agent answered but the customer did not: try again in ``retry_s`` (the agent is
    free at once), or give up after ``max_attempts``. True when it will be tried again."""
    with conn.transaction():
        row = conn.execute("""UPDATE queue_callbacks SET attempts = attempts + 1,
                              last_result = %s WHERE id = %s RETURNING attempts""",
                           (result, cb.callback_id)).fetchone()
        again = bool(row and row[0] < max_attempts)
        conn.execute("""UPDATE agents SET entry_id = NULL, entry_state = NULL
                        WHERE employee_id = %s AND entry_id = %s""",
                     (cb.offer.agent_id, cb.offer.entry_id))
        if again:
            conn.execute("""UPDATE queue_entries SET status = 'waiting', agent_id = NULL,
                            not_before = now() + make_interval(secs => %s) WHERE id = %s""",
                         (retry_s, cb.offer.entry_id))
        else:
            conn.execute("""UPDATE queue_entries SET status = 'overflow',
                            reason = 'callback not reached: ' || %s, left_at = now(),
                            ended_at = now(), agent_id = NULL WHERE id = %s""",
                         (result, cb.offer.entry_id))
            conn.execute("UPDATE queue_callbacks SET done_at = now(), done_by = 'gave up' "
                         "WHERE id = %s", (cb.callback_id,))
    return again


@dataclass(frozen=True)
class Callback:
    id: int
    queue: str
    number: str
    customer: str | None
    requested_at: dt.datetime


def open_callbacks(conn: psycopg.Connection, queue: str | None = None) -> list[Callback]:
    rows = conn.execute(
        """SELECT cb.id, cb.queue, cb.number, c.name, cb.requested_at
           FROM queue_callbacks cb LEFT JOIN customers c ON c.id = cb.customer_id
           WHERE cb.done_at IS NULL AND (%s::text IS NULL OR cb.queue = %s)
           ORDER BY cb.requested_at""", (queue, queue)).fetchall()
    return [Callback(*r) for r in rows]


def callback_done(conn: psycopg.Connection, callback_id: int, by: str) -> bool:
    """Someone called back by hand: the request is closed and leaves the line."""
    with conn.transaction():
        cur = conn.execute("UPDATE queue_callbacks SET done_at = now(), done_by = %s "
                           "WHERE id = %s AND done_at IS NULL", (by, callback_id))
        conn.execute("""UPDATE queue_entries SET status = 'overflow', left_at = now(),
                        ended_at = now(), reason = 'callback done by ' || %s
                        WHERE callback_id = %s AND status = 'waiting'""", (by, callback_id))
    return cur.rowcount == 1


# -- live figures and history ----------------------------------------------------------------

@dataclass(frozen=True)
class Live:
    queue: str
    waiting: int
    longest_wait_s: float
    average_wait_s: float | None  # of today's callers who left the queue
    service_level: float | None  # today, 0..1
    answered: int  # today
    abandoned: int  # today
    agents_available: int
    agents_busy: int  # offered, talking, or on another call
    agents_wrap_up: int


def live(conn: psycopg.Connection, queue: str, skills: Mapping[str, int],
         threshold_s: float, busy_extensions: Sequence[str] = (),
         since: dt.datetime | None = None) -> Live:
    """The wallboard figures of one queue now (today: since local midnight unless ``since``)."""
    from ivr_app.queue.figures import figures

    since = since or dt.datetime.now().astimezone().replace(hour=0, minute=0, second=0,
                                                            microsecond=0)
    row = conn.execute(
        _q("""SELECT count(*), COALESCE(max(extract(epoch FROM now() - entered_at)), 0)
           FROM queue_entries WHERE queue = %(queue)s AND status = ANY(%(live)s) AND {alive}"""),
        {"queue": queue, "live": list(LIVE), "stale": STALE_SECONDS}).fetchone()
    assert row is not None
    waiting, longest = int(row[0]), float(row[1])
    today = entries(conn, since, dt.datetime.now(dt.UTC), queue)
    f = figures(today, threshold_s)
    left = [e for e in today if e.outcome != "waiting"]
    avg_wait = sum(e.wait_s for e in left) / len(left) if left else None
    agents = conn.execute(
        _q("""SELECT
              count(*) FILTER (WHERE a.entry_id IS NULL AND a.ready_after <= now()
                               AND {available} = 'available'
                               AND NOT (e.extension = ANY(%(busy)s))),
              count(*) FILTER (WHERE a.entry_id IS NOT NULL
                               OR (e.extension = ANY(%(busy)s))),
              count(*) FILTER (WHERE a.entry_id IS NULL AND a.ready_after > now()
                               AND NOT (e.extension = ANY(%(busy)s)))
            FROM agents a JOIN employees e ON e.id = a.employee_id
            LEFT JOIN presence p ON p.employee_id = a.employee_id
            WHERE {has_skills}"""),
        {"busy": list(busy_extensions), "skills": Jsonb(dict(skills))}).fetchone()
    assert agents is not None
    return Live(queue, waiting, longest, avg_wait, f.service_level, f.answered, f.abandoned,
                int(agents[0]), int(agents[1]), int(agents[2]))


def entries(conn: psycopg.Connection, start: dt.datetime, end: dt.datetime,
            queue: str | None = None) -> list[Entry]:
    """Every entry that came into the queue(s) in [start, end), as the report counts them."""
    rows = conn.execute(
        """SELECT q.queue, q.entered_at,
                  CASE WHEN q.status IN ('waiting', 'offered') THEN 'waiting'
                       ELSE q.status END,
                  extract(epoch FROM COALESCE(q.answered_at, q.left_at, now()) - q.entered_at),
                  e.extension || ' ' || e.name,
                  COALESCE(extract(epoch FROM q.ended_at - q.answered_at), 0)
           FROM queue_entries q LEFT JOIN employees e ON e.id = q.agent_id
           WHERE q.entered_at >= %s AND q.entered_at < %s
             AND (%s::text IS NULL OR q.queue = %s)
           ORDER BY q.entered_at""", (start, end, queue, queue)).fetchall()
    return [Entry(r[1], r[2], float(r[3]), r[4] if r[2] == "answered" else None,
                  float(r[5]) if r[2] == "answered" else 0.0, queue=r[0]) for r in rows]
