"""python -m pyaoe: the same as the `pyaoe` command."""

import sys

from pyaoe.cli.main import main

sys.exit(main())
