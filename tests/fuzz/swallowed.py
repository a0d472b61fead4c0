"""What the engines say about exceptions they caught and survived, so a fuzz run fails on them.

The target engine logs "failed to answer a frame" (with its traceback) when a handler raised,
and the initiator logs "dropped a frame" with the exception it caught; both keep serving, so
without this a handler that raises passes a fuzz run. A junk frame's FrameError is expected
(the codec's verdict on bytes that do not decode); anything else is a bug the engine hid.
Read from the log records, not from counters, so the check does not depend on how (or whether)
an engine counts these events.
"""

from __future__ import annotations

import logging

from pyaoe.errors import FrameError

__all__ = ["SwallowedErrors", "WATCH"]


class SwallowedErrors(logging.Handler):
    """Keeps every record from pyaoe's loggers that reports a caught exception: level ERROR or
    above, a traceback attached (log.exception), or an exception other than FrameError among
    the message's arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        caught = [a for a in args if isinstance(a, BaseException) and not isinstance(a, FrameError)]
        if record.levelno >= logging.ERROR or record.exc_info or caught:
            self.records.append(record)

    def reset(self) -> None:
        self.records.clear()

    def check(self, what: object = "") -> None:
        """Fail with the first swallowed exception's message (and its traceback, if logged)."""
        if self.records:
            record = self.records[0]
            detail = self.format(record)
            self.records.clear()
            raise AssertionError(
                f"an engine swallowed an exception{' on ' if what else ''}{what!s}:\n{detail}"
            )

    @classmethod
    def install(cls) -> SwallowedErrors:
        """The one watcher on the "pyaoe" logger (made at the first call)."""
        logger = logging.getLogger("pyaoe")
        for handler in logger.handlers:
            if isinstance(handler, cls):
                return handler
        watch = cls()
        watch.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(watch)
        return watch


#: Installed at import: every harness in tests/fuzz resets it and checks it.
WATCH = SwallowedErrors.install()
