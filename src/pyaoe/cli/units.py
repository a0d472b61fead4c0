"""pyaoe.cli.units: `pyaoe install-units`: put pyaoe's systemd units (contrib/systemd) where
systemd reads them, with the path of the pyaoe commands that run it written into each Exec line.

pyaoe install-units [--unit-dir DIR] [--generator-dir DIR] [--bindir DIR] [--dry-run]
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from pyaoe.cli.common import CommandError, OneLineParser

__all__ = ["build_parser", "main", "render_unit", "unit_sources"]

PROG = "pyaoe install-units"
UNIT_DIR = "/etc/systemd/system"
GENERATOR_DIR = "/etc/systemd/system-generators"
GENERATOR = "pyaoe-vblade-generator"
#: A pyaoe command at the start of an Exec line or of a word in it (not inside a path or a name).
_COMMAND = re.compile(r"(?<![\w/.-])(pyaoe|vblade)(?![\w/.@-])")


def unit_sources() -> Path:
    """Where the unit files are: installed with the package (share/pyaoe/systemd), or in the
    source tree this package runs from."""
    candidates = [
        Path(sysconfig.get_path("data")) / "share" / "pyaoe" / "systemd",
        Path(__file__).resolve().parents[3] / "contrib" / "systemd",
    ]
    for path in candidates:
        if (path / "pyaoe-target.service").is_file():
            return path
    raise CommandError(f"the unit files are not installed (looked in {', '.join(map(str, candidates))})")


def render_unit(text: str, bindir: str, unit_dir: str) -> str:
    """The unit with absolute paths to the pyaoe commands in ``bindir`` (Exec lines only)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("ExecStart=", "ExecReload=", "ExecStop=")):
            key, _eq, value = line.partition("=")
            line = f"{key}={_COMMAND.sub(lambda m: os.path.join(bindir, m.group(1)), value)}"
        lines.append(line.replace("UNITDIR", unit_dir))
    return "".join(lines)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description=(
            "Install pyaoe's systemd units: pyaoe-target.service (the exports of /etc/pyaoe/target.toml), "
            "pyaoe-initiator.service, pyaoe-vblade@.service and pyaoe-vblade.service (Debian's "
            "/etc/vblade.conf.d files, served by pyaoe's vblade), and the generator behind the last. "
            "Then run systemctl daemon-reload and enable the ones you want."
        ),
    )
    parser.add_argument(
        "--unit-dir", metavar="DIR", default=UNIT_DIR, help=f"where units go (default {UNIT_DIR})"
    )
    parser.add_argument(
        "--generator-dir",
        metavar="DIR",
        default=GENERATOR_DIR,
        help=f"where the vblade generator goes (default {GENERATOR_DIR})",
    )
    parser.add_argument(
        "--bindir", metavar="DIR", help="where the pyaoe and vblade commands are (default: this pyaoe's)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    return parser


def _bindir() -> str:
    """The folder of the pyaoe command running now (its script, or its interpreter's folder)."""
    for folder in (os.path.dirname(os.path.abspath(sys.argv[0])), os.path.dirname(sys.executable)):
        if os.access(os.path.join(folder, "pyaoe"), os.X_OK):
            return folder
    found = shutil.which("pyaoe")
    return os.path.dirname(found) if found else os.getcwd()


def _install(path: Path, text: str, mode: int, dry_run: bool) -> None:
    if dry_run:
        print(f"# {path}\n{text}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)
    print(f"installed {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        bindir = os.path.abspath(args.bindir or _bindir())
        if not os.access(os.path.join(bindir, "pyaoe"), os.X_OK):
            raise CommandError(f"no pyaoe command in {bindir} (give --bindir DIR)")
        source = unit_sources()
        for unit in sorted(source.glob("*.service")):
            _install(
                Path(args.unit_dir) / unit.name,
                render_unit(unit.read_text(), bindir, args.unit_dir),
                0o644,
                args.dry_run,
            )
        generator = (source / GENERATOR).read_text()
        _install(
            Path(args.generator_dir) / GENERATOR,
            render_unit(generator, bindir, args.unit_dir),
            0o755,
            args.dry_run,
        )
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"{PROG}: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print("now: systemctl daemon-reload, then e.g. systemctl enable --now pyaoe-target.service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
