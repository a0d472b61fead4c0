"""aoe-stat's filter: GNU grep's basic regular expressions, compiled by the C library's regex engine,
must pick the lines grep picks and refuse what grep refuses with grep's own words (checked against
grep itself, on chosen patterns and on generated ones)."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    r"\{1\}",
    "",
    "e1\nab",
    "[[.a.]]",
    "[[=a=]]",
    r"a\|*b",
    r"\(*a\)",
]
#: Patterns grep refuses, and the message it gives for each.
REFUSED = {
    "[": "Invalid regular expression",
    "[e1": "Unmatched [, [^, [:, [., or [=",
    "[[:alpha:]": "Unmatched [, [^, [:, [., or [=",
    r"e1\(": r"Unmatched ( or \(",
    r"\)": r"Unmatched ) or \)",
    r"a\{1": r"Unmatched \{",
    r"a\{2,1\}": r"Invalid content of \{\}",
    # The regex engine takes "\," as the comma; grep's own matcher (dfa) does not.
    r"]\{\,\}": r"invalid content of \{\}",
    r"\1": "Invalid back reference",
    r"\(a\)\2": "Invalid back reference",
    "[[:foo:]]": "Invalid character class name",
    "x\\": "Trailing backslash",
    "[b-a]": "Invalid range end",
    r"a\{99999\}": "Regular expression too big",
    "[[.ab.]]": "Invalid collation character",
    "ok\n\\(": r"Unmatched ( or \(",
    "[:alpha:]": "character class syntax is [[:space:]], not [:space:]",
    "[^:x:]": "character class syntax is [[:space:]], not [:space:]",
}
#: A pattern with newlines is several; grep reports each one it refuses.
REFUSED_PARTS = {"\\(\n[": ("Unmatched ( or \\(", "Invalid regular expression")}


def grep(pattern: str) -> subprocess.CompletedProcess[str]:
    """GNU grep in this process's locale, on LINES."""
    return subprocess.run(
        ["grep", "-e", pattern],
        input="\n".join(LINES) + "\n",
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=30,
    )


def assert_as_grep(pattern: str) -> None:
    out = grep(pattern)
    if out.returncode == 2:
        with pytest.raises(BreError) as refused:
            compile_bre(pattern)
        assert out.stderr == "".join(f"grep: {m}\n" for m in refused.value.messages)
        return
    assert out.stderr == ""
    regex = compile_bre(pattern)
    assert [line for line in LINES if regex.search(line)] == out.stdout.splitlines()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_lines_as_grep(pattern: str) -> None:
    assert grep(pattern).returncode in (0, 1)
    assert_as_grep(pattern)


@pytest.mark.parametrize(("pattern", "message"), REFUSED.items())
def test_refused_with_greps_words(pattern: str, message: str) -> None:
    out = grep(pattern)
    assert (out.returncode, out.stderr) == (2, f"grep: {message}\n")
    with pytest.raises(BreError) as refused:
        compile_bre(pattern)
    assert refused.value.messages == (message,)


@pytest.mark.parametrize(("pattern", "messages"), REFUSED_PARTS.items())
def test_each_refused_part_is_reported(pattern: str, messages: tuple[str, ...]) -> None:
    out = grep(pattern)
    assert (out.returncode, out.stderr) == (2, "".join(f"grep: {m}\n" for m in messages))
    with pytest.raises(BreError) as refused:
        compile_bre(pattern)
    assert refused.value.messages == messages


# The characters that mean something in a basic regular expression, and a few that do not. No
# newline: aoetools' unquoted `grep $1` never passes one, and grep's handling of several patterns
# at once has shortcuts of its own (an empty one makes it skip checking a trailing backslash).
_ALPHABET = [*"\\[]().*^$+?|{}-,:0129ae ", r"\(", r"\)", r"\{", r"\}", r"\|", "[:", ":]", "[.", "[="]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=8).map("".join))
def test_generated_patterns_as_grep(pattern: str) -> None:
    assert_as_grep(pattern)


def test_a_closed_pattern_matches_nothing_and_can_be_closed_again() -> None:
    regex = compile_bre("e1")
    assert regex.search("e1.0")
    regex.close()
    regex.close()
    assert not regex.search("e1.0")
