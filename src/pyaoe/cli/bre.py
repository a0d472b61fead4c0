"""pyaoe.cli.bre: aoe-stat's filter, GNU grep's basic regular expressions (aoetools pipes its rows
through `grep $1`), compiled by the C library's GNU regex engine with grep's syntax bits.

GNU grep is built on the same engine (gnulib's copy of glibc's regex), so it matches the same lines
and refuses the same patterns with the same words ("Invalid regular expression", ...).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

__all__ = ["Bre", "BreError", "compile_bre"]

# reg_syntax_t bits from <regex.h>.
_RE_BK_PLUS_QM = 1 << 1
_RE_CHAR_CLASSES = 1 << 2
_RE_DOT_NEWLINE = 1 << 6
_RE_INTERVALS = 1 << 9
_RE_NEWLINE_ALT = 1 << 11
_RE_NO_EMPTY_RANGES = 1 << 16
_RE_NO_SUB = 1 << 25
#: RE_SYNTAX_GREP as GNU grep 3 defines it: POSIX basic syntax, a newline separates alternatives,
#: and "\{1\}" at the start is literal rather than an error; grep asks for no subexpressions.
RE_SYNTAX_GREP = (
    _RE_CHAR_CLASSES | _RE_DOT_NEWLINE | _RE_INTERVALS | _RE_NO_EMPTY_RANGES
    | _RE_BK_PLUS_QM | _RE_NEWLINE_ALT
)  # fmt: skip
# struct re_pattern_buffer is 64 bytes on 64-bit glibc; room to spare, zeroed as the API asks.
_PATTERN_BUFFER_BYTES = 256
_NO_MATCH = -1
#: What grep's own matcher (dfa) refuses after the regex engine accepted it.
CONFUSING_BRACKETS = "character class syntax is [[:space:]], not [:space:]"
INVALID_INTERVAL = "invalid content of \\{\\}"
TOO_BIG = "regular expression too big"
#: The largest bound of an interval (<regex.h> RE_DUP_MAX).
_RE_DUP_MAX = 0x7FFF


class BreError(ValueError):
    """The pattern is not a valid basic regular expression: grep's message for each part that is not."""

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


