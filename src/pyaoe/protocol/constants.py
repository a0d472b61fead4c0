"""pyaoe.protocol.constants: sizes, addresses and numbers fixed by the wire.

AoEr11 §1-2; header sizes as vblade's dat.h counts them (Ethernet header included).
"""

from __future__ import annotations

__all__ = [
    "ETH_P_AOE",
    "AOE_VERSION",
    "SECTOR_SIZE",
    "ETH_ALEN",
    "ETH_HLEN",
    "ETH_ZLEN",
    "AOE_HLEN",
    "ATA_HLEN",
    "CONFIG_HLEN",
    "MASK_HLEN",
    "RESERVE_HLEN",
    "MAX_CONFIG_STRING",
    "BROADCAST_SHELF",
    "BROADCAST_SLOT",
    "BROADCAST_MAC",
    "MAX_SHELF",
    "MAX_SLOT",
    "MAX_SECTOR_COUNT",
    "VENDOR_COMMAND_MIN",
    "TAG_USER_BIT",
]

#: EtherType of AoE frames.
ETH_P_AOE = 0x88A2
#: The protocol version this implementation speaks (AoEr11: 1).
AOE_VERSION = 1
#: ATA sector size; AoEr11 §3 fixes it at 512 bytes.
SECTOR_SIZE = 512
ETH_ALEN = 6
#: Ethernet header: dst, src, type.
ETH_HLEN = 14
#: Minimum Ethernet frame without FCS; shorter frames are padded (real NICs do, veth does not).
ETH_ZLEN = 60
#: Ethernet + common AoE header (vblade Naoehdr).
AOE_HLEN = 24
#: ... + ATA argument (vblade Natahdr); also the per-frame overhead in sectors_per_frame.
ATA_HLEN = 36
#: ... + Query Config argument (vblade Ncfghdr).
CONFIG_HLEN = 32
#: ... + MAC Mask List argument (vblade Nmaskhdr).
MASK_HLEN = 28
#: ... + Reserve/Release argument (vblade Nsrrhdr).
RESERVE_HLEN = 26
#: Longest config string (AoEr11 §3.2; vblade Nconfig).
MAX_CONFIG_STRING = 1024
#: Shelf (major) address that matches every shelf.
BROADCAST_SHELF = 0xFFFF
#: Slot (minor) address that matches every slot.
BROADCAST_SLOT = 0xFF
BROADCAST_MAC = b"\xff" * 6
#: Highest shelf a target may have (0xFFFF is broadcast).
MAX_SHELF = 0xFFFE
#: Highest slot a target may have (0xFF is broadcast).
MAX_SLOT = 0xFE
#: The sector count fields are 8 bits wide.
MAX_SECTOR_COUNT = 255
#: Commands 0xF0-0xFF are vendor specific.
VENDOR_COMMAND_MIN = 0xF0
#: Tag bit the kernel driver keeps clear and userland tools (aoeping, aoecfg) set.
TAG_USER_BIT = 1 << 31
