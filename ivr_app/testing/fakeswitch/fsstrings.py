"""FreeSWITCH's string handling, modelled on its C source, so the simulator treats application
arguments exactly as FreeSWITCH does and the quoting gate can be tested against it.

* ``expand``: ``switch_channel_expand_variables_check`` (src/switch_channel.c): runs only when
  the string holds ``${`` (``$`` then ``{`` with backslashes allowed between) or escaped data
  (``\\\\ \\n \\s \\t \\'``); ``\\$`` is a literal ``$``, ``\\\\`` a backslash, ``\\'`` vanishes;
  ``${name}`` is a channel variable, ``$${name}`` a global, ``${cmd arg}`` runs API ``cmd``.
* ``separate``: ``switch_separate_string`` with the blank delimiter (src/switch_utils.c):
  single quotes group words, a backslash escapes the next character, quotes are stripped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

ApiFn = Callable[[str, str], str]


def _var_check(s: str) -> bool:
    dol = False
    for ch in s:
        if ch == "$":
            dol = True
        elif dol:
            if ch == "{":
                return True
            if ch != "\\":
                dol = False
    return False


def _has_escaped_data(s: str) -> bool:
    i = s.find("\\")
    while i >= 0:
        if i + 1 < len(s) and s[i + 1] in "\\nst'":
            return True
        i = s.find("\\", i + 1)
    return False


def needs_expansion(s: str) -> bool:
    return _var_check(s) or _has_escaped_data(s)


def expand(s: str, variables: Mapping[str, str], globals_: Mapping[str, str] | None = None,
           api: ApiFn | None = None, _depth: int = 0) -> str:
    if _depth > 100 or not s or not needs_expansion(s):
        return s
    globals_ = globals_ or {}
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        literal = False
        if ch == "\\" and i + 1 < n:
            nxt = s[i + 1]
            if nxt == "$":
                literal = True
                i += 1
                if i + 1 < n and s[i + 1] == "$":
                    i += 1
            elif nxt == "'":
                i += 2
                continue
            elif nxt == "\\":
                out.append("\\")
                i += 2
                continue
        ch = s[i]
        is_global = False
        if ch == "$" and not literal:
            j = i
            if j + 1 < n and s[j + 1] == "$":
                j += 1
                is_global = True
            if j + 1 < n and s[j + 1] == "{":
                # ${...}: find the matching brace
                k, depth = j + 2, 1
                while k < n:
                    if s[k] == "{":
                        depth += 1
                    elif s[k] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                inner = s[j + 2:k]
                i = k + 1
                name, sep, arg = inner.partition(" ")
                paren = inner.find("(")
                if paren > 0 and (not sep or paren < len(name)) and inner.endswith(")"):
                    name, sep, arg = inner[:paren], "(", inner[paren + 1:-1]
                if sep and api is not None:
                    out.append(api(name, expand(arg, variables, globals_, api, _depth + 1)))
                elif sep:
                    out.append("")
                else:
                    table = globals_ if is_global else variables
                    out.append(expand(table.get(inner, ""), variables, globals_, api,
                                      _depth + 1))
                continue
            literal = True
        out.append(s[i])
        i += 1
    return "".join(out)


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _cleanup(token: str) -> str:
    token = token.lstrip(" ")
    out: list[str] = []
    end = 0
    inside = False
    i = 0
    while i < len(token):
        ch = token[i]
        if ch == "\\" and i + 1 < len(token):
            e = token[i + 1]
            if e in "'\"\\" or e in _UNESCAPE:
                out.append(_UNESCAPE.get(e, e))
                end = len(out)
                i += 2
                continue
        if ch == "'" and (inside or "'" in token[i + 1:]):
            inside = not inside
            if inside:
                end = len(out)
        else:
            out.append(ch)
            if ch != " " or inside:
                end = len(out)
        i += 1
    return "".join(out[:end])


def separate(s: str, limit: int = 128) -> list[str]:
    """Split an application argument on blanks, as play_and_get_digits, say, ... do."""
    tokens: list[str] = []
    starts: list[int] = []
    state = "start"
    inside = False
    chars = list(s)
    i = 0
    while i < len(chars) and len(starts) < limit:
        ch = chars[i]
        if state == "start":
            starts.append(i)
            state = "skip_initial"
            continue
        if state == "skip_initial":
            if ch == " ":
                i += 1
            else:
                state = "find"
            continue
        if state == "find":
            if ch == "\\":
                i += 1
            elif ch == "'":
                inside = not inside
            elif ch == " " and not inside:
                chars[i] = "\0"
                state = "skip_end"
            i += 1
            continue
        if state == "skip_end":
            if ch == " ":
                i += 1
            else:
                state = "start"
    joined = "".join(chars)
    for k, st in enumerate(starts):
        end = joined.find("\0", st)
        piece = joined[st:] if end < 0 else joined[st:end]
        tokens.append(_cleanup(piece))
        del k
    return tokens
