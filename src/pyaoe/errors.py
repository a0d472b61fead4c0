"""pyaoe.errors: every exception a pyaoe user can catch.

One tree under PyaoeError; codec errors carry the AoE error to answer with.
"""

from __future__ import annotations

import errno

__all__ = [
    "PyaoeError",
    "FrameError",
    "LocalProtocolError",
    "AoeCommandError",
    "AtaCommandError",
    "DeviceUnavailable",
    "ConfigError",
]


class PyaoeError(Exception):
    """Base class of every pyaoe exception."""


class FrameError(PyaoeError, ValueError):
    """Bytes from the wire that cannot be decoded.

    ``reply_error`` is the AoE error code (an ``AoeError`` value) a target should answer
    with, or None when the protocol says to drop the frame silently.
    """

    def __init__(self, message: str, reply_error: int | None = None) -> None:
        super().__init__(message)
        self.reply_error = reply_error


class LocalProtocolError(PyaoeError):
    """A local caller misused an engine or the library (a bug in the caller)."""


class AoeCommandError(PyaoeError, OSError):
    """A target answered a request with the AoE error flag set."""

    def __init__(self, message: str, aoe_error: int) -> None:
        super().__init__(errno.EIO, message)
        self.aoe_error = aoe_error


class AtaCommandError(PyaoeError, OSError):
    """A target answered an ATA command with a failure status (ERR, DF, ...)."""

    def __init__(self, message: str, status: int, error: int) -> None:
        super().__init__(errno.EIO, message)
        self.status = status
        self.error = error


class DeviceUnavailable(PyaoeError, OSError):
    """The device is down, unknown or was removed."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EIO, message)


class ConfigError(PyaoeError, ValueError):
    """A mistake in a command line, a configuration file or a control command, said in one line.

    ``code`` is the exit status a command reports it with.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
