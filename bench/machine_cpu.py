"""Is the machine quiet enough for the figures to mean anything? Measured from /proc, per
measurement: the CPU time every process on the machine used (/proc/stat) minus what the
benchmark's own processes used (the servers under test, wrk, this driver), over the measured
interval, in cores.

Other work on the machine takes cores from the servers and from wrk alike, but not in equal
shares, so it moves req/s, latency and even the ratios between servers. A measurement during
which other processes used more than OTHER_LIMIT cores is not valid for comparisons: a round
holding one is left out of every headline figure (bench/__main__.py).

What /proc/stat counts outside any process is reported beside it, not in it: interrupt and softirq
time (with loopback traffic that is mostly the benchmark's own packets, which the kernel charges
to no process) and steal time (the hypervisor running someone else on this machine's cores).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

OTHER_LIMIT = 0.2  # cores: other processes above this during a measurement make it not valid
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    wall: float  # time.monotonic(), seconds
    busy: float  # CPU seconds in user, nice and system mode, every process on the machine
    irq: float  # hardware and soft interrupts
    steal: float
    own: float  # CPU seconds of the benchmark's own processes, so far


def _stat() -> tuple[float, float, float]:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    # `user` includes guest time already (guest is not added again).
    return (user + nice + system) / TICK, (irq + softirq) / TICK, steal / TICK


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (all their threads)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICK


def _self_and_children() -> float:
    # This driver, and every child it has waited for (each wrk run, once it has exited).
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def sample(pids: list[int]) -> Sample:
    wall = time.monotonic()
    busy, irq, steal = _stat()
    return Sample(wall, busy, irq, steal, process_cpu(pids) + _self_and_children())


def between(before: Sample, after: Sample) -> dict:
    """The machine over an interval: cores used by other processes, and beside it interrupts and
    steal, each as CPU seconds per second of wall time."""
    wall = max(after.wall - before.wall, 1e-3)
    other = (after.busy - before.busy) - (after.own - before.own)
    return {
        "wall_s": wall,
        "own_cores": (after.own - before.own) / wall,
        # Tick-sampled machine totals against exact per-process totals: a few hundredths of a core
        # either way is sampling, so a small negative figure is reported as zero.
        "other_cores": max(0.0, other / wall),
        "irq_cores": (after.irq - before.irq) / wall,
        "steal_cores": (after.steal - before.steal) / wall,
    }


def valid(machine: dict) -> bool:
    return machine["other_cores"] <= OTHER_LIMIT


def idle_check(seconds: float = 2.0) -> dict:
    """The machine before the benchmark starts anything: other processes' CPU over `seconds`."""
    before = sample([])
    time.sleep(seconds)
    return between(before, sample([]))
