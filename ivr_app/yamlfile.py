"""YAML files that remember where each value came from.

Every YAML file ivr-app reads (configuration, menus, data to load) goes through
:func:`load`, so every error message can name the file and the line:
``ivr-app.yaml:12: esl.port: must be an integer 1-65535``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr_app.errors import ConfigError

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """``('esl', 'port')`` -> ``esl.port``; list indexes as ``devices[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True)
class Located:
    """A parsed YAML document plus the line of every key path in it."""

    source: str
    data: Any
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def problem(self, path: KeyPath, message: str) -> str:
        """One error line: ``file:line: key.path: message``."""
        line = self.line_of(path)
        where = f"{self.source}:{line}" if line else self.source
        return f"{where}: {dotted(path)}: {message}" if path else f"{where}: {message}"


class _Loader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: ``2026-12-31`` stays text and the validators
    that want a date parse it, with a file:line error when it is not one (PyYAML would raise
    a bare ValueError from deep inside for ``2026-13-01``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def loads(text: str, source: str) -> Located:
    """Parse ``text``; raise :class:`ConfigError` naming ``source`` and the line on bad YAML."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{source}{line}: YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: YAML error: {exc}"]) from None
    except (ValueError, TypeError) as exc:  # a scalar PyYAML could not construct
        raise ConfigError([f"{source}: invalid value: {exc}"]) from None
    lines: dict[KeyPath, int] = {}
    problems: list[str] = []
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, problems, source)
    if problems:
        raise ConfigError(problems)
    return Located(source=source, data=data, lines=lines)


def load(path: str | Path) -> Located:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: cannot read: {exc}"]) from None
    return loads(text, str(p))


def _walk(node: yaml.Node, path: KeyPath, lines: dict, problems: list[str], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            sub = (*path, key)
            if key in seen:
                problems.append(
                    f"{source}:{key_node.start_mark.line + 1}: {dotted(sub)}: duplicate key"
                )
            seen.add(key)
            lines[sub] = key_node.start_mark.line + 1
            _walk(value_node, sub, lines, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, i)
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines, problems, source)
