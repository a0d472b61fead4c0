"""pyaoe.initiator.recovery: what happens when answers do not come (the driver's rexmit_timer).

Frame timeouts: window cut, taint and failover to another target, interface ejection,
probes of tainted targets, and the device going down after deadsecs.
"""

from __future__ import annotations

from pyaoe.initiator.datapath import DataPath
from pyaoe.initiator.device import Device, DeviceState, Target
from pyaoe.initiator.events import DeviceChanged, DeviceDown, Diagnostic, DiagnosticKind, RequestError
from pyaoe.initiator.requests import Frame, FrameKind, FrameState, Request
from pyaoe.initiator.timers import NEVER
from pyaoe.initiator.window import Window

__all__ = ["frame_timeout", "probe_due", "stall_due", "fail_device"]


def frame_timeout(dp: DataPath, frame: Frame, now: float) -> None:
    """``frame`` reached its deadline: resend it later, move it elsewhere, or give up on the device."""
    if frame.state is FrameState.RETIRED:
        return
    device = frame.device
    deadsecs = dp.config.deadsecs
    if deadsecs and frame.kind is not FrameKind.PROBE and now - frame.first_sent >= deadsecs:
        if device.state is DeviceState.UP:
            fail_device(
                dp,
                device,
                now,
                RequestError.DEVICE_DOWN,
                f"no answer for {deadsecs:g} s",
                timed_out=frame.request,
            )
        else:
            # An IDENTIFY for a device that is not up: the next config reply tries again.
            dp.forget(frame)
        return
    if frame.state is FrameState.WAITING:
        return
    target = frame.target
    if target is None:  # never sent; cannot happen for a timed frame
        dp.forget(frame)
        return
    target.nout -= 1
    _penalise(dp, device, target, frame, now)
    if frame.kind is FrameKind.PROBE:
        dp.forget(frame)
        dp.schedule_probe(device, target, now)
        return
    request = frame.request
    if request is not None and request.failed:
        dp.forget(frame)
        dp.frame_retired(request, now)
        return
    frame.state = FrameState.WAITING
    if deadsecs:
        dp.timers.schedule(frame, frame.first_sent + deadsecs)
    else:
        dp.timers.cancel(frame)
    device.rexmit.append(frame)
    dp.dirty[device] = None


def _penalise(dp: DataPath, device: Device, target: Target, frame: Frame, now: float) -> None:
    """The driver's response to a timeout: scorn a target that kept a frame too long, cut its
    window to one frame, and count a loss against the interface used."""
    config = dp.config
    limit = config.scorn_secs
    if config.deadsecs and device.targets:
        limit = min(limit, config.deadsecs / len(device.targets))
    if now - frame.target_since > limit:
        target.scorn()
        if not target.probing:
            dp.schedule_probe(device, target, now)
    target.window.on_timeout()
    lost = target.lost.get(frame.ifname)
    if lost is None:
        return
    lost += 1
    target.lost[frame.ifname] = lost
    if lost > 2 * target.window.nframes and len(target.ifaces) > 1:
        target.remove_interface(frame.ifname)
        dp.events.append(
            Diagnostic(
                DiagnosticKind.INFO,
                f"aoe: {device.name}: {lost} frames lost on {frame.ifname} to {target.mac.hex()}; "
                "no longer using that interface for it",
                device.address,
            )
        )
        old = device.payload
        if device.compute_payload(dp.mtus) != old and device.state is DeviceState.UP:
            dp.events.append(DeviceChanged(device.address, device.sectors, device.payload, "payload"))


def probe_due(dp: DataPath, target: Target, now: float) -> None:
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
        dp.timers.schedule(target.probe_timer, now + target.rtt.rto)
        return
    dp.send_probe(device, target, now)


def stall_due(dp: DataPath, device: Device, now: float) -> None:
    """Work has waited deadsecs with no reachable target: the device goes down."""
    if device.stall_since is None or any(t.ifaces for t in device.targets):
        return
    device.stall_since = None
    if device.state is DeviceState.UP:
        fail_device(
            dp, device, now, RequestError.DEVICE_DOWN, f"no usable interface for {dp.config.deadsecs:g} s"
        )
    else:
        device.identify_wanted = False


def fail_device(
    dp: DataPath,
    device: Device,
    now: float,
    error: RequestError,
    reason: str,
    timed_out: Request | None = None,
) -> None:
    """Fail every request of ``device`` and forget its frames (the driver's aoedev_downdev).

    DEVICE_DOWN also marks it ``down``; DEVICE_REMOVED is for a device being flushed.
    """
    for tag, (frame, _, _) in list(dp.tags.items()):
        if frame.device is device:
            del dp.tags[tag]
            frame.tags.clear()
            frame.state = FrameState.RETIRED
            frame.deadline = NEVER
    for frame in device.rexmit:
        frame.state = FrameState.RETIRED
        frame.deadline = NEVER
    device.rexmit.clear()
    device.identify_frame = None
    device.identify_wanted = False
    device.stall_since = None
    dp.timers.cancel(device.stall_timer)
    requests = list(device.active.values())
    device.active.clear()
    device.active_writes = 0
    device.queue.clear()
    dp.dirty.pop(device, None)
    what = "went down" if error is RequestError.DEVICE_DOWN else "was removed"
    for request in requests:
        request.dependents.clear()
        request.outstanding = 0
        kind = RequestError.TIMEOUT if request is timed_out else error
        dp.fail_request(request, kind, f"{device.name} {what}: {reason}")
    for target in device.targets:
        target.nout = 0
        target.window = Window(target.window.nframes)
        target.taint = 0
        target.probing = False
        dp.timers.cancel(target.probe_timer)
    if error is RequestError.DEVICE_DOWN and device.state is DeviceState.UP:
        device.state = DeviceState.DOWN
        dp.events.append(DeviceDown(device.address, reason))
        dp.events.append(
            Diagnostic(DiagnosticKind.DEVICE_DOWN, f"aoe: {device.name} is down: {reason}", device.address)
        )
