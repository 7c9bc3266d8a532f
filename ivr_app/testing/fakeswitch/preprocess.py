"""FreeSWITCH's XML pre-processor (src/switch_xml.c, preprocess()), the part that bites:

* it works line by line, before any XML parsing: a line holding ``<X-PRE-PROCESS .../>`` is run
  wherever it stands, **inside an XML comment too** (only its own ``<!--#`` form is a comment
  to it), and ``$${name}`` is expanded on every line, comments included;
* ``set`` assigns a global variable for every line read after it (the last one wins).

ivr-app's freeswitch/ files are checked with it (tests/freeswitch_config): a directive left in
a comment once set ``esl_password`` to ``...`` on a real FreeSWITCH.
"""

from __future__ import annotations

import re

_DIRECTIVE = re.compile(r'<X-PRE-PROCESS\s+cmd="([^"]*)"\s+data="([^"]*)"\s*/>', re.I)
_GLOBAL = re.compile(r"\$\$\{([^}]+)\}")


def preprocess(files: list[str], variables: dict[str, str] | None = None) -> tuple[str, dict]:
    """Run the texts in order, as FreeSWITCH reads freeswitch.xml and what it includes.
    Returns the output text and the global variables as they are at the end."""
    gvars = dict(variables or {})
    out: list[str] = []
    for text in files:
        for line in text.splitlines():
            line = _GLOBAL.sub(lambda m: gvars.get(m.group(1), ""), line)
            directive = _DIRECTIVE.search(line)
            if directive is None:
                out.append(line)
                continue
            cmd, data = directive.group(1).lower(), directive.group(2)
            if cmd == "set" and "=" in data:
                name, _, value = data.partition("=")
                gvars[name.strip()] = value.strip()
    return "\n".join(out), gvars
