"""pyaoe.initiator.retransmit: the retransmit policy (the driver's rexmit_timer, its probes, deadsecs).

What a timeout costs (window, taint, interface losses), a loss shown by later answers before
any timeout (fast retransmit), where an exchange is sent again, probes of tainted targets, and
giving a device up after deadsecs. The timeout itself is rtt.py's, the
window's arithmetic window.py's; what answers teach them is receive.py's one answer block.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from pyaoe.initiator.completion import Completion
from pyaoe.initiator.device import Device, DeviceState, Target
from pyaoe.initiator.events import (
    DeviceChanged,
    DeviceDown,
    Diagnostic,
    DiagnosticKind,
    InitiatorEvent,
    RequestError,
)
from pyaoe.initiator.exchange import Exchange, ExchangeKind, ExchangeState, command_fields, new_exchange
from pyaoe.initiator.inflight import InFlight
from pyaoe.initiator.options import InitiatorConfig
from pyaoe.initiator.requests import Request
from pyaoe.initiator.window import Window
from pyaoe.initiator.work import Backlog, DeviceWork
from pyaoe.protocol import SECTOR_SIZE

__all__ = ["Retransmit"]


@dataclass(slots=True, eq=False)
class Retransmit:
    """Acts on the timeouts of an engine's exchanges, and on its tainted targets."""

    config: InitiatorConfig
    inflight: InFlight
    completion: Completion
    backlog: Backlog
    events: deque[InitiatorEvent]
    #: The allowed interfaces' MTUs (a live view: the engine updates it).
    mtus: Mapping[str, int]

    # -- timeouts --------------------------------------------------------------------------
    def timed_out(self, exchange: Exchange, now: float) -> None:
        """``exchange`` reached its deadline: resend it later, elsewhere, or give the device up."""
        if exchange.state is ExchangeState.RETIRED:
            return
        device = exchange.device
        deadsecs = self.config.deadsecs
        # The same sum the deadline was scheduled with: now - first_sent >= deadsecs can round
        # below deadsecs at that very deadline, and the exchange would be resent, not given up.
        if deadsecs and exchange.kind is not ExchangeKind.PROBE and now >= exchange.first_sent + deadsecs:
            if device.state is DeviceState.UP:
                reason = f"no answer for {deadsecs:g} s"
                self.fail_device(device, RequestError.DEVICE_DOWN, reason, timed_out=exchange.request)
            else:
                # An IDENTIFY for a device that is not up: the next config reply tries again.
                self.forget(exchange)
            return
        if exchange.state is ExchangeState.WAITING:
            return
        target = exchange.target
        target.nout -= 1
        exchange.leave_path()
        self._penalise(device, target, exchange, now)
        if exchange.kind is ExchangeKind.PROBE:
            self.forget(exchange)
            self.schedule_probe(device, target, now)
            return
        if self.dropped(exchange, now):
            return
        self._wait_for_resend(exchange)

    # -- fast retransmit -------------------------------------------------------------------
    def answered_after(self, head: Exchange, now: float) -> None:
        """An answer came for a frame sent on ``head``'s interface after ``head``, the oldest
        out there: each oldest frame that enough later ones overtook is lost, and goes again
        now instead of at its timeout (TCP's fast retransmit; called by the answer block).

        Enough is ``config.fast_retransmit`` answered later frames, or all of them when fewer
        were sent after it (RFC 5827's early retransmit: a small window has no three)."""
        threshold = self.config.fast_retransmit
        on_path = head.on_path
        if not threshold or on_path is None:
            return
        sent = head.target.paths.sent[head.ifname]
        while on_path:
            head = next(iter(on_path))
            after = sent - head.pseq
            done = after - len(on_path) + 1
            if done < 1 or done < min(threshold, after):
                return
            self.lost(head, now)

    def lost(self, exchange: Exchange, now: float) -> None:
        """Frames sent after ``exchange`` on its interface were answered and it was not: its
        window is cut as for a timeout (once per window), and it is sent again at once, with the
        target's plain timeout: a loss that answers showed earns no backoff."""
        target = exchange.target
        target.nout -= 1
        exchange.leave_path()
        target.window.on_loss(exchange.seq, target.reads + target.writes, exchange)
        if self.dropped(exchange, now):
            return
        exchange.tries = 0
        self.inflight.counters.fast_retransmits += 1
        self._wait_for_resend(exchange)

    def _wait_for_resend(self, exchange: Exchange) -> None:
        """Into its device's resend queue (DataPath sends it when a window has room); only the
        deadsecs limit stays scheduled for it."""
        exchange.state = ExchangeState.WAITING
        device = exchange.device
        deadsecs = self.config.deadsecs
        timers = self.inflight.timers
        if deadsecs:
            timers.schedule(exchange, exchange.first_sent + deadsecs)
        else:
            timers.cancel(exchange)
        self.backlog.works[device].rexmit.append(exchange)
        self.backlog.dirty[device] = None

    def _penalise(self, device: Device, target: Target, exchange: Exchange, now: float) -> None:
        """The driver's answer to a timeout: scorn a target that kept a frame too long, cut its
        window, and count a loss against the interface used."""
        config = self.config
        limit = config.scorn_secs
        if config.deadsecs and device.targets:
            limit = min(limit, config.deadsecs / len(device.targets))
        if now - exchange.target_since > limit:
            target.scorn()
            if not target.probing:
                self.schedule_probe(device, target, now)
        target.window.on_loss(exchange.seq, target.reads + target.writes, exchange)
        ifname = exchange.ifname
        paths = target.paths
        if not paths.timed_out(ifname, 2 * target.window.nframes):
            return
        lost = paths.lost[ifname]
        paths.remove(ifname)
        self.events.append(
            Diagnostic(
                DiagnosticKind.INFO,
                f"aoe: {device.name}: {lost} frames lost on {ifname} to {target.mac.hex()}; "
                "no longer using that interface for it",
                device.address,
            )
        )
        old = device.payload
        if device.compute_payload(self.mtus) != old and device.state is DeviceState.UP:
            self.events.append(DeviceChanged(device.address, device.sectors, device.payload, "payload"))

    @staticmethod
    def resend_target(exchange: Exchange) -> Target | None:
        """Where a waiting exchange goes again: a fast retransmit (``tries`` 0, set by lost())
        to the same target at once, in the place its lost send had in the window, as TCP
        resends a lost segment whatever its window; a timed-out one where
        Device.choose_target says (the same target if it can)."""
        target = exchange.target
        if exchange.tries == 0 and target.ifaces and target in exchange.device.targets:
            return target
        return exchange.device.choose_target(target)

    def dropped(self, exchange: Exchange, now: float) -> bool:
        """Retire an exchange whose request already failed (another exchange's error): there is
        nothing to send it again for. True when it was."""
        request = exchange.request
        if request is None or not request.failed:
            return False
        if self.forget(exchange):
            self.completion.none_out(request, now)
        return True

    def forget(self, exchange: Exchange) -> bool:
        """Retire an exchange unanswered; True when it was its request's last one out."""
        last = self.inflight.retire(exchange)
        work = self.backlog.works.get(exchange.device)
        if work is not None and work.identify is exchange:
            work.identify = None
        return last

    # -- probes of tainted targets ---------------------------------------------------------
    def schedule_probe(self, device: Device, target: Target, now: float, soon: bool = False) -> None:
        """Probe a tainted target again (after taint x RTO unless ``soon``) while another
        target is untainted; a target nobody else can replace gets ordinary frames instead."""
        timers = self.inflight.timers
        if target.taint and device.untainted_count() and device.state is DeviceState.UP:
            target.probing = True
            delay = 0.0 if soon else target.taint * target.rtt.rto
            timers.schedule(target.probe_timer, now + delay)
        else:
            target.probing = False
            timers.cancel(target.probe_timer)

    def probe_due(self, target: Target, now: float) -> None:
        """Send a full-size READ of LBA 0 to a tainted target, to learn whether it answers again."""
        device = target.device
        if (
            target not in device.targets
            or device.state is not DeviceState.UP
            or not target.taint
            or not target.ifaces
            or not device.untainted_count()
        ):
            target.probing = False
            return
        if target.nout >= target.window.maxout:
            self.inflight.timers.schedule(target.probe_timer, now + target.rtt.rto)
            return
        count = max(1, min(device.payload // SECTOR_SIZE, device.sectors))
        command, aflags, bits = command_fields(ExchangeKind.PROBE, device)
        probe = new_exchange(ExchangeKind.PROBE, device, None, target, now, 0, count, command, aflags, bits)
        target.probing = True
        self.inflight.send((probe,), target, now)

    # -- giving up -------------------------------------------------------------------------
    def stalled(self, work: DeviceWork, now: float) -> None:
        """Work waits and no target is reachable: deadsecs counts from now."""
        if work.busy and work.stall_since is None and self.config.deadsecs:
            work.stall_since = now
            self.inflight.timers.schedule(work.stall_timer, now + self.config.deadsecs)

    def unstalled(self, work: DeviceWork) -> None:
        """A target is reachable again."""
        work.stall_since = None
        self.inflight.timers.cancel(work.stall_timer)

    def stall_due(self, work: DeviceWork, now: float) -> None:
        """Work has waited deadsecs with no reachable target: the device goes down."""
        device = work.device
        if work.stall_since is None or any(t.ifaces for t in device.targets):
            return
        work.stall_since = None
        if device.state is DeviceState.UP:
            reason = f"no usable interface for {self.config.deadsecs:g} s"
            self.fail_device(device, RequestError.DEVICE_DOWN, reason)
        else:
            work.identify_wanted = False

    def fail_device(
        self,
        device: Device,
        error: RequestError,
        reason: str,
        timed_out: Request | None = None,
    ) -> None:
        """Fail every request of ``device`` and forget its exchanges (the driver's aoedev_downdev).

        DEVICE_DOWN also marks it ``down``; DEVICE_REMOVED is for a device being flushed.
        """
        inflight = self.inflight
        for exchange in [e for e in inflight.by_tag.values() if e.device is device]:
            inflight.retire(exchange)
        work = self.backlog.works[device]
        for exchange in work.rexmit:
            inflight.retire(exchange)
        requests = work.clear()
        inflight.timers.cancel(work.stall_timer)
        self.backlog.dirty.pop(device, None)
        what = "went down" if error is RequestError.DEVICE_DOWN else "was removed"
        for request in requests:
            request.dependents.clear()
            request.outstanding = 0
            kind = RequestError.TIMEOUT if request is timed_out else error
            self.completion.fail(request, kind, f"{device.name} {what}: {reason}")
        for target in device.targets:
            target.nout = 0
            target.window = Window(target.window.nframes)
            target.taint = 0
            target.probing = False
            inflight.timers.cancel(target.probe_timer)
        if error is RequestError.DEVICE_DOWN and device.state is DeviceState.UP:
            device.state = DeviceState.DOWN
            self.events.append(DeviceDown(device.address, reason))
            self.events.append(
                Diagnostic(
                    DiagnosticKind.DEVICE_DOWN, f"aoe: {device.name} is down: {reason}", device.address
                )
            )
