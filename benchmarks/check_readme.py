"""Every measured figure in the README must come from a JSON file under ``benchmarks/results/``.

A block of the README (a table or a paragraph) holding figures is preceded by a marker naming its JSON files:

    <!-- figures: benchmarks/results/generation.json benchmarks/results/finetune.json -->

Checks:
- every number in a marked block (outside `code`) is found in one of its JSON files, to the precision printed
  (a percentage may be stored as a fraction, seconds may be shown as ms; ``1.5k`` is 1500); goals
  and limits are not figures;
- an unmarked block holds no measurement (a number with a unit such as ms, tok/s, req/s, %, ×, or a table cell
  of bare figures), unless it is a goal or a limit (``goal ...``, ``≤ 5%``, ``< 150 ms``, ``±15%``);
- every JSON file named exists.

    python benchmarks/check_readme.py [README.md]      # exit 1 and one line per problem when something is off
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!--\s*figures:\s*(.+?)\s*-->")
NUMBER = re.compile(r"(?<![\w.])([-−]?\d+(?:,\d{3})*(?:\.\d+)?)(k)?(?![\w.]*\d)")
# A number followed by a unit of measurement; what the unmarked-block rule looks for.
MEASUREMENT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:\s?(?:ms|µs|tok/s|req/s|s/step|%|MB|GB)|×)(?!\w)")
# A table cell that is only figures ("12.7", "14/20", "3.9 / 5.5 ms"): a measurement whatever its unit.
FIGURE_CELL = re.compile(r"^\s*\*{0,2}[-−]?\d[\d.,]*(?:\s*/\s*[\d.,]+)*\s*(?:ms|s|%|×|MB|GB)?\*{0,2}\s*$")
LIMIT_BEFORE = re.compile(r"(?:goal[^|;)]*|[<>≤≥±~]=?\s*|under\s+|within\s+|at most\s+|at least\s+)$", re.I)
DATE_OR_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}|\d+\.\d+\.\d+")


def blocks(text: str) -> Iterator[tuple[int, list[str], list[str]]]:
    """(first line number, JSON files named by a marker or [], lines) per blank-line separated block, code
    fences skipped."""
    lines = text.splitlines()
    pending: list[str] = []
    current: list[str] = []
    start = 0
    in_code = False
    for i, line in enumerate([*lines, ""], 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        marker = MARKER.search(line)
        if marker:
            pending = marker.group(1).split()
            continue
        if line.strip():
            if not current:
                start = i
            current.append(line)
        elif current:
            yield start, pending, current
            pending, current = [], []


def json_numbers(value: object) -> Iterator[float]:
    """Every number in a JSON document, including numbers written inside strings."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield float(value)
    elif isinstance(value, str):
        for m in NUMBER.finditer(value):
            yield parse(m.group(1), m.group(2))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from json_numbers(k)
            yield from json_numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from json_numbers(v)


def parse(number: str, thousands: str | None = None) -> float:
    value = float(number.replace("−", "-").replace(",", ""))
    return value * 1000 if thousands else value


def matches(shown: str, thousands: str | None, known: list[float]) -> bool:
    """Does a JSON number, rounded as the README prints it, give the shown figure? Fractions may be shown as %,
    seconds as ms and ms as s."""
    value = parse(shown, thousands)
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    tolerance = 0.5 * 10**-decimals * (1000 if thousands else 1) + 1e-9
    scales = (1, 100, 1000, 0.001)  # as stored, a fraction shown as %, seconds shown as ms, ms shown as s
    return any(abs(v * k - value) <= tolerance for v in known for k in scales)


def strip_code(line: str) -> str:
    return re.sub(r"`[^`]*`", " ", line)


def check(readme: Path) -> list[str]:
    problems = []
    cache: dict[str, list[float] | None] = {}
    for start, files, lines in blocks(readme.read_text(encoding="utf-8")):
        known: list[float] = []
        for name in files:
            if name not in cache:
                path = ROOT / name
                cache[name] = list(json_numbers(json.loads(path.read_text()))) if path.is_file() else None
            if cache[name] is None:
                problems.append(f"{readme.name}:{start}: marker names {name}, which does not exist")
            else:
                known += cache[name] or []
        for offset, line in enumerate(lines):
            text = DATE_OR_VERSION.sub(" ", strip_code(line))
            where = f"{readme.name}:{start + offset}"
            if files:
                for m in NUMBER.finditer(text):
                    if LIMIT_BEFORE.search(text[: m.start()]):
                        continue  # a goal or a limit, not a measurement
                    if not matches(m.group(1), m.group(2), known):
                        problems.append(f"{where}: {m.group(0)} is not in {', '.join(files)}")
                continue
            found = [m.group(0) for m in MEASUREMENT.finditer(text) if not LIMIT_BEFORE.search(text[: m.start()])]
            if text.lstrip().startswith("|"):
                found += [cell.strip() for cell in text.strip().strip("|").split("|") if FIGURE_CELL.match(cell)]
            problems += [f"{where}: measured figure {f!r} has no <!-- figures: ... --> marker" for f in found]
    return problems


def main() -> None:
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "README.md"
    problems = check(readme)
    for p in problems:
        print(p)
    print(f"{readme}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
