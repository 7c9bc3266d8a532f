"""API commands (``api`` / ``bgapi``) with FreeSWITCH 1.10's answers, texts included."""

from __future__ import annotations

from collections.abc import Callable

import gevent

from ivr_app.testing.fakeswitch import fsstrings
from ivr_app.testing.fakeswitch.switch import VERSION, FakeSwitch

ApiFn = Callable[[FakeSwitch, str], str]
API: dict[str, ApiFn] = {}


def api(name: str) -> Callable[[ApiFn], ApiFn]:
    def register(fn: ApiFn) -> ApiFn:
        API[name] = fn
        return fn
    return register


def _no_such(uuid: str) -> str:
    return f"-ERR No such channel {uuid}!\n" if uuid else "-ERR Usage\n"


@api("status")
def status(fs: FakeSwitch, arg: str) -> str:
    return fs.status_text()


@api("version")
def version(fs: FakeSwitch, arg: str) -> str:
    return VERSION + "\n"


@api("uuid_exists")
def uuid_exists(fs: FakeSwitch, arg: str) -> str:
    ch = fs.channel(arg.strip())
    return "true" if ch is not None and not ch.destroyed.is_set() else "false"


@api("user_exists")
def user_exists(fs: FakeSwitch, arg: str) -> str:
    """mod_commands.c user_exists (_find_user with tf): ``true`` when the directory has the
    user (``<key> <user> <domain>``; the simulator knows the ``id`` key), ``false`` for anything
    else, missing arguments included; never -ERR, never a newline."""
    words = fsstrings.separate(arg)
    if len(words) < 3 or words[0] != "id":
        return "false"
    return "true" if words[1] in fs.directory.get(words[2], set()) else "false"


@api("uuid_kill")
def uuid_kill(fs: FakeSwitch, arg: str) -> str:
    uuid, _, cause = arg.partition(" ")
    ch = fs.channel(uuid)
    if ch is None:
        return "-ERR No such channel!\n"
    ch.hangup(cause.strip() or "NORMAL_CLEARING")
    return "+OK\n"


@api("uuid_getvar")
def uuid_getvar(fs: FakeSwitch, arg: str) -> str:
    uuid, _, name = arg.partition(" ")
    ch = fs.channel(uuid)
    if ch is None:
        return "-ERR No such channel!\n"
    name = name.strip()
    if name in ch.vars:
        return ch.vars[name]
    # switch_channel_get_variable falls back to the caller profile's fields
    profile = {"caller_id_name": "caller_id_name", "caller_id_number": "caller_id_number",
               "destination_number": "destination", "context": "context"}
    return ch.profile.get(profile[name], "") or "_undef_" if name in profile else "_undef_"


@api("uuid_setvar")
def uuid_setvar(fs: FakeSwitch, arg: str) -> str:
    uuid, _, rest = arg.partition(" ")
    name, _, value = rest.partition(" ")
    ch = fs.channel(uuid)
    if ch is None:
        return "-ERR No such channel!\n"
    if fsstrings.needs_expansion(value) and "${" in value:
        return "+OK\n"  # switch_channel_set_variable refuses values holding ${ (var_check)
    if value:
        ch.vars[name] = value
    else:
        ch.vars.pop(name, None)
    return "+OK\n"


@api("uuid_send_dtmf")
def uuid_send_dtmf(fs: FakeSwitch, arg: str) -> str:
    uuid, _, digits = arg.partition(" ")
    ch = fs.channel(uuid)
    if ch is None:
        return "-ERR no such channel\n"
    target = ch.partner or ch.other or ch
    target.queue_dtmf(digits.strip())
    return f"+OK {uuid} sent DTMF {digits.strip()}.\n"


@api("uuid_break")
def uuid_break(fs: FakeSwitch, arg: str) -> str:
    uuid = arg.split(" ")[0]
    ch = fs.channel(uuid)
    if ch is None:
        return _no_such(uuid)
    if "all" in arg.split(" ")[1:]:  # switch_core_session_flush_private_events
        while not ch.exec_queue.empty():
            ch.exec_queue.get_nowait()
    ch.interrupt.set()
    return "+OK\n"


@api("uuid_broadcast")
def uuid_broadcast(fs: FakeSwitch, arg: str) -> str:
    words = arg.split(" ")
    ch = fs.channel(words[0])
    if ch is None or len(words) < 2:
        return "-ERR Usage\n"
    path = words[1]
    app_name, _, data = path.partition("::")
    if not data:
        app_name, data = "playback", path
    ch.enqueue(app_name, data)
    return "+OK Message sent\n"


