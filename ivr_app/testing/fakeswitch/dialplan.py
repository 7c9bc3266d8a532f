"""The subset of mod_dialplan_xml the project's own dialplan uses.

``<context name>`` / ``<extension name [continue]>`` / ``<condition field expression>`` (regex
with captures $1..$9, several conditions all must match) / ``<action application data>`` and
``<anti-action>``. Fields are caller-profile names (destination_number, caller_id_number,
caller_id_name, context, network_addr) or ``${variable}``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

_INCLUDE = re.compile(r'<X-PRE-PROCESS\s+cmd="include"\s+data="([^"]+)"\s*/>', re.I)


def include_expanded(path: Path) -> str:
    """The file's text with each include line replaced by the files its glob names (relative
    to the including file), their ``<include>`` wrappers dropped, recursively: switch_xml.c's
    line-based pre-processor (ivr_app/testing/fakeswitch/preprocess.py)."""
    out = []
    for line in path.read_text().splitlines():
        m = _INCLUDE.search(line)
        if m is None:
            out.append(line)
            continue
        for f in sorted(path.parent.glob(m.group(1))):
            inner = include_expanded(f)
            out += [x for x in inner.splitlines()
                    if x.strip() not in ("<include>", "</include>") and
                    not x.strip().startswith("<?xml")]
    return "\n".join(out)


class DialplanError(Exception):
    def __init__(self, line: int, message: str):
        self.line, self.message = line, message
        super().__init__(f"[error near line {line}]: {message}")


@dataclass(frozen=True)
class Condition:
    field: str
    expression: str


@dataclass(frozen=True)
class Extension:
    name: str
    conditions: tuple[Condition, ...]
    actions: tuple[tuple[str, str], ...]
    anti_actions: tuple[tuple[str, str], ...] = ()
    continue_: bool = False


@dataclass
class Dialplan:
    contexts: dict[str, list[Extension]] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, root: Path | str) -> Dialplan:
        """A FreeSWITCH conf/dialplan directory.

        With top-level context files (a stock install's default.xml, public.xml), those are
        read as FreeSWITCH reads them: each ``<X-PRE-PROCESS cmd="include">`` line is
        replaced by the files it names, exactly where it stands (the stock default.xml
        includes default/*.xml at the end of its context, after Local_Extension), and a file
        nothing includes is not loaded. Without them (a bare directory), files in <context>/
        go into that context. An XML error raises DialplanError with the file and line, as
        reloadxml reports it."""
        dp = cls()
        root = Path(root)
        tops = sorted(p for p in root.glob("*.xml") if p.is_file())
        if tops:
            for f in tops:
                try:
                    dp.load_xml(include_expanded(f), default_context=f.stem)
                except ET.ParseError as exc:
                    line = exc.position[0] if exc.position else 0
                    raise DialplanError(line, f"{f.name}: {exc}") from None
            return dp
        for f in sorted(root.rglob("*.xml")):
            rel = f.relative_to(root)
            ctx = rel.parts[0] if len(rel.parts) > 1 else "public"
            try:
                dp.load_xml(f.read_text(), default_context=ctx)
            except ET.ParseError as exc:
                line = exc.position[0] if exc.position else 0
                raise DialplanError(line, f"{rel}: {exc}") from None
        return dp

    def to_xml(self) -> str:
        """The dialplan section, as `xml_locate dialplan` prints it: every context, extension,
        condition and action, in the order FreeSWITCH hunts them."""
        section = ET.Element("section", name="dialplan", description="Regex/XML Dialplan")
        for ctx, exts in self.contexts.items():
            c = ET.SubElement(section, "context", name=ctx)
            for e in exts:
                x = ET.SubElement(c, "extension", name=e.name)
                if e.continue_:
                    x.set("continue", "true")
                for i, cond in enumerate(e.conditions):
                    y = ET.SubElement(x, "condition", field=cond.field,
                                      expression=cond.expression)
                    if i == len(e.conditions) - 1:
                        for app, data in e.actions:
                            ET.SubElement(y, "action", application=app, data=data)
                        for app, data in e.anti_actions:
                            ET.SubElement(y, "anti-action", application=app, data=data)
        ET.indent(section)
        return ET.tostring(section, encoding="unicode") + "\n"

    @classmethod
    def from_files(cls, *paths: Path | str) -> Dialplan:
        dp = cls()
        for p in paths:
            for f in sorted(Path(p).rglob("*.xml")) if Path(p).is_dir() else [Path(p)]:
                dp.load_xml(f.read_text(), default_context="public")
        return dp

    def load_xml(self, text: str, default_context: str = "public") -> None:
        root = ET.fromstring(text)  # noqa: S314 - the project's own dialplan files
        contexts = root.iter("context") if root.tag != "include" or root.find("context") \
            is not None else [root]
        for ctx in contexts:
            name = ctx.get("name", default_context) if ctx.tag == "context" else default_context
            exts = self.contexts.setdefault(name, [])
            for ext in ctx.iter("extension"):
                conds, actions, anti = [], [], []
                for cond in ext.findall("condition"):
                    conds.append(Condition(cond.get("field", ""), cond.get("expression", "")))
                    actions += [(a.get("application", ""), a.get("data", ""))
                                for a in cond.findall("action")]
                    anti += [(a.get("application", ""), a.get("data", ""))
                             for a in cond.findall("anti-action")]
                exts.append(Extension(ext.get("name", ""), tuple(conds), tuple(actions),
                                      tuple(anti), ext.get("continue") == "true"))

    def hunt(self, context: str, fields: dict[str, str], variables: dict[str, str]
             ) -> list[tuple[str, str]] | None:
        """The actions of the matching extensions (None: no route in this context)."""
        if context not in self.contexts:
            return None
        out: list[tuple[str, str]] = []
        for ext in self.contexts[context]:
            captures: tuple[str, ...] = ()
            matched = True
            for cond in ext.conditions:
                if cond.field.startswith("${") and cond.field.endswith("}"):
                    value = variables.get(cond.field[2:-1], "")
                else:
                    value = fields.get(cond.field, variables.get(cond.field, ""))
                m = re.search(cond.expression, value)
                if not m:
                    matched = False
                    break
                captures = m.groups()
            if not matched:
                continue
            for app, data in ext.actions:
                for i, cap in enumerate(captures, start=1):
                    data = data.replace(f"${i}", cap or "")
                out.append((app, data))
            if not ext.continue_:
                break
        return out
