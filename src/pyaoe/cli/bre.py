"""pyaoe.cli.bre: GNU grep's basic regular expressions (BRE) translated to Python's `re`, for
aoe-stat's filter argument (aoetools pipes its rows through `grep $1`).

BRE differs from Python: ( ) { } | + ? are literal and their backslashed forms are operators.
"""

from __future__ import annotations

import re

__all__ = ["BreError", "compile_bre", "bre_to_python"]

# POSIX classes as grep sees them in the C locale (aoe-stat's rows are ASCII).
_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9a-zA-Z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
}
# Escapes GNU grep gives a meaning of their own; the rest of \c means a literal c.
_ESCAPES = {
    "(": "(",
    ")": ")",
    "|": "|",
    "{": "{",
    "}": "}",
    "+": "+",
    "?": "?",
    "<": r"\b(?=\w)",
    ">": r"\b(?<=\w)",
    "w": r"\w",
    "W": r"\W",
    "s": r"\s",
    "S": r"\S",
    "b": r"\b",
    "B": r"\B",
    "`": r"\A",
    "'": r"\Z",
}


class BreError(ValueError):
    """The pattern is not a valid basic regular expression."""


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting at pattern[i] == "["; return it and the index after."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] == "^"
    if negate:
        j += 1
    items: list[str] = []
    first = True
    while True:
        if j >= len(pattern):
            raise BreError("Unmatched [, [^, [:, [., or [=")
        c = pattern[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "[" and j + 1 < len(pattern) and pattern[j + 1] in ":=.":
            kind = pattern[j + 1]
            end = pattern.find(kind + "]", j + 2)
            if end < 0:
                raise BreError("Unmatched [, [^, [:, [., or [=")
            word = pattern[j + 2 : end]
            if kind == ":":
                if word not in _CLASSES:
                    raise BreError("Invalid character class name")
                items.append(_CLASSES[word])
            else:
                items.append(re.escape(word))
            j = end + 2
            continue
        if c == "-" and items and j + 1 < len(pattern) and pattern[j + 1] != "]":
            items.append("-")
        else:
            # A backslash is an ordinary character inside brackets in POSIX.
            items.append(re.escape(c))
        j += 1
    return "[" + ("^" if negate else "") + "".join(items) + "]", j


def bre_to_python(pattern: str) -> str:
    """The Python regular expression that matches what ``grep PATTERN`` matches."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    # True where a "*" is literal (start of the expression, after \( or \| or a leading ^).
    at_start = True
    depth = 0
    closed = 0  # groups closed so far: what a back reference may name
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise BreError("Trailing backslash")
            e = pattern[i + 1]
            i += 2
            if e.isdigit() and e != "0":
                if int(e) > closed:
                    raise BreError("Invalid back reference")
                out.append("\\" + e)
                at_start = False
            elif e in _ESCAPES:
                out.append(_ESCAPES[e])
                if e == "(":
                    depth += 1
                elif e == ")":
                    if depth == 0:
                        raise BreError("Unmatched ) or \\)")
                    depth -= 1
                    closed += 1
                at_start = e in "(|"
            else:
                out.append(re.escape(e))
                at_start = False
            continue
        if c == "*" and (at_start or (out and out[-1] in ("*", "^"))):
            if out and out[-1] == "*":
                i += 1  # "a**" is "a*" to grep, an error to Python
                continue
            if at_start or out[-1] == "^":
                out.append(r"\*")
                i += 1
                at_start = False
                continue
        if c == "[":
            piece, i = _bracket(pattern, i)
            out.append(piece)
            at_start = False
            continue
        if c == "^":
            # An anchor at the start (or after \( or \|); anywhere else a literal.
            out.append("^" if at_start else r"\^")
            i += 1
            continue
        if c == "$":
            rest = pattern[i + 1 :]
            anchor = rest == "" or rest.startswith("\\)") or rest.startswith("\\|")
            out.append("$" if anchor else r"\$")
            i += 1
            at_start = False
            continue
        if c in ".*":
            out.append(c)
        else:
            out.append(re.escape(c))
        i += 1
        at_start = False
    if depth:
        raise BreError("Unmatched ( or \\(")
    return "".join(out)


def compile_bre(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(bre_to_python(pattern))
    except re.error as exc:
        raise BreError(str(exc)) from None