@api("uuid_displace")
def uuid_displace(fs: FakeSwitch, arg: str) -> str:
    from ivr_app.testing.fakeswitch import displace

    words = arg.split(" ")
    if len(words) < 3 or not all(words[:3]):
        return ("-USAGE: <uuid> [start|stop] <path> [<limit>] [mux]\n")
    ch = fs.channel(words[0])
    if ch is None:
        return "-ERR Cannot locate session!\n"
    action, path = words[1], words[2]
    if action.lower() == "start":
        limit = int(words[3]) if len(words) > 3 and words[3].isdigit() else 0
        flags = words[4] if len(words) > 4 else ""
        ok = displace.start(ch, path, limit, flags)
        return "+OK Success\n" if ok else "-ERR Cannot displace session!\n"
    if action.lower() == "stop":
        return "+OK Success\n" if displace.stop(ch, path) else \
            "-ERR Cannot stop displace session!\n"
    return "-USAGE: <uuid> [start|stop] <path> [<limit>] [mux]\n"


@api("say_string")
def say_string(fs: FakeSwitch, arg: str) -> str:
    from ivr_app.testing.fakeswitch import displace

    words = arg.split(" ")
    usage = ("-ERR Usage: <module_name>[.<ext>] <lang>[.<ext>] <say_type> <say_method> "
             "[<say_gender>] <text>\n")
    if len(words) not in (5, 6):
        return usage
    _module, _, ext = words[0].partition(".")
    lang, _, lang_ext = words[1].partition(".")
    text = words[-1]
    if lang not in fs.say_modules:
        # switch_ivr_say_string picks the say interface by the language (argv[1]), not by the
        # module word; none loaded ("Invalid SAY Interface" in the log): the usage line
        return usage
    if words[2] != "number" or not text.isdigit():
        return usage  # the simulator speaks numbers only
    return "file_string://" + "!".join(displace.say_files(text, ext or lang_ext or "wav"))


@api("module_exists")
def module_exists(fs: FakeSwitch, arg: str) -> str:
    """``true`` / ``false``, no newline (mod_commands.c). Only the say modules vary here."""
    from ivr_app.testing.fakeswitch import displace

    name = arg.strip()
    if not name:
        return ""
    if name.startswith("mod_say_"):
        return "true" if name[len("mod_say_"):] in fs.say_modules else "false"
    return "true" if name in displace.LOADED_MODULES else "false"


@api("uuid_transfer")
def uuid_transfer(fs: FakeSwitch, arg: str) -> str:
    words = arg.split(" ")
    ch = fs.channel(words[0])
    if ch is None or len(words) < 2:
        return "-ERR No such channel!\n"
    dest = words[-3] if len(words) >= 4 else words[1]
    context = words[-1] if len(words) >= 4 else ch.profile["context"]
    fs.transfer(ch, dest, context)
    return "+OK\n"


@api("uuid_record")
def uuid_record(fs: FakeSwitch, arg: str) -> str:
    words = arg.split(" ")
    if len(words) < 3:
        return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
    ch = fs.channel(words[0])
    if ch is None:
        return "-ERR Cannot locate session!\n"
    action, path = words[1], words[2]
    limit = float(words[3]) if len(words) > 3 else 0.0
    if action == "start":
        fs.recorder.start(ch, path, limit=limit)
    elif action == "stop":
        fs.recorder.stop(ch, path, cause="success-maxtime")
    elif action in ("mask", "unmask"):
        fs.recorder.mask(ch, path, action == "mask")
    else:
        return "-ERR Invalid action\n"
    return "+OK Success\n"


@api("uuid_bridge")
def uuid_bridge(fs: FakeSwitch, arg: str) -> str:
    a, _, b = arg.partition(" ")
    cha, chb = fs.channel(a), fs.channel(b.strip())
    if cha is None or chb is None:
        return "-ERR Invalid uuid\n"
    fs.originator.join(cha, chb)
    return f"+OK {chb.uuid}\n"


@api("show")
def show(fs: FakeSwitch, arg: str) -> str:
    if arg.strip() == "channels as json":
        return fs.channels_json()
    if arg.strip() == "say":
        rows = [f"say,{lang},mod_say_{lang}" for lang in sorted(fs.say_modules)]
        return "type,name,ikey\n" + "".join(r + "\n" for r in rows) + f"\n{len(rows)} total.\n"
    if arg.strip().startswith("application"):
        from ivr_app.testing.fakeswitch.apps import APPS

        rows = [f"{name},,," for name in sorted(APPS)]
        return "name,description,syntax,ikey\n" + "\n".join(rows) + f"\n\n{len(rows)} total.\n"
    return "-ERR Unsupported\n"


@api("reloadxml")
def reloadxml(fs: FakeSwitch, arg: str) -> str:
    """Re-read the dialplan directory. Broken XML keeps the old tree and still answers +OK,
    with the error inside the brackets, as FreeSWITCH 1.10 does."""
    from ivr_app.testing.fakeswitch.dialplan import Dialplan, DialplanError

    if fs.reloadxml_hook is not None:
        result = fs.reloadxml_hook()
    elif fs.dialplan_dir is not None:
        try:
            fs.dialplan = Dialplan.from_dir(fs.dialplan_dir)
            result = "+OK [Success]\n"
        except DialplanError as exc:
            result = f"+OK [[error near line {exc.line}]: {exc.message}]\n"
    else:
        result = "+OK [Success]\n"
    gevent.spawn_later(0.02, fs.log_line, 6, "Timezone reloaded 597 definitions",
                       "switch_time.c", "switch_load_timezones", 1436)
    return result


