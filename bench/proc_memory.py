"""One reader of a process's memory for the benches (Linux /proc; 0 elsewhere).

``rss``: resident pages, the process's own view (soak.py: does it grow?). ``pss``:
proportional set size, pages shared with other processes (the fork server's torch, which
every training child shares) counted once across them, so a sum over processes is what
they really cost (memory.py). PSS falls back to RSS where smaps_rollup is missing."""
from __future__ import annotations

import os

_SOURCES = {"rss": [("status", "VmRSS:")],
            "pss": [("smaps_rollup", "Pss:"), ("status", "VmRSS:")]}


def memory_bytes(pid: int | None = None, kind: str = "rss") -> int:
    """``kind`` ("rss" or "pss") of process ``pid`` (this one by default) in bytes."""
    pid = os.getpid() if pid is None else pid
    for name, key in _SOURCES[kind]:
        try:
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
    return 0
