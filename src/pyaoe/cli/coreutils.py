"""pyaoe.cli.coreutils: the failures of `mkdir -p`, `rm -f` and `mknod` that aoetools' aoe-mkshelf
and aoe-mkdevs run, done with os calls but reported in GNU coreutils' own words.

coreutils quote a file name in a diagnostic the shell's way, and only when the shell would need it.
"""

from __future__ import annotations

import codecs
import errno
import locale
import os
import string
import unicodedata
from pathlib import Path

from pyaoe.cli.control import AoetoolsError

__all__ = ["make_directories", "make_node", "quote_name"]

# What makes coreutils quote a name: the shell's special characters, ":" (added for file names),
# and "#" or "~" at the start. Unprintable characters are written $'\ooo'.
_SHELL_SPECIAL = frozenset(" !\"$&'()*:;<=>?[\\^`|")
_SPECIAL_AT_START = frozenset("#~")
# What may stand between double quotes as it is, when a name holds a single quote.
_DOUBLE_QUOTE_SAFE = frozenset(string.ascii_letters + string.digits + "%+,-./:@]_ '")
# What the C library's iswprint calls unprintable (format and private-use characters print).
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cn", "Cs", "Zl", "Zp"})
_C_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r"}


def _unprintable(ch: str) -> bool:
    return unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES


def _escaped(run: str) -> str:
    """Unprintable characters as $'...': C escapes where there are, else each byte in octal."""
    out = []
    for ch in run:
        if ord(ch) in _C_ESCAPES:
            out.append("\\" + _C_ESCAPES[ord(ch)])
        else:
            out.extend(f"\\{byte:03o}" for byte in ch.encode("utf-8", "surrogateescape"))
    return "$'" + "".join(out) + "'"


def _double_quote_safe(ch: str, first: bool) -> bool:
    if ch in _DOUBLE_QUOTE_SAFE or (first and ch in _SPECIAL_AT_START):
        return True
    return ord(ch) > 0x7F and not _unprintable(ch)


def quote_name(name: str, always: bool = False) -> str:
    """``name`` as coreutils quote a file name in a message: as it is when the shell reads it as
    one plain word (unless ``always``), else in single quotes with '\\'' for a single quote and
    $'\\t' for what cannot be printed, or in double quotes when it holds a single quote and
    nothing else that double quotes would not keep."""
    needs = always or not name or name[0] in _SPECIAL_AT_START
    needs = needs or any(c in _SHELL_SPECIAL or _unprintable(c) for c in name)
    if not needs:
        return name
    if "'" in name and all(_double_quote_safe(c, i == 0) for i, c in enumerate(name)):
        return f'"{name}"'
    out = ["'"]
    run = ""
    for c in name:
        if _unprintable(c):
            run += c
            continue
        if run and c == "'":
            out.append("'" + _escaped(run) + "\\''")  # the $'...' is closed; no empty '' between
        elif run:
            out.append("'" + _escaped(run) + "'" + c)
        else:
            out.append("'\\''" if c == "'" else c)
        run = ""
    if run:
        out.append("'" + _escaped(run) + "'")
    out.append("'")
    return "".join(out)


def _locale_quote(text: str) -> str:
    """coreutils' quote(): curly quotes in a UTF-8 locale, straight ones otherwise."""
    try:
        utf8 = codecs.lookup(locale.getpreferredencoding(False)).name == "utf-8"
    except LookupError:
        utf8 = False
    return f"\u2018{text}\u2019" if utf8 else f"'{text}'"


def make_directories(path: str) -> None:
    """`mkdir -p PATH` (mode 0777 less the umask); raises AoetoolsError in mkdir's words."""
    prefix = "/" if path.startswith("/") else ""
    parts = [p for p in path.split("/") if p]
    if not parts:
        if path:
            return  # "/" or "//"
        raise AoetoolsError(f"mkdir: cannot create directory {_locale_quote('')}: No such file or directory")
    for i, part in enumerate(parts):
        prefix = os.path.join(prefix, part) if prefix else part
        try:
            os.mkdir(prefix)
        except FileExistsError:
            if os.path.isdir(prefix):
                continue
            reason = errno.ENOTDIR if i < len(parts) - 1 else errno.EEXIST
            raise AoetoolsError(
                f"mkdir: cannot create directory {_locale_quote(prefix)}: {os.strerror(reason)}"
            ) from None
        except OSError as exc:
            raise AoetoolsError(
                f"mkdir: cannot create directory {_locale_quote(prefix)}: {os.strerror(exc.errno or 0)}"
            ) from None


def make_node(path: Path, kind: int, mode: int, major: int, minor: int) -> None:
    """`rm -f PATH` then `mknod -m MODE PATH b|c MAJOR MINOR`; raises AoetoolsError in their words."""
    name = os.fsdecode(path)
    if not 0 <= minor <= 0xFFFFFFFF:
        raise AoetoolsError(f"mknod: invalid minor device number {_locale_quote(str(minor))}")
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        pass  # rm -f ignores what is not there
    except OSError as exc:
        reason = os.strerror(exc.errno or 0)
        raise AoetoolsError(f"rm: cannot remove {quote_name(name, always=True)}: {reason}") from None
    try:
        os.mknod(path, kind | mode, os.makedev(major, minor))
    except (OSError, OverflowError) as exc:
        reason = os.strerror(exc.errno or 0) if isinstance(exc, OSError) else os.strerror(errno.EINVAL)
        raise AoetoolsError(f"mknod: {quote_name(name)}: {reason}") from None
    try:
        os.chmod(path, mode)  # mknod -m sets the mode exactly; os.mknod's passes through the umask
    except OSError as exc:
        reason = os.strerror(exc.errno or 0)
        quoted = quote_name(name, always=True)
        raise AoetoolsError(f"mknod: cannot set permissions of {quoted}: {reason}") from None
