"""What every benchmark records: the command, the date and the machine it ran on; and how results are written."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def command() -> str:
    """The command line that reproduces this run, the script path relative to the repository root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return " ".join(["python", str(shown), *sys.argv[1:]])


def run_record(**fields: object) -> dict:
    """The head of a results record (command, UTC date, machine) followed by the benchmark's own fields."""
    return {
        "command": command(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **fields,
    }


def write_result(path: str | Path, record: dict) -> Path:
    """Write a results record as UTF-8 JSON (Chinese kept readable), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
