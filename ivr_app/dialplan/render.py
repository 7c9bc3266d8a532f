"""Rendering the site YAML through the Jinja2 templates in dialplan/templates/.

Autoescaping is on (the output is XML), and every value already passed the site's own
validation (numbers, extensions, names, host), so nothing from the YAML can open an element or
an attribute, or reach FreeSWITCH's ``${}`` expansion.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from ivr_app.dialplan.site import Site

TEMPLATES = Path(__file__).resolve().parents[2] / "dialplan" / "templates"
# template -> the file it becomes, relative to FreeSWITCH's conf/dialplan directory
OUTPUTS = {"public.xml.j2": "public/ivr-app.xml", "default.xml.j2": "default/ivr-app.xml"}


def render(site: Site, templates: Path = TEMPLATES) -> dict[str, str]:
    """{relative path: XML text} for every output file."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return {out: env.get_template(name).render(site=site, site_name=Path(site.source).name)
            for name, out in OUTPUTS.items()}


def write(files: dict[str, str], out_dir: Path) -> list[Path]:
    written = []
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        written.append(path)
    return written
