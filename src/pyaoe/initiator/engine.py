"""pyaoe.initiator.engine: InitiatorEngine, the sans-I/O AoE initiator (what the Linux aoe driver does).

It owns the device table, tags, windows and timers; it never touches a socket or a clock.

How a driver loop uses it (one thread; ``now`` is time.monotonic() taken by the driver):

    engine = InitiatorEngine(InitiatorConfig(...), {"eth0": (mac, mtu)})
    while running:
        # 1. feed every frame read from the interfaces (EtherType 0x88A2, Ethernet header
        #    included, any frame: the engine filters and never raises for peer input)
        for ifname, frame in received:
            engine.receive_frame(frame, ifname, now)
        # 2. caller requests, at any point between the other calls
        rid = engine.submit_read("e1.0", offset, length)
        # 3. send what the engine wants sent (requests, resends, queries), in order
        for ifname, frame in engine.frames_to_send(now):
            sockets[ifname].send(frame)
        # 4. sleep until a frame arrives, a caller submits, or the timer is due
        deadline = engine.get_timer()            # absolute time, or None for "no timer"
        ... wait for input until deadline ...
        if deadline is not None and now >= deadline:
            engine.handle_timer(now)             # then go to 3 again: timers make frames
        # 5. drain events: RequestDone/RequestFailed complete callers' requests; Device*
        #    update the device list; Diagnostic lines go to the err stream
        while (event := engine.next_event()) is not None:
            dispatch(event)

Frames read in batches (recvmmsg) can go in with one call, which saves the engine a call and
the caller a slice per frame: ``engine.receive_frames(buffers, ifname, now, lengths)`` takes
frame i as buffers[i][:lengths[i]] for each length given, exactly as receive_frame() would
one by one; the engine keeps no reference to the buffers.

Frames can go straight into the driver's send buffers (sendmmsg's) instead of coming back
as bytes: for each interface, ``lengths = engine.frames_to_send_into(now, ifname, buffers)``
writes frame i into buffers[i] and returns the lengths; call again while the list comes
back full. It replaces frames_to_send() in step 3 (the two share one queue, in order).

A read can land straight in the caller's buffer: ``engine.submit_read_into(device, offset,
buffer)`` (no engine buffer, no copy out; RequestDone.data is a read-only view of it).

Call frames_to_send() after every receive_frame(), submit_*(), handle_timer(), discover(),
revalidate() and close_device(), and re-read get_timer() after each frames_to_send(). The
timer may lie in the past (at start-up it is 0.0): then call handle_timer() at once; the first
one broadcasts the first discovery.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from pyaoe.errors import DeviceUnavailable, LocalProtocolError
from pyaoe.initiator.address import DeviceAddress, as_address
from pyaoe.initiator.completion import Completion
from pyaoe.initiator.datapath import DataPath
from pyaoe.initiator.device import Device, DeviceInfo, DeviceState, Target
from pyaoe.initiator.discovery import DeviceTable, Discovery, build_config_query
from pyaoe.initiator.events import Counters, DeviceChanged, DeviceRemoved, InitiatorEvent, RequestError
from pyaoe.initiator.exchange import Exchange
from pyaoe.initiator.inflight import InFlight
from pyaoe.initiator.options import InitiatorConfig, parse_iflist
from pyaoe.initiator.outbox import SendBuffer
from pyaoe.initiator.ratelimit import RateLimit
from pyaoe.initiator.receive import Receiver
from pyaoe.initiator.requests import Request, RequestKind
from pyaoe.initiator.retransmit import Retransmit
from pyaoe.initiator.tags import TagAllocator
from pyaoe.initiator.timers import Timer, TimerKind
from pyaoe.initiator.work import Backlog, DeviceWork
from pyaoe.protocol import BROADCAST_SHELF, BROADCAST_SLOT, ETH_HLEN, SECTOR_SIZE

__all__ = ["InitiatorEngine", "Interfaces"]

_READ = RequestKind.READ
_WRITE = RequestKind.WRITE
_FLUSH = RequestKind.FLUSH
_UP = DeviceState.UP
#: Local interfaces: name -> (MAC, MTU).
Interfaces = Mapping[str, tuple[bytes, int]]
DeviceRef = DeviceAddress | tuple[int, int] | str


class InitiatorEngine:
    """Device table, discovery, tags, windows, retransmission and failover for an AoE initiator.

    The engine is driven by three kinds of input: frames received (receive_frame), caller
    requests (submit_*, discover, revalidate, flush, open/close) and a timer (handle_timer).
    Its output is pulled: frames_to_send(), get_timer() and next_event().

    Local misuse raises at once (unknown or down device: DeviceUnavailable; a range outside
    the device: ValueError); peer trouble never raises, it becomes events.
    """

    def __init__(self, config: InitiatorConfig | None = None, interfaces: Interfaces | None = None) -> None:
        config = self.config = config if config is not None else InitiatorConfig()
        events = self._events = deque[InitiatorEvent]()
        counters = self.counters = Counters()
        self._interfaces: dict[str, tuple[bytes, int]] = {}
        self._iflist = config.iflist
        # The allowed interfaces (the parts below keep these very dicts: never replaced).
        self._macs: dict[str, bytes] = {}
        self._mtus: dict[str, int] = {}
        # The parts, each owning its own state, wired together here.
        ratelimit = RateLimit()
        backlog = self._backlog = Backlog()
        tags = TagAllocator(config.tag_start)
        inflight = self._inflight = InFlight(tags, config.deadsecs, self._macs, counters)
        self._timers = inflight.timers
        completion = self._completion = Completion(events, inflight.timers, backlog, config.max_rto)
        retransmit = self._retransmit = Retransmit(config, inflight, completion, backlog, events, self._mtus)
        self._datapath = DataPath(inflight, backlog, retransmit, self._macs, events, counters)
        self._table = DeviceTable(config.dyndevs)
        self._discovery = Discovery(config, self._mtus, self._table, backlog, events, counters, ratelimit)
        self._receiver = Receiver(
            self._macs,
            inflight,
            backlog,
            completion,
            retransmit,
            events,
            counters,
            ratelimit,
            self._discovery.config_answer,
        )
        self._discover_timer = Timer(TimerKind.DISCOVER)
        #: When the start-up discovery went out (None: not yet), and its repeats still due.
        self._first_discovery: float | None = None
        self._repeats = list(config.discover_again)
        if config.discover_at_start:
            # Time 0 is in the past for any monotonic clock: the first handle_timer() discovers.
            self._timers.schedule(self._discover_timer, 0.0)
        self.update_interfaces(interfaces or {})

    # -- interfaces ------------------------------------------------------------------------
    @property
    def iflist(self) -> tuple[str, ...]:
        return self._iflist

    @property
    def interfaces(self) -> dict[str, tuple[bytes, int]]:
        """The interfaces AoE may use now (the iflist applied): name -> (MAC, MTU)."""
        return {name: (mac, self._mtus[name]) for name, mac in self._macs.items()}

    def update_interfaces(self, interfaces: Interfaces) -> None:
        """Replace the set of local interfaces (name -> (MAC, MTU)), e.g. on hotplug or MTU change.

        Interfaces that vanish are dropped from every target; frames in flight on them are
        resent elsewhere when they time out. Payloads follow the new MTUs.
        """
        for name, (mac, mtu) in interfaces.items():
            if len(mac) != 6 or mtu <= 0:
                raise ValueError(f"interface {name}: need a 6-byte MAC and a positive MTU")
        self._interfaces = {name: (bytes(mac), int(mtu)) for name, (mac, mtu) in interfaces.items()}
        self._apply_interfaces()

    def set_iflist(self, iflist: str | Iterable[str]) -> None:
        """Restrict AoE to these interfaces (aoe_iflist); an empty list allows all.

        Raises ValueError for a list of 1024 bytes or more (the driver's limit).
        """
        self._iflist = parse_iflist(iflist)
        self._apply_interfaces()

    def _apply_interfaces(self) -> None:
        allowed = {
            name: facts
            for name, facts in self._interfaces.items()
            if not self._iflist or name in self._iflist
        }
        self._macs.clear()
        self._mtus.clear()
        for name, (mac, mtu) in allowed.items():
            self._macs[name] = mac
            self._mtus[name] = mtu
        for device in self._table:
            for target in device.targets:
                for name in list(target.ifaces):
                    if name not in allowed:
                        target.paths.remove(name)
            old = device.payload
            if device.compute_payload(self._mtus) != old and device.state is _UP:
                self._events.append(DeviceChanged(device.address, device.sectors, device.payload, "payload"))
            self._backlog.dirty[device] = None

    # -- discovery and the control files ---------------------------------------------------
    def discover(self, shelf: int = BROADCAST_SHELF, slot: int = BROADCAST_SLOT) -> None:
        """Queue a Query Config to shelf.slot (default: everyone) on every allowed interface."""
        if not (0 <= shelf <= BROADCAST_SHELF and 0 <= slot <= BROADCAST_SLOT):
            raise ValueError(f"address {shelf}.{slot} is out of range")
        for ifname, mac in self._macs.items():
            self._inflight.outbox.emit(ifname, build_config_query(mac, shelf, slot))
            self.counters.frames_sent += 1

    def revalidate(self, device: DeviceRef) -> None:
        """Start over with a device, even an open one (the driver's revalidate file): forget
        round-trip times and windows, query its config and IDENTIFY it; a down device comes up."""
        dev = self._device(device)
        for target in dev.targets:
            target.rtt.reset()
            target.window.reset()
        self.discover(dev.address.shelf, dev.address.slot)
        self._discovery.want_identify(dev)

    def flush(self, what: str = "") -> list[DeviceAddress]:
        """Drop devices from the table, as a write to the driver's flush file; returns them.

        ``""`` (or blank): devices that are down and not open. ``"all"``: every device not
        open, up or not. A device name: that device, even if open (the driver matches names
        by prefix, so "e1.1" also flushes e1.10; here the name must match exactly).
        Requests still pending on a dropped device fail with DEVICE_REMOVED.
        """
        text = what.strip()
        if not text:
            chosen = [d for d in self._table if not d.is_up and not d.open_count]
        elif text == "all":
            chosen = [d for d in self._table if not d.open_count]
        else:
            chosen = [self._device(text)]
        for dev in chosen:
            self._retransmit.fail_device(dev, RequestError.DEVICE_REMOVED, "flushed")
            self._table.remove(dev.address)
            self._backlog.drop(dev)
            self._events.append(DeviceRemoved(dev.address))
        return [d.address for d in chosen]

    def open_device(self, device: DeviceRef) -> None:
        """Count an opener; a down device held open shows ``down,closewait`` and is not
        re-identified until the last close (or revalidate). Raises DeviceUnavailable unless up."""
        dev = self._device(device)
        if not dev.is_up:
            raise DeviceUnavailable(f"{dev.name} is not up")
        dev.open_count += 1

    def close_device(self, device: DeviceRef) -> None:
        """Drop an opener; the last close queries the device's config so that a device that
        went down while open can come back. Closing a flushed device does nothing."""
        dev = self._table.get(as_address(device))
        if dev is None:
            return
        if dev.open_count == 0:
            raise LocalProtocolError(f"{dev.name} is not open")
        dev.open_count -= 1
        if dev.open_count == 0:
            self.discover(dev.address.shelf, dev.address.slot)

    # -- requests --------------------------------------------------------------------------
    def submit_read(self, device: DeviceRef, offset: int, length: int) -> int:
        """Read ``length`` bytes at byte ``offset`` (any alignment); returns the request id.

        Completion is a RequestDone carrying the bytes, or a RequestFailed.
        """
        dev = self._device(device, up=True)
        self._check_range(dev, offset, length)
        request = self._completion.new(_READ, dev, offset, length)
        self._completion.start(request)
        return request.id

    def submit_read_into(self, device: DeviceRef, offset: int, buffer: bytearray | memoryview) -> int:
        """Read len(``buffer``) bytes at byte ``offset`` into ``buffer``; returns the request id.

        As submit_read(), but the bytes land in the caller's writable buffer (straight from
        the frames when offset and length are whole sectors): no buffer of the engine's and
        no copy out. Leave ``buffer`` alone until the request finishes; RequestDone.data is
        then a read-only view of it, and after a RequestFailed its content is unspecified.
        """
        dev = self._device(device, up=True)
        view = memoryview(buffer).cast("B")
        if view.readonly:
            raise TypeError("submit_read_into needs a writable buffer")
        length = len(view)
        self._check_range(dev, offset, length)
        aligned = not offset % SECTOR_SIZE and not length % SECTOR_SIZE
        request = self._completion.new(_READ, dev, offset, length, view if aligned else None)
        request.into = view
        self._completion.start(request)
        return request.id

    def submit_write(self, device: DeviceRef, offset: int, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` at byte ``offset``; returns the request id. ``data`` is copied.

        Any size and alignment: partial sectors at either end are read first and merged
        (read-modify-write, ordered after earlier overlapping requests). RequestDone comes
        only when every frame of the write has been acknowledged.
        """
        dev = self._device(device, up=True)
        view = memoryview(data).cast("B")
        self._check_range(dev, offset, len(view))
        if offset % SECTOR_SIZE or len(view) % SECTOR_SIZE:
            request = self._completion.new(_WRITE, dev, offset, len(view))
            if len(view):
                request.set_write_data(view)
        else:
            # Whole sectors: copied once, no zeroed buffer first and no edges to read.
            request = self._completion.new(_WRITE, dev, offset, len(view), bytearray(view))
        self._completion.start(request)
        return request.id

    def submit_flush(self, device: DeviceRef) -> int:
        """Ask every target to write its cache to stable storage; returns the request id.

        FLUSH CACHE EXT when IDENTIFY lists it, else FLUSH CACHE; done at once when the device
        lists neither (it has no cache to flush). It covers every write submitted before it.
        """
        dev = self._device(device, up=True)
        request = self._completion.new(_FLUSH, dev, 0, 0)
        identify = dev.identify
        if identify is not None and (identify.flush_cache or identify.flush_cache_ext):
            request.flush_targets = [t for t in dev.targets if t.ifaces] or list(dev.targets)
        self._completion.start(request)
        return request.id

    @staticmethod
    def _check_range(dev: Device, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > dev.sectors * SECTOR_SIZE:
            raise ValueError(
                f"{dev.name}: bytes {offset}+{length} are outside its {dev.sectors * SECTOR_SIZE} bytes"
            )

    # -- the wire ----------------------------------------------------------------------------
    def receive_frame(self, frame: bytes | bytearray | memoryview, ifname: str, now: float) -> None:
        """Take one received frame (Ethernet header included). Never raises for its content."""
        self._receiver.receive((frame,), (len(frame),), ifname, now)

    def receive_frames(
        self,
        frames: Sequence[bytes | bytearray | memoryview],
        ifname: str,
        now: float,
        lengths: Iterable[int] | None = None,
    ) -> None:
        """Take frames received on ``ifname``, in order, each as receive_frame() takes one.

        With ``lengths``, frame i is the first lengths[i] bytes of frames[i], for as many
        frames as there are lengths (recvmmsg's buffers and lengths, say: nothing is sliced or
        copied). The engine keeps no reference to any of them. Never raises for their content.
        """
        # Without lengths, each frame is all of its buffer.
        self._receiver.receive(frames, [len(f) for f in frames] if lengths is None else lengths, ifname, now)

    def frames_to_send(self, now: float) -> list[tuple[str, bytes]]:
        """The frames to send now, in order, as (interface name, padded frame bytes)."""
        if self._backlog.dirty:
            self._datapath.pump_dirty(now)
        return self._inflight.outbox.take()

    def frames_to_send_into(self, now: float, ifname: str, buffers: Sequence[SendBuffer]) -> list[int]:
        """frames_to_send() for one interface, written into the caller's send buffers.

        Frame i goes into buffers[i] (each at least the interface's MTU + 14 bytes long); the
        result is their lengths, in order: send buffers[i][:lengths[i]] for each. Frames that
        do not fit wait for the next call, so call again (after sending) while the list comes
        back full, and for every interface. Frames for other interfaces wait for their own
        call (or frames_to_send()); waiting frames for interfaces the engine no longer has
        are dropped here. Raises ValueError for buffers too small for the interface's MTU.
        """
        mtu = self._mtus.get(ifname)
        if buffers and mtu is not None and len(buffers[0]) < mtu + ETH_HLEN:
            raise ValueError(f"{ifname}: send buffers of {len(buffers[0])} bytes hold no {mtu}-byte frame")
        outbox = self._inflight.outbox
        outbox.open(ifname, buffers, self._macs)
        try:
            if self._backlog.dirty:
                self._datapath.pump_dirty(now)
        finally:
            lengths = outbox.close()
        return lengths

    def get_timer(self) -> float | None:
        """When handle_timer() is next due (absolute, the driver's clock), or None."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Act on every deadline that has passed: resends, failover, deadsecs, probes, discovery."""
        timers = self._timers
        for item in timers.pop_due(now):
            if isinstance(item, Exchange):
                self._retransmit.timed_out(item, now)
            elif item.kind is TimerKind.DISCOVER:
                self.discover()
                if self._first_discovery is None:
                    self._first_discovery = now
                if self._repeats:
                    timers.schedule(item, self._first_discovery + self._repeats.pop(0))
                elif self.config.discover_interval:
                    timers.schedule(item, now + self.config.discover_interval)
            elif item.kind is TimerKind.PROBE:
                self._retransmit.probe_due(cast(Target, item.subject), now)
            elif item.kind is TimerKind.FENCE:
                self._completion.retire(cast(Request, item.subject), now)
            elif item.kind is TimerKind.STALL:
                self._retransmit.stall_due(cast(DeviceWork, item.subject), now)

    def next_event(self) -> InitiatorEvent | None:
        """The next event, or None when there are none."""
        return self._events.popleft() if self._events else None

    # -- the table ---------------------------------------------------------------------------
    def devices(self) -> list[DeviceInfo]:
        """Every device in the table, by shelf.slot (what sysfs and aoe-stat show)."""
        return [d.info() for d in sorted(self._table, key=lambda d: d.address)]

    def device_info(self, device: DeviceRef) -> DeviceInfo:
        return self._device(device).info()

    def _device(self, device: DeviceRef, up: bool = False) -> Device:
        """The device in the table; with ``up``, only if it is up (a request is made for it)."""
        address = as_address(device)
        dev = self._table.get(address)
        if dev is None:
            raise DeviceUnavailable(f"{address.name}: no such AoE device")
        if up and dev.state is not _UP:
            raise DeviceUnavailable(f"{dev.name} is {dev.state_string}")
        return dev
