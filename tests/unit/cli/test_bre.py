"""aoe-stat's filter: GNU grep's basic regular expressions, translated to Python, must pick the
same lines grep picks (checked against grep itself)."""

from __future__ import annotations

import subprocess

import pytest

from pyaoe.cli.bre import BreError, compile_bre

LINES = [
    "      e1.0         1.073GB       eth0 1024  up            ",
    "     e1.10         1.000GB  eth0,eth1 8704  down,closewait",
    "     e10.2            (NA)       (NA) 1024  (NA)          ",
    "a*b+c?d{2}e|f(g)h[i]j^k$l\\m",
    "aab aaab ab abab",
    "x]y -z ^caret dollar$ end",
    "",
]
PATTERNS = [
    ".",
    "e1",
    r"e1\.",
    "e1.",
    "^ *e1",
    "up *$",
    "*b",
    "a**b",
    "^*",
    r"\(a\)\1b",
    r"a\{2\}b",
    r"a\{2,\}b",
    r"a\{1,2\}b",
    r"\(ab\)\{2\}",
    "a+b",
    r"a\+b",
    "c?d",
    r"ac\?",
    "d{2}",
    "e|f",
    r"up\|down",
    "(g)",
    r"\(NA\)",
    "(NA)",
    "[]x]y",
    "[^]x]y",
    "[a-]z",
    "[.]",
    "[[:upper:]]",
    "[[:digit:]][[:punct:]][[:digit:]]",
    "[[:space:]]e1",
    r"\<eth1\>",
    r"\beth0\b",
    r"\w\+,",
    "^caret",
    "x^c",
    r"\^caret",
    "dollar$",
    r"dollar\$",
    "$ end",
    r"\\m",
    "[\\]m",
    "h[i]j",
    r"\[i\]",
    "k$l",
]


def grep(pattern: str) -> list[str]:
    out = subprocess.run(
        ["grep", "-e", pattern],
        input="\n".join(LINES) + "\n",
        capture_output=True,
        text=True,
        env={"LC_ALL": "C"},
    )
    assert out.returncode in (0, 1), out.stderr
    return out.stdout.splitlines()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_lines_as_grep(pattern: str) -> None:
    regex = compile_bre(pattern)
    assert [line for line in LINES if regex.search(line)] == grep(pattern)


@pytest.mark.parametrize("pattern", [r"\(a", r"a\)", "[ab", "a\\", r"\(a\)\2", "[[:nosuch:]]"])
def test_what_grep_refuses_is_refused(pattern: str) -> None:
    refused = subprocess.run(["grep", "-e", pattern], input=b"a\n", capture_output=True, env={"LC_ALL": "C"})
    assert refused.returncode == 2
    with pytest.raises(BreError):
        compile_bre(pattern)
