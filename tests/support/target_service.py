"""A `pyaoe target --config FILE` running as a service in a network namespace, with its control
socket, its TOML file and Debian's aoetools at the other end of a veth pair.

    with Lab() as lab, ServedTarget.start(lab, tmp_path, exports={(1, 1): disk}) as target:
        target.ctl("stats")            # pyaoe ctl --socket ... stats, as a user types it
        target.aoeping(1, 1)           # Debian's aoeping from the initiator's end
        target.write_config({(1, 1): disk, (1, 2): other}); target.ctl("reload")
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pyaoe.lab.netns import Lab, Link
from support.target import PYAOE_TARGET, RunningTarget, start_target

__all__ = ["AOECFG", "AOEPING", "CTL", "ServedTarget", "export_table"]

AOEPING = "/usr/sbin/aoeping"
AOECFG = "/usr/sbin/aoecfg"
CTL = (sys.executable, "-m", "pyaoe", "ctl")


def export_table(shelf: int, slot: int, disk: Path, **keys: object) -> str:
    """One [[export]] table (netif comes from [defaults])."""
    lines = ["[[export]]", f"shelf = {shelf}", f"slot = {slot}", f'file = "{disk}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


@dataclass
class ServedTarget:
    lab: Lab
    here: Link
    there: Link
    config: Path
    socket: Path
    target: RunningTarget | None = None
    extra_args: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        lab: Lab,
        workdir: Path,
        tables: Sequence[str],
        *,
        args: Sequence[str] = (),
        netifs: Sequence[Link] = (),
    ) -> ServedTarget:
        ns_t, ns_i = lab.netns("svt"), lab.netns("svi")
        there, here = lab.veth(ns_t, ns_i)
        served = cls(
            lab, here, there, workdir / "target.toml", workdir / "target.sock", extra_args=list(args)
        )
        served.write_config(tables)
        command = (*PYAOE_TARGET, "--control-socket", str(served.socket))
        served.target = start_target(
            lab,
            there,
            ["--config", str(served.config), *args],
            listen=here,
            command=command,
            exports=len(tables),
        )
        return served

    def write_config(self, tables: Sequence[str], netifs: Sequence[str] | None = None) -> None:
        names = netifs if netifs is not None else [self.there.ifname]
        text = f"[defaults]\nnetif = {json.dumps(list(names))}\n\n" + "\n".join(tables)
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pyaoe ctl --socket SOCK ARGS` as a user types it (in the root namespace: the socket is
        a file, not a network address)."""
        result = subprocess.run(
            [*CTL, "--socket", str(self.socket), *args], capture_output=True, text=True, timeout=60
        )
        if check:
            assert result.returncode == 0, f"pyaoe ctl {' '.join(args)}: {result.stderr}"
        return result

    def ctl_json(self, *args: str) -> Any:
        return json.loads(self.ctl("--json", *args).stdout)

    def aoeping(self, shelf: int, slot: int, seconds: int = 3) -> subprocess.CompletedProcess[str]:
        return self.lab.run(
            self.here.netns,
            [AOEPING, "-s", str(seconds), str(shelf), str(slot), self.here.ifname],
            timeout=seconds + 30,
            check=False,
        )

    def aoecfg(self, wait: int = 2) -> dict[str, str]:
        """Every target's config string, by "shelf.slot", as Debian's aoecfg lists them."""
        done = self.lab.run(self.here.netns, [AOECFG, "-t", str(wait), self.here.ifname], timeout=wait + 30)
        found = {}
        for line in done.stdout.splitlines():
            name, _tab, text = line.partition("\t")
            found[name] = text
        return found

    def stderr(self) -> str:
        return self.target.stderr() if self.target else ""

    def close(self) -> int | None:
        if self.target is None:
            return None
        target, self.target = self.target, None
        try:
            return target.stop()
        finally:
            target.close()

    def __enter__(self) -> ServedTarget:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def parse_metrics(text: str) -> Mapping[str, float]:
    """Samples of a Prometheus text exposition, by name{labels} as written."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _space, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
