"""The processor's model name and feature flags, read from Linux's ``/proc/cpuinfo``. No torch here: the doctor reads
it while a dependency may be broken."""

from __future__ import annotations

import platform
import re
from pathlib import Path


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str] | None]:
    """(model name, flags) of the first processor; flags None where the file cannot be read or has none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown", None
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return (model[1].strip() if model else platform.processor() or platform.machine() or "unknown",
            set(flags[1].split()) if flags else None)
