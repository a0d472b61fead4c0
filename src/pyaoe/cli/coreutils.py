"""pyaoe.cli.coreutils: the failures of `mkdir -p`, `rm -f` and `mknod` that aoetools' aoe-mkshelf
and aoe-mkdevs run, done with os calls but reported in GNU coreutils' own words.

coreutils quote a file name in a diagnostic the shell's way, and only when the shell would need it.
"""

from __future__ import annotations

import codecs
import errno
import locale
import os
from pathlib import Path

from pyaoe.cli.control import AoetoolsError

__all__ = ["make_directories", "make_node", "quote_name"]

# What a shell would read as something else than a plain word; "#" and "~" only at the start.
_SHELL_SPECIAL = frozenset(" !\"$&'()*:;<=>?[\\]^`|")
_SPECIAL_AT_START = frozenset("#~")
# Characters that keep their meaning inside double quotes.
_DOUBLE_QUOTE_SPECIAL = frozenset('"$\\`!')
_C_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r"}


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or ord(ch) == 0x7F


def _control_escape(run: str) -> str:
    return "$'" + "".join("\\" + _C_ESCAPES.get(ord(c), f"{ord(c):03o}") for c in run) + "'"


def quote_name(name: str, always: bool = False) -> str:
    """``name`` as coreutils quote a file name in a message: as is when the shell reads it as
    one plain word (unless ``always``), else in single quotes, double quotes when it holds a
    single quote and nothing double quotes would change, and $'\\t' for control characters."""
    needs = always or not name or name[0] in _SPECIAL_AT_START
    needs = needs or any(c in _SHELL_SPECIAL or _is_control(c) for c in name)
    if not needs:
        return name
    controls = any(_is_control(c) for c in name)
    if "'" in name and not controls and not _DOUBLE_QUOTE_SPECIAL.intersection(name):
        return f'"{name}"'
    out = ["'"]
    run = ""
    for c in name:
        if _is_control(c):
            run += c
            continue
        if run:
            out.append("'" + _control_escape(run) + "'")
            run = ""
        out.append("'\\''" if c == "'" else c)
    if run:
        out.append("'" + _control_escape(run) + "'")
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
