"""What each deployed number really reaches in the dialplan FreeSWITCH has loaded.

``xml_locate dialplan`` returns the dialplan section as FreeSWITCH holds it, after the
pre-processor has put every included file where its include line stands. A number reaches the
first extension, in that order, whose conditions all match it (mod_dialplan_xml), going on past
one that says ``continue="true"``. A stock FreeSWITCH includes ``default/*.xml`` at the *end*
of its default context, after its own ``Local_Extension`` (10[01]x) and ``vmain`` (*98): there
the app's extensions load fine and are never reached. Deploy verification hunts each of our
numbers through the live section and says which extension catches it when it is not ours.

Only ``destination_number`` conditions are evaluated: a condition on anything else (a channel
variable, the time of day) depends on the call, so such an extension is passed over here;
what it would do is the site's business, not a shadow we can prove.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

OURS = "ivr-app-"  # every extension the templates write is named ivr-app-...


@dataclass(frozen=True)
class Probe:
    context: str
    number: str
    extension: str  # our extension that should catch it


def sample_number(expression: str) -> str | None:
    """A number matched by one of our templates' patterns (``^1001$``, ``^\\*30(\\d*)$``,
    ``^\\+?74951112233$``), or None for a pattern of another shape."""
    if not (expression.startswith("^") and expression.endswith("$")):
        return None
    body = expression[1:-1].replace("(\\d*)", "").replace("\\+?", "").replace("\\*", "*")
    if not re.fullmatch(r"[0-9*#+]+", body):
        return None
    return body if re.fullmatch(expression, body) else None


def probes(files: dict[str, str]) -> list[Probe]:
    """One probe per extension of ours in the rendered files (``<context>/ivr-app.xml``)."""
    out = []
    for rel, text in sorted(files.items()):
        context = rel.split("/", 1)[0] if "/" in rel else "public"
        root = ET.fromstring(text)  # noqa: S314 - our own rendered files
        for ext in root.iter("extension"):
            for cond in ext.findall("condition"):
                if cond.get("field") == "destination_number":
                    number = sample_number(cond.get("expression", ""))
                    if number is not None:
                        out.append(Probe(context, number, ext.get("name", "")))
                    break
    return out


def _matches(ext: ET.Element, number: str) -> bool | None:
    """True / False when the extension's conditions decide on the number alone; None when a
    condition depends on something else."""
    conditions = ext.findall("condition")
    if not conditions:
        return None
    for cond in conditions:
        field = cond.get("field")
        if field is None or cond.get("regex") is not None:
            return None  # <condition> blocks of several regexes, time conditions, ...
        if field != "destination_number":
            return None
        try:
            if not re.search(cond.get("expression", ""), number):
                return False
        except re.error:  # PCRE that Python's re does not read: undecidable here
            return None
    return True


def reached(section: ET.Element, context: str, number: str) -> str | None:
    """The name of the extension ``number`` reaches in ``context`` (None: nothing matches)."""
    for ctx in section.iter("context"):
        if ctx.get("name") != context:
            continue
        for ext in ctx.iter("extension"):
            if _matches(ext, number) and ext.get("continue") != "true":
                return ext.get("name", "")
    return None


def shadowed(section_xml: str, files: dict[str, str]) -> list[str]:
    """A line per deployed number that the live dialplan sends elsewhere."""
    try:
        section = ET.fromstring(section_xml)  # noqa: S314 - FreeSWITCH's own answer
    except ET.ParseError as exc:
        return [f"xml_locate dialplan: not XML ({exc})"]
    problems = []
    for probe in probes(files):
        got = reached(section, probe.context, probe.number)
        if got == probe.extension:
            continue
        where = f"extension {got!r}" if got else "no extension"
        problems.append(
            f"{probe.number} in context {probe.context} reaches {where}, not {probe.extension}"
            f": the stock dialplan comes first (freeswitch/README.md, 'The dialplan order')")
    return problems
