"""pyaoe.service.target_daemon: a target as a service: its exports' settings, live changes to them
(a reload of the file, `pyaoe ctl add/remove`), and what runs beside the loop (control socket,
metrics, systemd notifications).

apply() is the one way exports change, at start as at a reload: everything new is opened first,
and any failure leaves the running configuration exactly as it was.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyaoe.errors import ConfigError
from pyaoe.service import daemon as sd
from pyaoe.service.control import ControlServer, Reply
from pyaoe.service.state import StateStore
from pyaoe.service.target import HANDLED_SIGNALS, ExportSpec, TargetService
from pyaoe.service.target_config import ExportSettings, close_backend, open_export, read_config
from pyaoe.target import Export

__all__ = ["Changes", "TargetDaemon"]

log = logging.getLogger(__name__)

#: Settings a running export takes without reopening its file.
_IN_PLACE = frozenset({"netifs", "masks", "config_string"})
#: Longest a control command waits for the loop (seconds): a batch, a reload, a flush.
_CALL_TIMEOUT = 60.0


@dataclass
class Changes:
    """What one apply() did, by export name."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0

    def summary(self) -> str:
        def names(items: Sequence[str]) -> str:
            return f" ({', '.join(items[:8])}{', ...' if len(items) > 8 else ''})" if items else ""

        changed = [f"{n}: {', '.join(sorted(w))}" for n, w in self.changed.items()]
        return (
            f"{len(self.added)} added{names(self.added)}, {len(self.removed)} removed{names(self.removed)}, "
            f"{len(self.changed)} changed{names(changed)}, {self.unchanged} unchanged"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
        }


def _interface_error(exc: OSError) -> ConfigError:
    text = str(exc) if not exc.strerror else f"{exc.strerror}: {exc.filename or ''}".rstrip(": ")
    return ConfigError(text)


class TargetDaemon:
    """The exports of one target process, changed only through apply()."""

    def __init__(
        self,
        *,
        config_path: str | None = None,
        store: StateStore | None = None,
        batched: bool = True,
    ) -> None:
        self.config_path = config_path
        self.store = store
        self.service = TargetService([], batched=batched)
        self.settings: dict[tuple[int, int], ExportSettings] = {}
        self.exports: dict[tuple[int, int], Export] = {}
        self.control: ControlServer | None = None
        self.on_stop: list[Callable[[], None]] = []
        self.reloads_ok = 0
        self.reloads_refused = 0

    # -- changes --------------------------------------------------------------------------------
    def apply(self, wanted: Sequence[ExportSettings]) -> Changes:
        """Serve exactly ``wanted``: new exports open and announce, removed ones are flushed and
        closed (requests already taken were answered: this runs between batches), changed ones
        take their new settings, the others serve on untouched. ConfigError, and nothing
        changed, if a file or an interface cannot be opened."""
        new = {s.key: s for s in wanted}
        if len(new) != len(wanted):
            raise ConfigError("an export is listed twice")
        changes = Changes()
        opened: dict[tuple[int, int], Export] = {}
        try:
            for key, settings in new.items():
                before = self.settings.get(key)
                if before is None:
                    opened[key] = open_export(settings, self.store)
                elif before.differs_in(settings) - _IN_PLACE:
                    # A new file, window, mode, bufcnt or admin list: opened anew, keeping the
                    # state the wire or pyaoe ctl gave the running export.
                    opened[key] = open_export(settings, self.store, state=self.exports[key].state)
            specs = [ExportSpec(opened.get(k) or self.exports[k], list(s.netifs)) for k, s in new.items()]
            try:
                gone = self.service.reconfigure(specs)
            except OSError as exc:
                raise _interface_error(exc) from None
        except BaseException:
            for export in opened.values():
                close_backend(export.backend)
            raise
        # Committed: nothing below can fail the change.
        announce = []
        for key, settings in new.items():
            before = self.settings.get(key)
            export = opened.get(key) or self.exports[key]
            if before is None:
                changes.added.append(settings.name)
                announce.append(export)
                continue
            differences = before.differs_in(settings)
            if not differences:
                changes.unchanged += 1
                continue
            changes.changed[settings.name] = sorted(differences)
            announce.append(export)
            if key in opened:
                export.counters = self.exports[key].counters
            self._apply_state(export, before, settings)
        for key in self.settings.keys() - new.keys():
            changes.removed.append(self.settings[key].name)
        self.service.flush(gone)
        for export in gone:
            close_backend(export.backend)
        self.settings = new
        self.exports = {k: s.export for k, s in zip(new, specs, strict=True)}
        if announce and self.service.serving:  # at start, serve_forever() announces them all
            self.service.announce(announce)
        return changes

    @staticmethod
    def _apply_state(export: Export, before: ExportSettings, after: ExportSettings) -> None:
        """A mask or config string changed in the file replaces the live one (a removed one
        clears it); otherwise the live state, which the wire may have changed, stays."""
        state = export.state
        changed = False
        if before.masks != after.masks:
            state.mask_list = list(after.masks)
            changed = True
        if before.config_string != after.config_string:
            state.config_string = after.config_string or b""
            changed = True
        if changed:
            export.state_changed()

    def reload(self) -> Changes:
        """Re-read the --config file and apply() it; ConfigError (one line, logged) otherwise."""
        if self.config_path is None:
            raise ConfigError("this target was started without --config: there is no file to reload")
        sd.reloading()
        began = time.monotonic()
        try:
            changes = self.apply(read_config(self.config_path))
        except ConfigError as exc:
            self.reloads_refused += 1
            log.error("reload refused, the running configuration is unchanged: %s", exc)
            raise
        finally:
            sd.ready(self.status())
        self.reloads_ok += 1
        took = (time.monotonic() - began) * 1000
        log.info("reloaded %s in %.1f ms: %s", self.config_path, took, changes.summary())
        return changes

    def _reload_on_hangup(self) -> None:
        # A refused reload was logged by reload(); a signal has nobody else to tell.
        with contextlib.suppress(ConfigError):
            self.reload()

    def status(self) -> str:
        ports = self.service.ports
        return f"serving {len(self.exports)} exports on {len(ports)} interfaces"

    # -- running --------------------------------------------------------------------------------
    def call(self, fn: Callable[[], Reply]) -> Reply:
        """Run ``fn`` in the serving loop and wait for it (the control socket's executor)."""
        result: Reply = self.service.call_soon(fn).result(timeout=_CALL_TIMEOUT)
        return result

    def serve_control(self, path: str, register: Callable[[ControlServer, TargetDaemon], None]) -> None:
        """Answer `pyaoe ctl` on ``path``; ``register`` adds the verbs. ConfigError if the socket
        cannot be made."""
        server = ControlServer(path, executor=self.call)
        register(server, self)
        server.bind()
        with sd.signals_blocked(HANDLED_SIGNALS):
            server.start()
        self.control = server
        self.on_stop.append(server.close)

    def close(self) -> None:
        """Close everything opened (used when start-up fails after apply())."""
        for stop in reversed(self.on_stop):
            stop()
        self.on_stop.clear()
        self.service.close()
        for export in self.exports.values():
            close_backend(export.backend)

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM/SIGINT (SIGHUP reloads); systemd hears READY, RELOADING, STOPPING.
        ``on_ready`` runs once signals are handled, before systemd hears READY."""

        def ready() -> None:
            if on_ready is not None:
                on_ready()
            sd.ready(self.status())

        try:
            self.service.run(on_hangup=self._reload_on_hangup if self.config_path else None, on_ready=ready)
        finally:
            sd.stopping()
            for stop in reversed(self.on_stop):
                stop()
