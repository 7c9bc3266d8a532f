"""Originate and bridge to several legs, with far ends scripted by the test.

Dial-string syntax (src/switch_ivr_originate.c): ``{vars}`` for every leg, ``[vars]`` for one
leg, ``,`` rings legs together, ``|`` tries groups one after the other, ``:_:`` starts
independent (enterprise) groups. Variables honoured: ``leg_timeout``, ``leg_delay_start``,
``originate_timeout`` / ``call_timeout``, ``ignore_early_media``, ``group_confirm_key``,
``group_confirm_file``, ``group_confirm_read_timeout``, ``origination_uuid``,
``origination_caller_id_name/number``.

Causes as FreeSWITCH reports them: a leg whose ``leg_timeout`` expires fails with
ALLOTTED_TIMEOUT, the whole attempt with NO_ANSWER when ``originate_timeout`` expires, legs
that lose the race with LOSE_RACE, an unknown ``user/`` with USER_NOT_REGISTERED. After a
failed ``bridge`` the caller is hung up with the cause unless ``continue_on_fail`` allows it
(``switch_channel_handle_cause``: NO_ANSWER, NO_USER_RESPONSE and ORIGINATOR_CANCEL always
continue).
"""

from __future__ import annotations

import time
import uuid as uuid_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gevent
import gevent.event

from ivr_app.testing.fakeswitch import displace, fsstrings, media
from ivr_app.testing.fakeswitch.channel import Channel, Hangup, uepoch

if TYPE_CHECKING:
    from ivr_app.testing.fakeswitch.switch import FakeSwitch


@dataclass(frozen=True)
class FarEnd:
    """What the phone at the other end of a leg does.

    ``answer_after``: seconds of ringing before it answers (None: it never does);
    ``reject``: a cause to fail with after ``answer_after`` (or at once), e.g. USER_BUSY;
    ``press``: keys pressed ``press_after`` seconds after answering (to accept a confirm prompt);
    ``talk``: seconds it stays on the call once bridged (None: until the other side hangs up).
    A mobile's voicemail is ``FarEnd(answer_after=0, press=None)``: it answers at once and
    never presses anything."""

    answer_after: float | None = 1.0
    reject: str | None = None
    press: str | None = None
    press_after: float = 0.5
    talk: float | None = None


NEVER_ANSWERS = FarEnd(answer_after=None)
BUSY = FarEnd(answer_after=0.0, reject="USER_BUSY")
VOICEMAIL = FarEnd(answer_after=0.0)


@dataclass
class LegSpec:
    target: str
    variables: dict[str, str]


