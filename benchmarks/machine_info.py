"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def vector_extensions() -> list[str]:
    """The SIMD sets that decide which int8/fp32 kernels run (results differed between AVX2 and AVX-512 CPUs)."""
    try:
        flags = next(
            (line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), ""
        ).split()
    except OSError:
        return []
    return [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8") if f in flags]


def machine() -> dict:
    """The machine, and how busy it was when this was called (latencies on a shared machine are upper bounds)."""
    return {
        "platform": platform.platform(),
        "processor": cpu_name(),
        "vector_extensions": vector_extensions(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
