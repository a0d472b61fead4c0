"""pyaoe.fuse.tree: the inode table of the initiator's file system: etherd/ (control files, devices,
partitions) and sys/ (block/etherd!eX.Y attributes, module/aoe parameters), as plain objects.

No FUSE calls here: the table says what exists and returns, for each change, the directory
entries the kernel must forget; pyaoe.fuse.filesystem serves it.
"""

from __future__ import annotations

import stat
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from pyaoe.fuse.partitions import Partition

__all__ = [
    "Kind",
    "Node",
    "Tree",
    "Removed",
    "ROOT_INODE",
    "CONTROL_FILES",
    "DEVICE_ATTRIBUTES",
    "PARAMETERS",
    "sysfs_dir_name",
]

#: FUSE's root inode number.
ROOT_INODE = 1


class Kind(Enum):
    DIR = "dir"
    #: A file of a device's sysfs directory (state, mac, ...).
    ATTRIBUTE = "attribute"
    #: A module parameter (aoe_iflist, ...).
    PARAMETER = "parameter"
    #: module/aoe/version.
    VERSION = "version"
    #: discover, interfaces, revalidate, flush.
    CONTROL = "control"
    ERR = "err"
    DEVICE = "device"
    PARTITION = "partition"


#: Control files and their modes (aoetools' udev rules: 0220, err 0440; our interfaces also reads).
CONTROL_FILES = {"discover": 0o220, "interfaces": 0o660, "revalidate": 0o220, "flush": 0o220}
ERR_MODE = 0o440
DEVICE_MODE = 0o660
#: A device's sysfs attributes (the driver's aoeblk.c and the block layer's dev and size).
DEVICE_ATTRIBUTES = ("state", "mac", "netif", "payload", "size", "firmware-version", "dev")
#: Module parameters: aoe_iflist is writable (as aoe-interfaces writes it), the rest read-only
#: here (the daemon's command line sets them).
PARAMETERS = {"aoe_iflist": 0o644, "aoe_deadsecs": 0o444, "aoe_maxout": 0o444, "aoe_dyndevs": 0o444}


def sysfs_dir_name(device: str) -> str:
    """The driver's disk name etherd/eX.Y as sysfs spells it."""
    return f"etherd!{device}"


@dataclass(eq=False, slots=True)
class Node:
    inode: int
    kind: Kind
    name: str
    parent: int
    #: Permission bits (the file type comes from ``kind``).
    perm: int
    #: The device (eX.Y) a device, partition or attribute node belongs to.
    device: str = ""
    #: Attribute, parameter or control file name.
    key: str = ""
    partition: Partition | None = None
    children: dict[str, Node] | None = None
    created_ns: int = field(default_factory=time.time_ns)

    @property
    def mode(self) -> int:
        return (stat.S_IFDIR if self.kind is Kind.DIR else stat.S_IFREG) | self.perm


class Removed(NamedTuple):
    """A directory entry that went away: what pyfuse3.invalidate_entry needs."""

    parent: int
    name: str
    inode: int


