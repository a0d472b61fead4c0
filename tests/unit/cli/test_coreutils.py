"""aoe-mkshelf's and aoe-mkdevs' failures in coreutils' words: what make_node and
make_directories report must be what mknod, rm and mkdir themselves print (run here beside them),
odd file names quoted as coreutils quote them."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.cli.control import AoetoolsError
from pyaoe.cli.coreutils import make_directories, make_node

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def coreutils(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, env=os.environ).stderr


def ours_node(path: Path) -> str:
    with pytest.raises(AoetoolsError) as failed:
        make_node(path, stat.S_IFBLK, 0o660, 152, 768)
    return "\n".join(failed.value.lines) + "\n"


# Printable ASCII (the shell's special characters among them), control characters, and letters,
# spaces, format and unassigned characters beyond ASCII.
_ODD = ["\t", "\n", "\x1b", "\x7f", "\x85", "é", "\u00a0", "\u200b", "\u2028", "\ue000", "\u0378"]
_NAME = st.text(st.sampled_from([*(chr(c) for c in range(32, 127) if chr(c) != "/"), *_ODD]))


@settings(max_examples=200, deadline=None)
@given(_NAME.filter(bool))
def test_mknod_in_a_missing_directory(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    base = tmp_path_factory.getbasetemp()
    path = base / "nowhere" / name / "e3.0"
    assert ours_node(path) == coreutils("mknod", "-m", "0660", str(path), "b", "152", "768")


def test_rm_of_a_directory_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "e3.0" / "x").mkdir(parents=True)
    assert ours_node(tmp_path / "e3.0") == coreutils("rm", "-f", str(tmp_path / "e3.0"))


def test_mknod_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "e3.0"
    assert ours_node(path) == coreutils("mknod", "-m", "0660", str(path), "b", "152", "768")


def test_a_node_is_made_with_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        make_node(tmp_path / "e3.0", stat.S_IFBLK, 0o660, 152, 768)
    finally:
        os.umask(old)
    st_ = os.lstat(tmp_path / "e3.0")
    assert (stat.S_ISBLK(st_.st_mode), stat.S_IMODE(st_.st_mode), os.minor(st_.st_rdev)) == (True, 0o660, 768)


@pytest.mark.parametrize("where", ["file/x", "file", "new/deeper", ""])
def test_mkdir_p(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("")
    target = str(tmp_path / where) if where else ""
    expected = coreutils("mkdir", "-p", "--", target) if target else coreutils("mkdir", "-p", "")
    if expected:
        with pytest.raises(AoetoolsError) as failed:
            make_directories(target)
        assert "\n".join(failed.value.lines) + "\n" == expected
    else:
        make_directories(target)
        assert os.path.isdir(target)
