"""Dependency audit of the installed environment: ``pip check`` (every requirement satisfied) and ``pip-audit``
(known vulnerabilities, from PyPI's advisory data or OSV), as a report.

    python benchmarks/audit.py                  # table on stdout, JSON in benchmarks/results/pip_audit.json
    python benchmarks/audit.py --service osv

Exit status: 0 when nothing unignored is known (or the advisory database could not be reached: the report says
how many packages went unaudited, since pip-audit itself prints "No known vulnerabilities found" when it could
look none up), 1 for vulnerabilities that ``pip_audit_ignore.txt`` does not list with a reason, 2 for a broken
environment (``pip check``) or an ignore entry without a reason. CI runs it as a report, not a gate (it needs
the network)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine_info import run_record, write_result  # noqa: E402

IGNORE = Path(__file__).resolve().parent / "data" / "pip_audit_ignore.txt"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Audit:
    packages: int = 0
    audited: int = 0
    unreachable: bool = False  # no package could be looked up: the advisory database was not reached
    error: str = ""  # what pip-audit said when it wrote no report
    vulnerable: list[dict] = field(default_factory=list)  # {package, version, id, fix_versions}, not ignored
    ignored: list[dict] = field(default_factory=list)  # the same, with the reason from the ignore file

    @property
    def exit_status(self) -> int:
        return 1 if self.vulnerable else 0


def read_ignores(path: Path = IGNORE) -> dict[str, str]:
    """``{vulnerability id: reason}`` from lines ``ID  reason`` (``#`` comments); an id without a reason is
    refused: an ignored vulnerability must say why it does not apply or what is waited for."""
    ignores = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path.name}:{number}: {vuln_id} has no reason; write `ID  why it is ignored`")
        ignores[vuln_id] = reason.strip()
    return ignores


def classify(report: dict, ignores: dict[str, str]) -> Audit:
    """pip-audit's JSON report against the ignore list (a vulnerability is ignored under any of its aliases)."""
    deps = report.get("dependencies", [])
    audit = Audit(packages=len(deps), audited=sum("skip_reason" not in d for d in deps), error=report.get("error", ""))
    audit.unreachable = audit.audited == 0
    for dep in deps:
        for vuln in dep.get("vulns", []):
            found = {"package": dep["name"], "version": dep["version"], "id": vuln["id"]}
            found["fix_versions"] = vuln.get("fix_versions", [])
            reason = next((ignores[i] for i in [vuln["id"], *vuln.get("aliases", [])] if i in ignores), None)
            if reason:
                audit.ignored.append(found | {"reason": reason})
            else:
                audit.vulnerable.append(found)
    return audit


def run_pip_audit(service: str, timeout: int) -> dict:
    """pip-audit over this interpreter's environment (our own editable package skipped); its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip_audit", "--vulnerability-service", service, "--skip-editable"]
        cmd += ["--format", "json", "--progress-spinner", "off", "--output", str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"dependencies": [], "error": f"pip-audit took over {timeout} s"}
        if out.exists() and out.stat().st_size:
            return json.loads(out.read_text())
        return {"dependencies": [], "error": (done.stderr.strip().splitlines() or ["no report"])[-1][:300]}


def pip_check() -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", choices=["pypi", "osv"], default="pypi")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    consistent, check_output = pip_check()
    print(f"pip check: {'ok' if consistent else 'FAILED'} ({check_output.splitlines()[0] if check_output else ''})")
    try:
        ignores = read_ignores()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = run_pip_audit(args.service, args.timeout)
    audit = classify(report, ignores)
    if audit.unreachable:
        why = f": {audit.error}" if audit.error else f", {audit.packages} packages not audited"
        print(f"pip-audit ({args.service}): advisory database unreachable{why}")
    else:
        print(f"pip-audit ({args.service}): {audit.audited} of {audit.packages} packages audited")
    print("| package | version | vulnerability | fixed in | ignored because |\n|---|---|---|---|---|")
    for v in audit.vulnerable + audit.ignored:
        fixed = ", ".join(v["fix_versions"]) or "-"
        print(f"| {v['package']} | {v['version']} | {v['id']} | {fixed} | {v.get('reason', '-')} |")
    record = run_record(service=args.service, pip_check=consistent, pip_check_output=check_output, **asdict(audit))
    write_result(RESULTS / "pip_audit.json", record)
    return 2 if not consistent else audit.exit_status


if __name__ == "__main__":
    sys.exit(main())
