"""Whether a process recorded earlier still runs: the one probe behind `sfctl up`'s record and
the deploy lock. A pid alone can be recycled, so its start time (from /proc) is what tells the
recorded process from a new one that got its number."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PidProbe:
    """What this host says about a pid: whether it runs, and since when (None: cannot tell)."""

    exists: bool
    start: str | None


def probe_pid(pid: int) -> PidProbe:
    """Whether `pid` runs on this host (another user's process too), and its start time in clock
    ticks since boot (/proc/<pid>/stat field 22) when /proc tells it."""
    if pid <= 0:
        return PidProbe(exists=False, start=None)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return PidProbe(exists=False, start=None)
    except PermissionError:
        pass  # another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS), or it has just exited
        return PidProbe(exists=not Path("/proc/self").exists(), start=None)
    fields = stat.rsplit(")", 1)[-1].split()  # the name in parentheses may hold spaces
    if not fields or fields[0] in ("Z", "X"):  # exited, not yet reaped
        return PidProbe(exists=False, start=None)
    return PidProbe(exists=True, start=fields[19] if len(fields) > 19 else None)