@api("log")
def log(fs: FakeSwitch, arg: str) -> str:
    level_name, _, text = arg.partition(" ")
    levels = {"CONSOLE": 0, "ALERT": 1, "CRIT": 2, "ERR": 3, "WARNING": 4, "NOTICE": 5,
              "INFO": 6, "DEBUG": 7}
    gevent.spawn(fs.log_line, levels.get(level_name.upper(), 7), text, "mod_commands.c",
                 "log_function", 7200)  # logged after the api/response is on its way
    return "+OK\n"


@api("xml_locate")
def xml_locate(fs: FakeSwitch, arg: str) -> str:
    if arg.split(" ")[0] != "dialplan":
        return "-ERR only the dialplan section is simulated\n"
    return fs.dialplan.to_xml()


@api("global_getvar")
def global_getvar(fs: FakeSwitch, arg: str) -> str:
    name = arg.strip()
    if not name:
        return "".join(f"{k}={v}\n" for k, v in fs.globals.items())
    return fs.globals.get(name, "-ERR no reply\n") if name in fs.globals else "-ERR no reply\n"


@api("global_setvar")
def global_setvar(fs: FakeSwitch, arg: str) -> str:
    name, _, value = arg.partition("=")
    fs.globals[name.strip()] = value.strip()
    return "+OK\n"


@api("sofia")
def sofia(fs: FakeSwitch, arg: str) -> str:
    if arg.strip().startswith("status"):
        return ("                     Name\t   Type\t                                      Data\t"
                "State\n=================================================================="
                "===============================\n"
                "               external\tprofile\t           sip:mod_sofia@127.0.0.1:5080\t"
                "RUNNING (0)\n"
                "               internal\tprofile\t           sip:mod_sofia@127.0.0.1:5060\t"
                "RUNNING (0)\n"
                "=========================================================================="
                "=======================\n2 profiles 0 aliases\n")
    return "-ERR Unsupported\n"


@api("originate")
def originate(fs: FakeSwitch, arg: str) -> str:
    return fs.originator.originate_api(arg)


@api("hupall")
def hupall(fs: FakeSwitch, arg: str) -> str:
    cause = arg.split(" ")[0] or "MANAGER_REQUEST"
    for ch in list(fs.channels.values()):
        ch.hangup(cause)
    return "+OK hangup all channels with cause " + cause + "\n"


@api("eval")
def eval_(fs: FakeSwitch, arg: str) -> str:
    return fsstrings.expand(arg, {}, fs.globals, fs.api_expand)


@api("strftime")
def strftime(fs: FakeSwitch, arg: str) -> str:
    import time

    return time.strftime(arg.replace("%T", "%H:%M:%S") or "%Y-%m-%d %H:%M:%S",
                         time.localtime())


@api("echo")
def echo(fs: FakeSwitch, arg: str) -> str:
    return arg


@api("msleep")
def msleep(fs: FakeSwitch, arg: str) -> str:
    gevent.sleep(int(arg or 0) / 1000.0 * fs.time_factor)
    return "+OK\n"


@api("fakeswitch")
def fakeswitch(fs: FakeSwitch, arg: str) -> str:
    """The simulator's own commands: the outside world, driven over the Event Socket."""
    from ivr_app.testing.fakeswitch.originate import BUSY, NEVER_ANSWERS, FarEnd

    words = arg.split(" ")
    cmd, rest = words[0], words[1:]
    if cmd == "call" and rest:
        ch = fs.place_call(rest[0], caller_id_number=rest[1] if len(rest) > 1 else "0000000000",
                           caller_id_name=" ".join(rest[2:]))
        return f"+OK {ch.uuid}\n"
    if cmd == "press" and len(rest) == 2:
        if fs.channel(rest[0]) is None:
            return "-ERR No such channel!\n"
        fs.press(rest[0], rest[1])
        return "+OK\n"
    if cmd == "hangup" and rest:
        if fs.channel(rest[0]) is None:
            return "-ERR No such channel!\n"
        fs.caller_hangs_up(rest[0], rest[1] if len(rest) > 1 else "NORMAL_CLEARING")
        return "+OK\n"
    if cmd == "far_end" and len(rest) >= 2:
        how = rest[1]
        if how == "never":
            script = NEVER_ANSWERS
        elif how == "busy":
            script = BUSY
        else:
            script = FarEnd(answer_after=float(how), press=rest[2] if len(rest) > 2 else None)
        fs.originator.far_end(rest[0], script)
        return "+OK\n"
    return "-USAGE: fakeswitch call|press|hangup|far_end ...\n"