class _Libc:
    """The C library's GNU regex calls (re_set_syntax, re_compile_pattern, re_search, regfree)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        try:
            self.set_syntax = libc.re_set_syntax
            self.compile_pattern = libc.re_compile_pattern
            self.search = libc.re_search
            self.free = libc.regfree
        except AttributeError:
            raise OSError("the C library has no GNU regex (re_compile_pattern): glibc is needed") from None
        self.set_syntax.argtypes = [ctypes.c_ulong]
        self.set_syntax.restype = ctypes.c_ulong
        self.compile_pattern.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
        self.compile_pattern.restype = ctypes.c_char_p
        self.search.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p
        ]  # fmt: skip
        self.search.restype = ctypes.c_int
        self.free.argtypes = [ctypes.c_void_p]
        self.free.restype = None


@functools.cache
def _get_libc() -> _Libc:
    return _Libc()


class Bre:
    """A compiled pattern; ``search(line)`` is True when grep would print the line.

    As grep does, a pattern with newlines is several patterns, each compiled on its own (each
    mistake is reported), and a line matches when any of them does.
    """

    def __init__(self, pattern: str) -> None:
        self._libc = _get_libc()
        self._buffers: list[ctypes.Array[ctypes.c_char]] = []
        errors = []
        for part in pattern.split("\n"):
            buffer = ctypes.create_string_buffer(_PATTERN_BUFFER_BYTES)
            raw = os.fsencode(part)
            self._libc.set_syntax(RE_SYNTAX_GREP | _RE_NO_SUB)
            error = self._libc.compile_pattern(raw, len(raw), buffer)
            if error is None:
                self._buffers.append(buffer)
            else:
                # The engine has already freed what it built for this part.
                errors.append(error.decode("utf-8", "replace"))
        if not errors:
            refused = _dfa_error(pattern)
            if refused is not None:
                errors.append(refused)
        if errors:
            self.close()
            raise BreError(*errors)

    def search(self, line: str) -> bool:
        raw = os.fsencode(line)
        for buffer in self._buffers:
            found = self._libc.search(buffer, raw, len(raw), 0, len(raw), None)
            if found < _NO_MATCH:
                raise MemoryError("the C library's regex search failed")
            if found != _NO_MATCH:
                return True
        return False

    def close(self) -> None:
        """Give the compiled patterns back to the C library (also done when collected)."""
        for buffer in self._buffers:
            self._libc.free(buffer)
        self._buffers.clear()

    def __del__(self) -> None:
        if hasattr(self, "_buffers"):
            self.close()


def _dfa_error(pattern: str) -> str | None:
    """What GNU grep's own matcher (dfa.c) refuses in ``pattern`` after the regex engine accepted
    it, the first in the pattern's order; None when it refuses nothing. Two things: a bracket
    expression that reads [:name:] (meant as [[:name:]]), and an interval the engine reads more
    loosely: dfa wants digits, at most one comma, digits, then \\} ("a\\{\\,\\}" is refused),
    and no bound past RE_DUP_MAX. An interval where a repetition has nothing to repeat (at the
    start, after \\( or \\|) is literal text to both. The pattern already compiled, so every
    bracket and escape is complete.
    """
    i, n = 0, len(pattern)
    # laststart: only zero-width tokens since the start, a \( or an alternative; opened: the
    # token before was one of those three themselves (where ^ is an anchor).
    laststart = opened = True
    while i < n:
        c = pattern[i]
        was_opened, opened = opened, False
        if c == "\\":
            e = pattern[i + 1]
            i += 2
            if e in "(|":
                laststart = opened = True
            elif e == "{" and not laststart:
                error, i = _interval(pattern, i)
                if error:
                    return error
            elif e not in "`'<>bB":  # the zero-width escapes leave laststart as it was
                laststart = False
        elif c == "\n":
            laststart = opened = True
            i += 1
        elif c == "[":
            i, confusing = _scan_bracket(pattern, i + 1)
            if confusing:
                return CONFUSING_BRACKETS
            laststart = False
        elif (c == "^" and was_opened) or (c == "$" and _ends_branch(pattern, i + 1)):
            i += 1  # an anchor: zero-width
        else:
            laststart = False
            i += 1
    return None


def _ends_branch(pattern: str, i: int) -> bool:
    """Whether a $ before ``i`` is an anchor: at the end of the pattern, a group or a branch."""
    return i == len(pattern) or pattern.startswith(("\\)", "\\|", "\n"), i)


def _interval(pattern: str, i: int) -> tuple[str | None, int]:
    """dfa.c's reading of the interval whose \\{ is before ``i``: (its refusal or None, the
    index after it)."""
    n = len(pattern)
    j = i
    while j < n and pattern[j].isascii() and pattern[j].isdigit():
        j += 1
    low = min(int(pattern[i:j]), _RE_DUP_MAX + 1) if j > i else -1
    high = low
    if j < n and pattern[j] == ",":
        low = max(low, 0)
        k = j + 1
        while k < n and pattern[k].isascii() and pattern[k].isdigit():
            k += 1
        high = min(int(pattern[j + 1 : k]), _RE_DUP_MAX + 1) if k > j + 1 else -1
        j = k
    if not (pattern.startswith("\\}", j) and low >= 0 and (high < 0 or low <= high)):
        return INVALID_INTERVAL, j
    if high > _RE_DUP_MAX:
        return TOO_BIG, j + 2
    return None, j + 2


def _scan_bracket(part: str, i: int) -> tuple[int, bool]:
    """Read the bracket expression whose "[" is before ``i``; return the index after its "]"
    and whether it is a confusing [:name:]."""
    if part[i] == "^":
        i += 1
    c, i = part[i], i + 1
    # Bits: 1 first is ":", 2 latest is ":", 4 something else seen, 8 a range or class seen.
    state = 1 if c == ":" else 0
    while True:
        state &= ~2
        if c == "[" and part[i] in ":.=":
            close = part.index(part[i] + "]", i + 1)
            i = close + 2
            state |= 8
            c, i = part[i], i + 1
        else:
            c1, i = part[i], i + 1
            if c1 == "-" and part[i] != "]" and not part.startswith("[.", i):
                state |= 8
                i += 1  # the range's end
                c1, i = part[i], i + 1
            else:
                state |= 2 if c == ":" else 4
            c = c1
        if c == "]":
            return i, state == 7


def compile_bre(pattern: str) -> Bre:
    """``pattern`` as `grep -e PATTERN` reads it; raises BreError with grep's message."""
    return Bre(pattern)
