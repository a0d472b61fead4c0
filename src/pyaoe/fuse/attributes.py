"""pyaoe.fuse.attributes: the text of each sysfs-shaped file, as the Linux aoe driver formats it.

Device attributes come from a DeviceInfo snapshot, module parameters from the service's config.
"""

from __future__ import annotations

from pyaoe import __version__
from pyaoe.initiator import DeviceInfo, InitiatorConfig

__all__ = ["AOE_MAJOR", "device_attribute", "parameter", "iflist_text", "version_text"]

#: The block major number the driver registers (aoe.h AOE_MAJOR).
AOE_MAJOR = 152


def device_attribute(info: DeviceInfo, key: str) -> str:
    """The content of /sys/block/etherd!eX.Y/KEY (with its newline)."""
    if key == "state":
        return f"{info.state}\n"
    if key == "mac":
        return f"{info.mac}\n"
    if key == "netif":
        return f"{info.netif}\n"
    if key == "payload":
        return f"{info.payload}\n"
    if key == "size":
        return f"{info.sectors}\n"
    if key == "firmware-version":
        return f"0x{info.firmware_version:04x}\n"
    if key == "dev":
        return f"{AOE_MAJOR}:{info.minor}\n"
    raise KeyError(key)


def _number(value: float) -> str:
    # Module parameters are integers in the driver; a fractional deadsecs (tests) stays exact.
    return str(int(value)) if float(value).is_integer() else str(value)


def iflist_text(iflist: tuple[str, ...]) -> str:
    """aoe_iflist as read back: the names separated by spaces ("" when every interface may be used)."""
    return " ".join(iflist) + "\n"


def parameter(config: InitiatorConfig, iflist: tuple[str, ...], key: str) -> str:
    """The content of /sys/module/aoe/parameters/KEY."""
    if key == "aoe_iflist":
        return iflist_text(iflist)
    if key == "aoe_deadsecs":
        return _number(config.deadsecs) + "\n"
    if key == "aoe_maxout":
        return f"{config.maxout}\n"
    if key == "aoe_dyndevs":
        return f"{int(config.dyndevs)}\n"
    raise KeyError(key)


def version_text() -> str:
    return f"{__version__}\n"
