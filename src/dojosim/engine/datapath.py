"""The input data path, storage to SRAM: how fast the hosts can feed a system, and how many hosts
remove an input bound.

Dojo (docs/sources.md §3): clip bytes go from storage to CPU hosts, which prepare them (read, decode,
augment) on their cores; over PCIe Gen4 into the Dojo Interface Processors (DIPs) plugged into
those hosts; over TTP (900 GB/s per DIP) to the tiles. Hosts beyond the ones the DIPs are plugged
into reach the DIPs over Ethernet (TTPoE, the "Z-plane", 50 GB/s per DIP): Tesla's fix for the
host bottleneck it reported at Hot Chips 2024. The rate a level instance is fed at is

    min(PCIe-attached hosts x cores x rate per core, PCIe, TTP)  +  min(Z-plane hosts x ..., Ethernet)

A level without ``hosts`` (GPU presets) is limited only by its ``host_input_bandwidth``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class InputPath:
    """The whole system's input path (every instance of the level whose hosts feed it)."""

    level: str = ""
    link_bw: float = 0.0        # PCIe from the PCIe-attached hosts, capped by TTP (0 = unlimited)
    hosts: int = 0              # PCIe-attached hosts in the preset (0 = not modelled)
    max_pcie_hosts: int = 0     # hosts the interface cards can be plugged into (0 = no cap)
    per_host_bw: float = 0.0    # bytes/s one host prepares (cores x rate per core)
    zplane_bw: float = 0.0      # Ethernet into the interface cards for extra hosts

    def bandwidth(self, hosts: int | None = None, zplane_hosts: int = 0) -> float:
        """Bytes/s the hosts deliver (0 = unlimited) with ``hosts`` on PCIe and
        ``zplane_hosts`` more over Ethernet."""
        n = self.hosts if hosts is None else hosts
        if self.per_host_bw <= 0 or n <= 0:
            return self.link_bw
        # a DIP sits in one host: hosts beyond the cards' count can only reach them over Ethernet
        on_pcie = min(n, self.max_pcie_hosts) if self.max_pcie_hosts else n
        zplane_hosts += n - on_pcie
        pcie = on_pcie * self.per_host_bw
        if self.link_bw > 0:
            pcie = min(pcie, self.link_bw)
        return pcie + min(zplane_hosts * self.per_host_bw, self.zplane_bw)

    def hosts_for(self, rate: float) -> tuple[int, int, bool]:
        """(PCIe-attached hosts, Z-plane hosts, reachable) that prepare ``rate`` bytes/s.
        Not reachable: even every slot on PCIe plus the whole Z-plane falls short (the row
        then gives that maximum)."""
        if self.per_host_bw <= 0:
            return self.hosts, 0, self.link_bw <= 0 or rate <= self.link_bw
        cap_hosts = self.max_pcie_hosts or math.inf
        pcie_max = min(cap_hosts * self.per_host_bw, self.link_bw or math.inf)
        if rate <= pcie_max:
            return max(math.ceil(rate / self.per_host_bw), 1), 0, True
        pcie_hosts = int(min(cap_hosts, math.ceil(pcie_max / self.per_host_bw)))
        rest = rate - pcie_max
        reachable = rest <= self.zplane_bw
        extra = math.ceil(min(rest, self.zplane_bw) / self.per_host_bw)
        return pcie_hosts, extra, reachable


def input_path(system) -> InputPath:
    """The input path of the innermost level that names its hosts or host bandwidth."""
    for i, lv in enumerate(system.levels):
        if not (lv.host_input_bandwidth or lv.hosts):
            continue
        n = system.instances(i)
        link = (lv.host_input_bandwidth or 0.0) * n
        ttp = sum(p.count * p.link_bandwidth for p in lv.memory_pools) * n
        if link and ttp:
            link = min(link, ttp)
        per_host = (lv.host_cores or 0) * (lv.host_core_rate or 0.0)
        cards = sum(p.count for p in lv.memory_pools) * n
        return InputPath(level=lv.name, link_bw=link, hosts=(lv.hosts or 0) * n,
                         max_pcie_hosts=cards if lv.hosts else 0, per_host_bw=per_host,
                         zplane_bw=(lv.zplane_bandwidth or 0.0) * n)
    return InputPath()


def input_report(path: InputPath, step_bytes: float, busy_s: float, t_in: float) -> dict:
    """What the hosts deliver, what the step needs, whether input binds, and how many hosts
    (PCIe-attached, plus Z-plane ones over Ethernet) would remove the bound."""
    out = {"level": path.level, "bandwidth": path.bandwidth(), "hosts": path.hosts,
           "needed_bandwidth": step_bytes / busy_s if busy_s > 0 else 0.0, "bound": t_in > busy_s > 0}
    if path.per_host_bw > 0 and step_bytes > 0 and busy_s > 0:
        pcie, zplane, ok = path.hosts_for(out["needed_bandwidth"])
        out.update(per_host_bandwidth=path.per_host_bw, hosts_needed=pcie, zplane_hosts_needed=zplane,
                   removable=ok)
    if out["bound"]:
        need, have = out["needed_bandwidth"], out["bandwidth"]
        text = (f"input-bound: the hosts deliver {have / 1e9:,.0f} GB/s, the step needs "
                f"{need / 1e9:,.0f} GB/s")
        if "hosts_needed" in out:
            # hosts beyond the cards' PCIe slots already reach them over the Z-plane: say so in "now"
            on_pcie = min(path.hosts, path.max_pcie_hosts) if path.max_pcie_hosts else path.hosts
            now = f"{on_pcie:,}" + (f" + {path.hosts - on_pcie:,}" if path.hosts > on_pcie else "")
            text += f"; {out['hosts_needed']:,} hosts on PCIe"
            if out["zplane_hosts_needed"]:
                text += f" + {out['zplane_hosts_needed']:,} over the TTPoE Z-plane"
            text += f" (now {now})"
            text += " remove it" if out["removable"] else " are the most the interface cards take: still input-bound"
        out["note"] = text
    return out