class Tree:
    """Every node by inode number. Inode numbers are never reused, so a stale kernel reference
    to a removed node can only get ENOENT, never another node."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self._next_inode = ROOT_INODE
        self.root = self._add(None, "", Kind.DIR, 0o755)
        self.etherd = self._add(self.root, "etherd", Kind.DIR, 0o755)
        sys_dir = self._add(self.root, "sys", Kind.DIR, 0o755)
        self.block = self._add(sys_dir, "block", Kind.DIR, 0o755)
        aoe = self._add(self._add(sys_dir, "module", Kind.DIR, 0o755), "aoe", Kind.DIR, 0o755)
        self._add(aoe, "version", Kind.VERSION, 0o444)
        params = self._add(aoe, "parameters", Kind.DIR, 0o755)
        for name, perm in PARAMETERS.items():
            self._add(params, name, Kind.PARAMETER, perm, key=name)
        for name, perm in CONTROL_FILES.items():
            self._add(self.etherd, name, Kind.CONTROL, perm, key=name)
        self._add(self.etherd, "err", Kind.ERR, ERR_MODE, key="err")
        #: Device name -> its etherd node.
        self.devices: dict[str, Node] = {}

    # -- building ------------------------------------------------------------------------------
    def _add(self, parent: Node | None, name: str, kind: Kind, perm: int, **kw: object) -> Node:
        inode = self._next_inode
        self._next_inode += 1
        node = Node(inode, kind, name, parent.inode if parent else inode, perm, **kw)  # type: ignore[arg-type]
        if kind is Kind.DIR:
            node.children = {}
        self.nodes[inode] = node
        if parent is not None:
            assert parent.children is not None
            parent.children[name] = node
        return node

    def _drop(self, node: Node) -> list[Removed]:
        """Remove ``node`` and everything under it; the entries removed, deepest first."""
        gone: list[Removed] = []
        for child in list((node.children or {}).values()):
            gone += self._drop(child)
        self.nodes.pop(node.inode, None)
        parent = self.nodes.get(node.parent)
        if parent is not None and parent.children is not None and parent.children.get(node.name) is node:
            del parent.children[node.name]
        gone.append(Removed(node.parent, node.name, node.inode))
        return gone

    # -- lookups -------------------------------------------------------------------------------
    def get(self, inode: int) -> Node | None:
        return self.nodes.get(inode)

    def lookup(self, parent: int, name: str) -> Node | None:
        node = self.nodes.get(parent)
        if node is None or node.children is None:
            return None
        return node.children.get(name)

    def children(self, inode: int) -> list[Node]:
        node = self.nodes.get(inode)
        if node is None or node.children is None:
            return []
        return sorted(node.children.values(), key=lambda n: n.name)

    def partitions(self, device: str) -> list[Node]:
        return [
            n
            for n in (self.etherd.children or {}).values()
            if n.kind is Kind.PARTITION and n.device == device
        ]

    # -- devices -------------------------------------------------------------------------------
    def add_device(self, device: str) -> Node:
        """The device file etherd/eX.Y and its sysfs directory; the existing node if present."""
        node = self.devices.get(device)
        if node is not None:
            return node
        node = self._add(self.etherd, device, Kind.DEVICE, DEVICE_MODE, device=device)
        self.devices[device] = node
        sysdir = self._add(self.block, sysfs_dir_name(device), Kind.DIR, 0o755, device=device)
        for attr in DEVICE_ATTRIBUTES:
            self._add(sysdir, attr, Kind.ATTRIBUTE, 0o444, device=device, key=attr)
        return node

    def remove_device(self, device: str) -> list[Removed]:
        """Forget the device, its partitions and its sysfs directory."""
        node = self.devices.pop(device, None)
        if node is None:
            return []
        gone: list[Removed] = []
        for part in self.partitions(device):
            gone += self._drop(part)
        gone += self._drop(node)
        sysdir = self.lookup(self.block.inode, sysfs_dir_name(device))
        if sysdir is not None:
            gone += self._drop(sysdir)
        return gone

    def set_partitions(self, device: str, table: list[Partition]) -> tuple[list[Node], list[Removed]]:
        """Make eX.YpN match ``table``: partitions that kept their place keep their node (and
        their open files); the rest are replaced. Returns (nodes added, entries removed)."""
        if device not in self.devices:
            return [], []
        wanted = {f"{device}p{p.number}": p for p in table}
        removed: list[Removed] = []
        for node in self.partitions(device):
            new = wanted.get(node.name)
            if new is not None and node.partition is not None and _same_place(node.partition, new):
                node.partition = new  # the type or label may have changed, not the extent
                del wanted[node.name]
                continue
            removed += self._drop(node)
        added = [
            self._add(self.etherd, name, Kind.PARTITION, DEVICE_MODE, device=device, partition=p)
            for name, p in sorted(wanted.items(), key=lambda item: item[1].number)
        ]
        return added, removed


def _same_place(a: Partition, b: Partition) -> bool:
    return a.start == b.start and a.sectors == b.sectors
