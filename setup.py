"""Build hook: the manual pages are made from the commands' argparse parsers (argparse-manpage) when
the package is built, and installed with the systemd units as data files (share/man/man8,
share/pyaoe/systemd). Everything else is in pyproject.toml."""

import glob
import os
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "src"))

from pyaoe.cli.manpages import scripts_of, write_pages  # noqa: E402

pages = write_pages(scripts_of(os.path.join(HERE, "pyproject.toml")), os.path.join(HERE, "build", "man"))
setup(
    data_files=[
        ("share/man/man8", [os.path.relpath(p, HERE) for p in pages]),
        (
            "share/pyaoe/systemd",
            sorted(
                os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "contrib", "systemd", "*"))
            ),
        ),
    ]
)