def _sofia(target: str) -> bool:
    return target.startswith(("user/", "sofia/"))


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside {} [] <> and quotes."""
    out, depth, quote, cur, i = [], 0, False, [], 0
    while i < len(text):
        ch = text[i]
        if ch == "'" and depth:
            quote = not quote
        elif not quote and ch in "{[<":
            depth += 1
        elif not quote and ch in "}]>":
            depth -= 1
        if not quote and depth == 0 and text.startswith(sep, i):
            out.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _vars(block: str) -> dict[str, str]:
    sep = ","
    if block.startswith("^^") and len(block) > 2:
        sep, block = block[2], block[3:]
    out = {}
    for item in _split_top(block, sep):
        name, _, value = item.partition("=")
        if name.strip():
            # quotes group and are removed; a blank inside a value stays (the originate API
            # has removed the quotes of 'Emily Clark' already: switch_separate_string)
            out[name.strip()] = " ".join(fsstrings.separate(value)) if value else ""
    return out


def _take_vars(text: str, open_: str, close: str) -> tuple[dict[str, str], str]:
    text = text.strip()
    if text.startswith(open_):
        end = text.index(close)
        return _vars(text[1:end]), text[end + 1:]
    return {}, text


def parse(dial: str) -> list[tuple[dict[str, str], list[list[LegSpec]]]]:
    """enterprise parts -> (global vars, sequential groups -> legs)."""
    parts = []
    for part in _split_top(dial, ":_:"):
        gvars, rest = _take_vars(part, "{", "}")
        groups = []
        for group in _split_top(rest, "|"):
            legs = []
            for leg in _split_top(group, ","):
                lvars, target = _take_vars(leg, "[", "]")
                if target.strip():
                    legs.append(LegSpec(target.strip(), lvars))
            if legs:
                groups.append(legs)
        parts.append((gvars, groups))
    return parts


class Originator:
    def __init__(self, switch: FakeSwitch):
        self.switch = switch
        self.far_ends: dict[str, FarEnd] = {}
        self.dialled: list[str] = []  # every leg's dial target, in the order they were tried

    def far_end(self, target: str, script: FarEnd) -> None:
        """Script the phone reached by dial target ``target`` (``user/1001``, a gateway number)."""
        self.far_ends[target] = script

    # -- the race ------------------------------------------------------------------------------

    def originate(self, dial: str, caller: Channel | None,
                  ) -> tuple[Channel | None, str]:
        """Ring as the dial string says; returns (winning leg, "SUCCESS") or (None, cause)."""
        parts = parse(dial)
        if len(parts) > 1:
            return self._enterprise(parts, caller)
        gvars, groups = parts[0]
        return self._sequential(gvars, groups, caller)

    def _enterprise(self, parts: list, caller: Channel | None) -> tuple[Channel | None, str]:
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        cancel = gevent.event.Event()
        jobs = [gevent.spawn(self._sequential, gv, groups, caller, cancel, result)
                for gv, groups in parts]
        gevent.joinall(jobs)
        if result.ready():
            return result.get(), "SUCCESS"
        causes = [j.value[1] for j in jobs if j.value]
        return None, causes[-1] if causes else "NO_ANSWER"

    def _sequential(self, gvars: dict[str, str], groups: list[list[LegSpec]],
                    caller: Channel | None, cancel: gevent.event.Event | None = None,
                    shared: gevent.event.AsyncResult | None = None
                    ) -> tuple[Channel | None, str]:
        timeout = float(gvars.get("originate_timeout") or gvars.get("call_timeout") or 60)
        deadline = time.monotonic() + timeout * self.switch.time_factor
        cause = "NO_ANSWER"
        cancel = cancel or gevent.event.Event()
        for group in groups:
            if caller is not None and not caller.ready:
                return None, "ORIGINATOR_CANCEL"
            winner, cause = self._group(gvars, group, caller, deadline, cancel, shared)
            if winner is not None:
                return winner, "SUCCESS"
            if caller is not None and caller.intercepted.is_set():
                return None, "PICKED_OFF"
            if shared is not None and shared.ready():
                return None, "LOSE_RACE"  # another enterprise group won
            if time.monotonic() >= deadline:
                return None, "NO_ANSWER"  # originate_timeout: the whole attempt is over
            if caller is not None and not caller.ready:
                return None, "ORIGINATOR_CANCEL"
            cancel = gevent.event.Event() if shared is None else cancel
        return None, cause

    def _group(self, gvars: dict[str, str], group: list[LegSpec], caller: Channel | None,
               deadline: float, cancel: gevent.event.Event,
               shared: gevent.event.AsyncResult | None) -> tuple[Channel | None, str]:
        won: gevent.event.AsyncResult = shared or gevent.event.AsyncResult()
        legs = [gevent.spawn(self._leg, {**gvars, **spec.variables}, spec.target, caller,
                             deadline, won, cancel) for spec in group]
        while True:
            done = [g for g in legs if g.ready()]
            if won.ready() or len(done) == len(legs):
                break
            waits = [won, cancel] + [g for g in legs if not g.ready()]
            if caller is not None:
                waits += [caller.hungup, caller.intercepted]
            gevent.wait(waits, count=1,
                        timeout=max(0.0, deadline - time.monotonic()) + 0.05)
            if caller is not None and (not caller.ready or caller.intercepted.is_set()):
                cancel.set()
            if time.monotonic() > deadline and not won.ready():
                cancel.set()
        if won.ready():
            cancel.set()
            gevent.joinall(legs)
            winner = won.get()
            if any(g.value is winner for g in legs):
                return winner, "SUCCESS"
            return None, "LOSE_RACE"  # an enterprise group elsewhere won
        gevent.joinall(legs)
        causes = [g.value for g in legs if isinstance(g.value, str)]
        if caller is not None and caller.intercepted.is_set():
            return None, "PICKED_OFF"  # switch_ivr_originate: the caller was intercepted
        if time.monotonic() > deadline:
            return None, "NO_ANSWER"
        # FreeSWITCH reports the cause of the last leg to fail
        return None, causes[-1] if causes else "NO_ANSWER"

    def _leg(self, lvars: dict[str, str], target: str, caller: Channel | None, deadline: float,
             won: gevent.event.AsyncResult, cancel: gevent.event.Event) -> Channel | str:
        tf = self.switch.time_factor
        delay = float(lvars.get("leg_delay_start") or 0)
        if delay and gevent.wait([cancel], timeout=delay * tf):
            return "LOSE_RACE"
        self.dialled.append(target)
        if target.startswith("loopback/"):
            return self._loopback_leg(lvars, target, caller, deadline, won, cancel)
        script = self.far_ends.get(target)
        if script is None and target.startswith("user/") and "@" in target:
            script = self.far_ends.get(target.split("@", 1)[0])  # user/1000@domain
        if script is None:
            if target.startswith("error/"):
                return target[len("error/"):]
            if target.startswith("user/"):
                return "USER_NOT_REGISTERED"
            return "NO_ROUTE_DESTINATION"
        leg = self._new_leg(target, lvars, caller)
        if _sofia(target) and '\\"' in leg.profile["caller_id_name"]:
            # sofia_glue.c cannot build the INVITE's From from a display name holding \"
            # ("Error creating HANDLE!"): the leg dies at once (outbound-sip-quoted-display)
            self.switch.log.warning("fakeswitch: Error creating HANDLE!",
                                    from_name=leg.profile["caller_id_name"])
            leg.hangup("DESTINATION_OUT_OF_ORDER")
            return "DESTINATION_OUT_OF_ORDER"
        leg_timeout = float(lvars.get("leg_timeout") or 0)
        leg_deadline = min(deadline, time.monotonic() + leg_timeout * tf) if leg_timeout \
            else deadline
        try:
            leg.call_state = "RINGING"
            answer_at = None if script.answer_after is None else \
                time.monotonic() + script.answer_after * tf
            stop = [cancel, won, leg.hungup] + ([caller.hungup] if caller is not None else [])
            until = leg_deadline if answer_at is None else min(answer_at, leg_deadline)
            gevent.wait(stop, count=1, timeout=max(0.0, until - time.monotonic()))
            if cancel.is_set() or won.ready() or (caller is not None and not caller.ready):
                if caller is not None and caller.intercepted.is_set():
                    cause = "PICKED_OFF"
                elif caller is not None and not caller.ready:
                    cause = "ORIGINATOR_CANCEL"
                elif not won.ready() and time.monotonic() >= deadline:
                    cause = "NO_ANSWER"  # originate_timeout ran out
                else:
                    cause = "LOSE_RACE"
                leg.hangup(cause)
                return cause
            if answer_at is None or time.monotonic() < answer_at - 0.001:
                cause = "ALLOTTED_TIMEOUT" if leg_timeout else "NO_ANSWER"
                leg.hangup(cause)
                return cause
            if script.reject:
                leg.hangup(script.reject)
                return script.reject
            leg.answer()
            if script.press:
                gevent.spawn_later(script.press_after * tf, self._press, leg, script.press)
            key = lvars.get("group_confirm_key")
            if key and not self._confirm(leg, key, lvars, leg_deadline, cancel, won):
                if won.ready() or cancel.is_set():
                    cause = "LOSE_RACE"
                elif leg_timeout and time.monotonic() < deadline:
                    cause = "ALLOTTED_TIMEOUT"
                else:
                    cause = "NO_ANSWER"
                if leg.ready:
                    leg.hangup(cause)
                return leg.hangup_cause or cause
            if won.ready() or cancel.is_set():
                leg.hangup("LOSE_RACE")
                return "LOSE_RACE"
            won.set(leg)
            if script.talk is not None:
                gevent.spawn_later(script.talk * tf, leg.hangup, "NORMAL_CLEARING")
            return leg
        except Hangup:
            return leg.hangup_cause or "NORMAL_CLEARING"

    def _loopback_leg(self, lvars: dict[str, str], target: str, caller: Channel | None,
                      deadline: float, won: gevent.event.AsyncResult,
                      cancel: gevent.event.Event) -> Channel | str:
        """mod_loopback: an A leg (ours) and a B leg that runs the dialplan; B answering
        answers A. ``loopback/<dest>[/<context>]``."""
        parts = target.split("/")
        dest = parts[1] if len(parts) > 1 else ""
        context = parts[2] if len(parts) > 2 else "default"
        a_uuid = lvars.get("origination_uuid") or str(uuid_mod.uuid4())
        b_uuid = str(uuid_mod.uuid4())
        cid_name, cid_num, orig_num = self._caller_id(lvars, caller)
        orig_name = caller.profile.get("orig_caller_id_name", caller.profile["caller_id_name"]) \
            if caller is not None else cid_name
        common = {"source": "mod_loopback", "codec": ("L16", 8000, 128000),
                  "caller_id_number": cid_num, "caller_id_name": cid_name,
                  "destination": dest, "context": context}
        a = Channel(self.switch, name=f"loopback/{dest}-a", direction="outbound", uuid=a_uuid,
                    variables={"is_outbound": "true"}, **common)
        b = Channel(self.switch, name=f"loopback/{dest}-b", direction="inbound", uuid=b_uuid,
                    **common)
        if caller is not None:
            a.other_leg = (caller.snapshot(), "originator")
        for ch, other, tag in ((a, b, "A"), (b, a, "B")):
            ch.profile["orig_caller_id_number"] = orig_num
            ch.profile["orig_caller_id_name"] = orig_name
            ch.profile["ani"] = orig_num
            ch.profile["callee_id_name"] = "Outbound Call"
            ch.profile["callee_id_number"] = context
            ch.partner = other
            ch.vars.update({"read_codec": "L16", "read_rate": "8000", "write_codec": "L16",
                            "write_rate": "8000"})
            if tag == "A":
                ch.vars.update({"originate_early_media": "true",
                                "originate_endpoint": "loopback"})
            ch.vars.update({"other_loopback_leg_uuid": other.uuid, "loopback_leg": tag})
        a.vars.update({k: v for k, v in lvars.items() if k not in ("origination_uuid",)})
        self.switch.add_channel(a)
        self.switch.add_channel(b)
        a.state = b.state = "CS_INIT"
        a.fire("CHANNEL_CREATE")
        b.runner = gevent.spawn(self.switch.run_channel, b)
        a.state = "CS_CONSUME_MEDIA"
        tf = self.switch.time_factor
        leg_timeout = float(lvars.get("leg_timeout") or 0)
        leg_deadline = min(deadline, time.monotonic() + leg_timeout * tf) if leg_timeout \
            else deadline
        stop = [cancel, won, a.hungup, a.answered] + \
            ([caller.hungup] if caller is not None else [])
        gevent.wait(stop, count=1, timeout=max(0.0, leg_deadline - time.monotonic()))
        if a.answered.is_set() and a.ready and not won.ready() and not cancel.is_set() and \
                caller is not None:
            won.set(a)
            return a
        if a.answered.is_set() and a.ready and not won.ready() and not cancel.is_set():
            # originate from the API: the new leg's profile turns around once it is accepted
            p = a.profile
            p.update({"orig_caller_id_number": p["caller_id_number"],
                      "orig_caller_id_name": "",
                      "ani": p["caller_id_number"],
                      "caller_id_name": p.pop("callee_id_name", ""),
                      "callee_id_number": p["caller_id_number"]})
            p["caller_id_number"] = p.pop("callee_id_number_was", context)
            a.call_state = "ACTIVE"
            won.set(a)
            return a
        if a.hungup.is_set():
            return a.hangup_cause or "NORMAL_CLEARING"
        if won.ready() or cancel.is_set():
            cause = "ORIGINATOR_CANCEL" if caller is not None and not caller.ready \
                else "LOSE_RACE"
            if time.monotonic() >= deadline:
                cause = "NO_ANSWER"
        else:
            cause = "ALLOTTED_TIMEOUT" if leg_timeout and time.monotonic() < deadline \
                else "NO_ANSWER"
        a.hangup(cause)
        return cause

    @staticmethod
    def _caller_id(lvars: dict[str, str], caller: Channel | None) -> tuple[str, str, str]:
        """(caller-ID name, number, original number) a new leg presents: origination_caller_id_*
        ([] over {}), else the calling channel's effective_caller_id_* (a user/ leg has the
        directory's "Extension 1002" / 1002: switch_core_session_outgoing_channel), else its
        caller profile; from the API with none of them, SWITCH_DEFAULT_CLID_NUMBER."""
        if caller is not None:
            p = caller.profile
            name = caller.vars.get("effective_caller_id_name") or p["caller_id_name"]
            num = caller.vars.get("effective_caller_id_number") or p["caller_id_number"]
            orig = p.get("orig_caller_id_number", num)
        else:
            name, num, orig = "", "0000000000", "0000000000"
        name = lvars.get("origination_caller_id_name") or name
        num = lvars.get("origination_caller_id_number") or num
        return name, num, orig if caller is not None else num

    def _press(self, leg: Channel, digits: str) -> None:
        if leg.ready:
            leg.queue_dtmf(digits)

    def _confirm(self, leg: Channel, key: str, lvars: dict[str, str], deadline: float,
                 cancel: gevent.event.Event, won: gevent.event.AsyncResult) -> bool:
        """group_confirm_key: the answered leg must press ``key``. As collect_thread_run in
        switch_ivr_originate.c: the confirm file plays, ``group_confirm_read_timeout`` (ms,
        5000 by default) waits for the key, and that repeats for as long as the leg is up;
        only the leg's own timeout or the whole attempt's ends it."""
        prompt = lvars.get("group_confirm_file") or "silence_stream://10"
        read_timeout = float(lvars.get("group_confirm_read_timeout") or 5000) / 1000.0
        seconds = media.duration(prompt, self.switch.sound_dirs) or 0.0
        tf = self.switch.time_factor
        while time.monotonic() < deadline and leg.ready and not cancel.is_set() \
                and not won.ready():
            self.switch.played.append((leg.uuid, prompt))
            end = min(deadline, time.monotonic() + (seconds + read_timeout) * tf)
            while time.monotonic() < end and leg.ready and not cancel.is_set() \
                    and not won.ready():
                while leg.dtmf:
                    if leg.dtmf.popleft() == key:
                        return True
                leg.dtmf_arrived.clear()
                gevent.wait([leg.dtmf_arrived, leg.hungup, cancel, won], count=1,
                            timeout=max(0.0, end - time.monotonic()))
        while leg.dtmf:
            if leg.dtmf.popleft() == key:
                return True
        return False

    def _new_leg(self, target: str, lvars: dict[str, str], caller: Channel | None) -> Channel:
        if target.startswith("user/"):
            name = f"sofia/internal/{target[5:].split('@')[0]}@127.0.0.1"
        elif target.startswith("sofia/"):
            name = target
        else:
            name = target
        cid_name, cid_num, _orig = self._caller_id(lvars, caller)
        leg = Channel(self.switch, name=name, direction="outbound",
                      caller_id_name=cid_name, caller_id_number=cid_num,
                      destination=target.rsplit("/", 1)[-1],
                      context=caller.profile["context"] if caller else "default",
                      uuid=lvars.get("origination_uuid") or str(uuid_mod.uuid4()),
                      variables={k: v for k, v in lvars.items()})
        if caller is not None:
            leg.other_leg = (caller.snapshot(), "originator")
        if target.startswith("user/"):
            # mod_dptools user_outgoing_channel: the directory user's <variables> go onto the
            # new channel (effective_caller_id_* among them)
            user = target[5:].split("@")[0]
            leg.vars.update({k: v for k, v in self.switch._user_vars(user)
                             if k.startswith(("effective_caller_id", "outbound_caller_id",
                                              "user_context", "accountcode", "callgroup"))})
            # the directory's dial-string: {presence_id=${dialed_user}@${dialed_domain}}
            leg.vars["presence_id"] = self.switch.phone_presence_id or f"{user}@127.0.0.1"
        self.switch.add_channel(leg)
        leg.state = "CS_INIT"
        leg.fire("CHANNEL_OUTGOING")
        leg.fire("CHANNEL_ORIGINATE")
        leg.fire("CHANNEL_CREATE")
        leg.presence("CS_ROUTING")
        return leg

    # -- applications and API ------------------------------------------------------------------

    def bridge(self, a: Channel, dial: str) -> str | None:
        winner, cause = self.originate(dial, a)
        if winner is None:
            a.vars["originate_disposition"] = cause
            a.vars["originate_failed_cause"] = cause
            a.vars["DIALSTATUS"] = {"USER_BUSY": "BUSY", "NO_ANSWER": "NOANSWER",
                                    "ALLOTTED_TIMEOUT": "NOANSWER",
                                    "ORIGINATOR_CANCEL": "CANCEL"}.get(cause, cause)
            self._handle_cause(a, cause)
            return None
        a.vars["originate_disposition"] = "call accepted"
        a.vars["DIALSTATUS"] = "SUCCESS"
        self.join(a, winner, wait=True)
        if a.vars.get("hangup_after_bridge") == "true" and a.ready:
            a.hangup(a.vars.get("last_bridge_hangup_cause") or "NORMAL_CLEARING")
            raise Hangup()
        return None

    def _handle_cause(self, a: Channel, cause: str) -> None:
        """switch_channel_handle_cause: hang the caller up unless continue_on_fail allows."""
        cof = a.vars.get("continue_on_fail")
        if cof is None:
            if cause in ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"):
                return
        elif cof.lower() in ("true", "yes", "on", "1") or \
                cause.lower() in [c.strip().lower() for c in cof.split(",")]:
            return
        a.hangup(cause)
        raise Hangup()

    def join(self, a: Channel, b: Channel, wait: bool = False) -> None:
        """Bridge two up channels: CHANNEL_BRIDGE, media flows, CHANNEL_UNBRIDGE at the end."""
        if not a.ready or not b.ready:
            return
        a.answer()
        a_snap, b_snap = a.snapshot(), b.snapshot()
        now = uepoch()
        a.times["bridged"] = b.times["bridged"] = now
        a.other, b.other = b, a
        a.other_leg = (b_snap, "originatee")
        a.profile["callee_id_name"] = b.profile["caller_id_name"]
        a.profile["callee_id_number"] = b.profile["caller_id_number"]
        if b.other_leg is None:
            b.other_leg = (a_snap, "originator")
        a.vars["bridge_to"] = a.vars["last_bridge_to"] = b.uuid
        b.vars["bridge_to"] = b.vars["last_bridge_to"] = a.uuid
        a.vars["bridge_uuid"] = b.vars["bridge_uuid"] = b.uuid
        pre = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
        displace.on_bridge(a, b)
        displace.on_bridge(b, a)
        a.fire("CHANNEL_BRIDGE", pre=pre)
        if not wait:
            gevent.spawn(self._hold_bridge, a, b, pre)
            return
        self._hold_bridge(a, b, pre)

    def _hold_bridge(self, a: Channel, b: Channel, pre: list[tuple[str, str]]) -> None:
        gevent.wait([a.hungup, b.hungup], count=1)
        if b.hungup.is_set():
            a.vars["last_bridge_hangup_cause"] = b.hangup_cause or "NORMAL_CLEARING"
        else:
            b.vars["last_bridge_hangup_cause"] = a.hangup_cause or "NORMAL_CLEARING"
        a.vars.pop("bridge_to", None)
        a.fire("CHANNEL_UNBRIDGE", pre=pre)
        a.other = b.other = None
        if a.hungup.is_set() and b.ready:
            b.hangup("NORMAL_CLEARING")
        if b.hungup.is_set() and not b.destroyed.is_set():
            gevent.spawn(b.finish)
        if b.ready and a.ready:
            return

    def originate_api(self, arg: str) -> str:
        """``originate <dial string> <&app(args) | extension [dialplan] [context]>``, split as
        mod_commands does (switch_separate_string: 'quoted words' stay together, unquoted)."""
        words = fsstrings.separate(arg)
        if len(words) < 2:
            return "-USAGE: <call url> <exten>|&<application_name>(<app_args>)\n"
        dial, dest = words[0], " ".join(words[1:])
        winner, cause = self.originate(dial, None)
        if winner is None:
            return f"-ERR {cause}\n"
        gevent.spawn(self._run_originated, winner, dest)
        return f"+OK {winner.uuid}\n"

    def _run_originated(self, leg: Channel, dest: str) -> None:
        leg.runner = gevent.getcurrent()
        try:
            if dest.startswith("&"):
                app, _, rest = dest[1:].partition("(")
                app, _, data = (app, "", rest.rstrip(")")) if rest else app.partition(" ")
                leg.state = "CS_EXECUTE"
                leg.execute(app.strip(), data.strip())
            else:
                words = dest.split()
                leg.profile["destination"] = words[0]
                if len(words) > 2:
                    leg.profile["context"] = words[2]
                self.switch.route(leg)
        except Hangup:
            pass
        finally:
            if not leg.hungup.is_set():
                leg.hangup("NORMAL_CLEARING")
            leg.finish()
