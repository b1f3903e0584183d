"""Is a process alive, and is it still the process we saw: what claims (runner/claims.py) and the embedding cache's
scratch folders (encoders/cache.py) ask about the process that wrote them. Here, below both, so that neither imports
the other."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists here (another user's counts; a reused pid counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


@dataclass(frozen=True)
class ProcessIdentity:
    """What tells a process from any later one given its pid: the kernel's boot, the pid namespace, the start tick."""
    boot_id: str
    pid_ns: str
    start_ticks: int


def process_identity(pid: int) -> ProcessIdentity | None:
    """Process `pid`'s identity as /proc shows it (Linux); None when it does not exist or there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pid_ns = os.readlink("/proc/self/ns/pid")  # a pid is only visible in our own namespace (or below)
    except OSError:
        return None
    # field 22 (starttime, clock ticks since boot); field 2 (comm) may hold spaces and ")", so count from the last
    return ProcessIdentity(boot_id, pid_ns, int(stat[stat.rindex(")") + 2:].split()[19]))
