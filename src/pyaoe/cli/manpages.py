"""pyaoe.cli.manpages: a manual page (section 8) for every command, made from its argparse parser
by argparse-manpage at build time (setup.py), never written by hand.

The commands are the console scripts of pyproject.toml and the `pyaoe` subcommands of
pyaoe.cli.main.COMMANDS: a command added to either gets its page.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from pyaoe import __version__

__all__ = ["SECTION", "command_parsers", "scripts_of", "write_pages"]

SECTION = 8


def scripts_of(pyproject: str | os.PathLike[str]) -> dict[str, str]:
    """The [project.scripts] table: command name -> "module:function"."""
    with open(pyproject, "rb") as f:
        scripts: dict[str, str] = tomllib.load(f)["project"]["scripts"]
    return scripts


def _parser_of(entry: str) -> Callable[[], argparse.ArgumentParser]:
    """A console script's parser: PARSERS[function] of its module when the module runs several
    commands (vblade, vbladed), else its build_parser()."""
    module_name, _colon, function = entry.partition(":")
    module = importlib.import_module(module_name)
    parsers: Mapping[str, Callable[[], argparse.ArgumentParser]] = getattr(module, "PARSERS", {})
    builder: Callable[[], argparse.ArgumentParser] = parsers.get(function) or module.build_parser
    return builder


def command_parsers(scripts: Mapping[str, str]) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Page name -> (parser, one-line summary) for every console script and pyaoe subcommand."""
    from pyaoe.cli.main import COMMANDS

    pages: dict[str, tuple[argparse.ArgumentParser, str]] = {}
    for name, entry in sorted(scripts.items()):
        parser = _parser_of(entry)()
        summary = (parser.description or "").split(". ")[0].split("\n")[0].rstrip(".")
        pages[name] = (parser, summary)
    for name, command in COMMANDS.items():
        pages[f"pyaoe-{name}"] = (command.load("parser")(), command.help)
    return pages


def render(name: str, parser: argparse.ArgumentParser, summary: str) -> str:
    """One page as roff, by argparse-manpage."""
    from argparse_manpage.manpage import Manpage  # type: ignore[import-untyped]

    page = Manpage(parser)
    page.prog = name
    page.section = SECTION
    page.source = f"pyaoe {__version__}"
    page.manual = "pyaoe manual"
    page.description = summary
    return str(page)


def write_pages(scripts: Mapping[str, str], directory: str | os.PathLike[str]) -> list[str]:
    """Write NAME.8 for every command into ``directory``; returns the paths written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (parser, summary) in command_parsers(scripts).items():
        path = out / f"{name}.{SECTION}"
        path.write_text(render(name, parser, summary))
        written.append(str(path))
    return written
