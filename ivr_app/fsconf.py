"""``ivr-app freeswitch install``: put freeswitch/ into a FreeSWITCH 1.10 configuration
directory, the steps freeswitch/README.md lists, done the same way every time.

Each step is idempotent (a second run changes nothing) and keeps the stock file's own content:

1. ``vars.xml``: the pre-processor variable ``esl_password`` (the value ivr-app is given as
   IVR_APP_ESL_PASSWORD); set once, replaced if it is there;
2. ``autoload_configs/event_socket.conf.xml``: replaced by ours (loopback, ACL, the password
   from that variable); the stock one is kept beside it as ``.orig``;
3. ``autoload_configs/acl.conf.xml``: our ``ivr-app`` list inside ``<network-lists>``;
4. ``autoload_configs/switch.conf.xml``: max-sessions / sessions-per-second;
5. ``autoload_configs/local_stream.conf.xml``: a ``moh`` stream, unless one is there;
6. ``dialplan/default.xml``: an include of ``default/ivr-app*.xml`` as the first line of the
   default context. The stock file includes ``default/*.xml`` only at its end, after its own
   Local_Extension (1000-1019) and vmain (*98): without this the stock extensions win and
   the app never sees internal calls or star codes. (That later include reads our file a
   second time; FreeSWITCH stops at the first match, so the copy is never reached.)
7. ``directory/default.xml``: one presence publisher. FreeSWITCH publishes every phone
   channel's own presence under its ``presence_id`` (``CS_ROUTING``, ``answered``,
   ``CS_HANGUP``, which mod_sofia shows as ``Call``, ``Talk`` and ``Available``) beside the
   state ivr-app publishes: a watcher's lamp said "Available" after every call, then "In a
   meeting" again. The phones' calls get the presence_id ``ivr-app-calls@<domain>``, which
   no lamp watches: a domain variable for the calls they make (set when sofia authenticates
   them, before routing), and in the domain's ``dial-string`` for the calls they take
   (``user/<ext>``). ivr-app publishes "On the phone" itself (presence/oncall.py).

Nothing here runs on FreeSWITCH: afterwards ``reloadacl``, ``reload mod_event_socket`` and
``reloadxml`` (or a restart, which switch.conf.xml needs) make it take effect.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ivr_app.errors import ConfigError
from ivr_app.esl.password import weakness

SHIPPED = Path(__file__).resolve().parents[1] / "freeswitch"
DEFAULT_INCLUDE = '<X-PRE-PROCESS cmd="include" data="default/ivr-app*.xml"/>'
PRESENCE_USER = "ivr-app-calls"  # the presence_id of the phones' channels: no lamp watches it
PRESENCE_VARIABLE = (f'<variable name="presence_id" value="{PRESENCE_USER}@$${{domain}}"/>'
                     "  <!-- ivr-app: one presence publisher -->")
_DIAL_STRING_PRESENCE = "presence_id=${dialed_user}@${dialed_domain}"
_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)
_PASSWORD = re.compile(r'^[A-Za-z0-9._~+/=-]{12,128}$')


@dataclass(frozen=True)
class Change:
    path: str
    what: str


def _body(name: str) -> str:
    """A shipped snippet without its comment (the comment explains it to people reading the
    repository; FreeSWITCH's pre-processor must never see a directive in one)."""
    return _COMMENT.sub("", (SHIPPED / "autoload_configs" / name).read_text()).strip()


def _read(path: Path) -> str:
    if not path.is_file():
        raise ConfigError([f"{path}: not found (is this FreeSWITCH's conf directory?)"])
    return path.read_text()


def _write(path: Path, text: str) -> None:
    """Atomically, keeping the file's mode and owner (vars.xml holds the ESL password)."""
    tmp = path.with_name(f".{path.name}.ivr-app-tmp")
    tmp.write_text(text)
    if path.exists():
        st = path.stat()
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
    tmp.replace(path)


def check_password(password: str) -> None:
    why = weakness(password)
    if why:
        raise ConfigError([f"esl password: {why}; pick another"])
    if not _PASSWORD.match(password):
        raise ConfigError(["esl password: 12-128 characters of A-Z a-z 0-9 . _ ~ + / = - "
                           "(it is written into vars.xml; quotes and blanks would break it)"])


def install(conf: Path, esl_password: str) -> list[Change]:
    """Install into ``conf`` (FreeSWITCH's conf directory); the changes made, [] if none."""
    check_password(esl_password)
    steps = (_vars, _event_socket, _acl, _switch, _local_stream, _default_dialplan,
             _directory_presence)
    changes: list[Change] = []
    for step in steps:
        change = step(conf, esl_password)
        if change is not None:
            changes.append(change)
    return changes


def _vars(conf: Path, password: str) -> Change | None:
    path = conf / "vars.xml"
    text = _read(path)
    line = f'<X-PRE-PROCESS cmd="set" data="esl_password={password}"/>'
    found = re.search(r'<X-PRE-PROCESS cmd="set" data="esl_password=[^"]*"/>', text)
    if found and found.group(0) == line:
        return None
    if found:
        text = text[:found.start()] + line + text[found.end():]
    else:
        end = text.rindex("</include>")
        text = text[:end] + f"  {line}\n" + text[end:]
    _write(path, text)
    return Change("vars.xml", "esl_password set")


def _event_socket(conf: Path, _password: str) -> Change | None:
    path = conf / "autoload_configs" / "event_socket.conf.xml"
    ours = (SHIPPED / "autoload_configs" / "event_socket.conf.xml").read_text()
    current = _read(path)
    if current == ours:
        return None
    backup = path.with_name(path.name + ".orig")
    if not backup.exists():
        backup.write_text(current)
    _write(path, ours)
    return Change("autoload_configs/event_socket.conf.xml", "replaced (stock kept as .orig)")


def _add_snippet(path: Path, present: str, before: str, snippet: str, indent: str) -> bool:
    """Put a shipped snippet on its own lines just before the line holding ``before``, unless
    ``present`` (a regex) says the file has it; True if the file changed."""
    text = _read(path)
    if re.search(present, text):
        return False
    if before not in text:
        raise ConfigError([f"{path}: no {before} to put ivr-app's part before"])
    at = text.rindex("\n", 0, text.rindex(before)) + 1
    lines = "".join(indent + x + "\n" for x in _body(snippet).splitlines())
    _write(path, text[:at] + lines + text[at:])
    return True


def _acl(conf: Path, _password: str) -> Change | None:
    if not _add_snippet(conf / "autoload_configs" / "acl.conf.xml", r'<list\s+name="ivr-app"',
                        "</network-lists>", "acl.ivr-app.xml", "    "):
        return None
    return Change("autoload_configs/acl.conf.xml", "list ivr-app added")


def _switch(conf: Path, _password: str) -> Change | None:
    path = conf / "autoload_configs" / "switch.conf.xml"
    text = original = _read(path)
    for name, value in re.findall(r'<param name="([^"]+)" value="([^"]*)"/>',
                                  _body("switch.ivr-app.xml")):
        param = f'<param name="{name}" value="{value}"/>'
        live = re.compile(rf'^(\s*)<param name="{re.escape(name)}" value="[^"]*"\s*/>', re.M)
        if live.search(text):
            text = live.sub(lambda m, p=param: m.group(1) + p, text, count=1)
        else:
            at = text.index("<settings>") + len("<settings>")
            text = text[:at] + f"\n    {param}" + text[at:]
    if text == original:
        return None
    _write(path, text)
    return Change("autoload_configs/switch.conf.xml", "max-sessions, sessions-per-second")


def _local_stream(conf: Path, _password: str) -> Change | None:
    # the stock moh/8000, moh/16000 ... serve local_stream://moh already
    if not _add_snippet(conf / "autoload_configs" / "local_stream.conf.xml",
                        r'<directory\s+name="moh[/"]', "</configuration>",
                        "local_stream.ivr-app.xml", "  "):
        return None
    return Change("autoload_configs/local_stream.conf.xml", "moh stream added")


def _default_dialplan(conf: Path, _password: str) -> Change | None:
    path = conf / "dialplan" / "default.xml"
    text = _read(path)
    if DEFAULT_INCLUDE in text:
        return None
    m = re.search(r'<context\s+name="default"\s*>[^\n]*\n', text)
    if m is None:
        raise ConfigError([f"{path}: no <context name=\"default\"> to put ivr-app's "
                           "extensions first in"])
    line = ("    <!-- ivr-app's extensions come first (ivr-app freeswitch install) -->\n"
            f"    {DEFAULT_INCLUDE}\n")
    _write(path, text[:m.end()] + line + text[m.end():])
    return Change("dialplan/default.xml", "ivr-app's extensions first in context default")


def _directory_presence(conf: Path, _password: str) -> Change | None:
    path = conf / "directory" / "default.xml"
    text = _read(path)
    new = text.replace(_DIAL_STRING_PRESENCE, f"presence_id={PRESENCE_USER}@${{dialed_domain}}")
    if f'name="presence_id" value="{PRESENCE_USER}@' not in new:
        m = re.search(r"<domain\s[^>]*>.*?(\n\s*)<variables>\s*\n", new, re.S)
        if m is None:
            raise ConfigError([f"{path}: no <variables> in the <domain> to give the phones' "
                               "calls ivr-app's presence_id (freeswitch/README.md)"])
        indent = m.group(1).lstrip("\n") + "  "
        new = new[:m.end()] + f"{indent}{PRESENCE_VARIABLE}\n" + new[m.end():]
    if new == text:
        return None
    _write(path, new)
    return Change("directory/default.xml",
                  f"the phones' channels publish no presence of their own ({PRESENCE_USER})")


# -- ivr-app freeswitch install ---------------------------------------------------------------

import click  # noqa: E402 - the command group sits beside its feature

from ivr_app.clikit import Context, fails_cleanly, pass_ctx  # noqa: E402


@click.group("freeswitch")
def freeswitch_group() -> None:
    """FreeSWITCH's own configuration for ivr-app (freeswitch/README.md)."""


@freeswitch_group.command("install")
@click.option("--conf", "conf_dir", required=True, type=click.Path(file_okay=False),
              help="FreeSWITCH's conf directory (/etc/freeswitch, /usr/local/freeswitch/conf)")
@pass_ctx
@fails_cleanly
def freeswitch_install(ctx: Context, conf_dir: str) -> None:
    """Install freeswitch/ into FreeSWITCH's configuration (idempotent); the ESL password is
    the configured esl.password (IVR_APP_ESL_PASSWORD)."""
    changes = install(Path(conf_dir), ctx.config.esl.password)
    for change in changes:
        click.echo(f"{change.path}: {change.what}")
    if not changes:
        click.echo("nothing to change")
    else:
        click.echo("then: fs_cli -x reloadacl; fs_cli -x 'reload mod_event_socket'; "
                   "fs_cli -x reloadxml (switch.conf.xml needs a restart)")
