"""Models users make: run folders (``llmeco train`` output), GGUF exports of them, and names registered for
them. Stored in ``$LLMECO_HOME/registered_models.json``: per name its versions, the active (current) one, an optional
canary (a candidate version taking a share of the traffic) and a history of every change (register, canary, promote,
rollback) with who made it and when. Running servers and apps re-read the file when it changes (see
``core/models/routing.py``), so a change here takes effect there without a restart."""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError, LLMEcoError, ModelNotAvailableError
from core.models.embedded import ModelFiles

SERVING_HINTS = "llmeco.json"  # written by `llmeco export`: how the folder wants to be served


def serving_hints(folder: Path) -> dict:
    path = Path(folder) / SERVING_HINTS
    return json.loads(path.read_text()) if path.is_file() else {}


def run_files(run_dir: Path) -> tuple[str, ModelFiles] | None:
    """(task, files) for a training run folder or a GGUF export of one, or None when ``run_dir`` is neither.
    ``files.gguf`` is the run's checked GGUF export when it has one (the llama.cpp engine serves it)."""
    hints = serving_hints(run_dir)
    if hints.get("format") == "gguf":
        gguf = Path(run_dir) / hints["gguf"]
        source = Path(hints["exported_from"])
        found = run_files(source) if (source / "run.json").exists() else None
        files = found[1] if found else ModelFiles(path=gguf, fine_tuned=True)
        return "text-generation", replace(files, gguf=gguf)
    info_path = Path(run_dir) / "run.json"
    if not info_path.exists():
        return None
    info = json.loads(info_path.read_text())
    model_dir = Path(run_dir) / "model"
    if not model_dir.is_dir():
        raise ModelNotAvailableError(f"run {run_dir} has no trained model yet (status: {info.get('status')})")
    gguf = Path(info["gguf"]) if info.get("gguf") and Path(info["gguf"]).is_file() else None
    if (model_dir / "adapter_config.json").exists():
        files = ModelFiles(path=model_dir, gguf=gguf, adapter=model_dir, base=Path(info["base_path"]), fine_tuned=True)
        return info["task"], files
    return info["task"], ModelFiles(path=model_dir, gguf=gguf, fine_tuned=True)


def link_gguf(run_dir: Path, gguf: Path) -> None:
    """Record a checked GGUF export in its run, so the run itself is served by llama.cpp from now on."""
    info_path = Path(run_dir) / "run.json"
    info = json.loads(info_path.read_text())
    info["gguf"] = str(Path(gguf).resolve())
    info_path.write_text(json.dumps(info, indent=2))


def gguf_for(settings: Settings, ref: str) -> Path | None:
    """The GGUF of a run, export or registered name, without loading anything; None when it has none."""
    path = active_run(settings, ref) or Path(ref).expanduser()
    if not path.is_dir():
        return None
    try:
        found = run_files(path)
    except ModelNotAvailableError:
        return None
    return found[1].gguf if found else None


def _store(settings: Settings) -> Path:
    return settings.home / "registered_models.json"


def load_names(settings: Settings) -> dict:
    path = _store(settings)
    return json.loads(path.read_text()) if path.exists() else {}


def _save(settings: Settings, names: dict) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    tmp = _store(settings).with_suffix(".tmp")
    tmp.write_text(json.dumps(names, indent=2))
    tmp.replace(_store(settings))  # atomic: a crash never leaves half a registry, a reader never sees one


class GateError(LLMEcoError):
    """A candidate version did worse than the current one on the gate's test set."""


# Called with the settings and each change's event (``history`` entry plus ``name``) after it is saved, in the
# process that made it. The data-governance audit log subscribes when ``core.governance.audit`` is imported.
_LISTENERS: list[Callable[[Settings, dict], None]] = []


def on_change(listener: Callable[[Settings, dict], None]) -> None:
    """Call ``listener(settings, event)`` after every register, canary, promote and rollback made in this process."""
    _LISTENERS.append(listener)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return str(os.getuid())


@contextmanager
def _changing(settings: Settings, name: str, action: str) -> Iterator[tuple[dict, dict]]:
    """Read-modify-write of one name under an exclusive lock (two CLIs never lose each other's change); yields
    (names, event) for the caller to fill in. Nothing is saved when the block raises."""
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.home / "registered_models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        names = load_names(settings)
        event = {"time": time.time(), "action": action, "by": _who()}
        yield names, event
        names[name].setdefault("history", []).append(event)
        _save(settings, names)
    # Imported here, not at the top (it imports this module): its import subscribes the audit log, so every change,
    # whether from the CLI, a web UI or a script, is audited once, even where nothing else imported governance.
    import core.governance.audit  # noqa: F401

    for listener in _LISTENERS:
        listener(settings, {"name": name, **event})


def _entry(names: dict, name: str) -> dict:
    if name not in names:
        raise ConfigError(f"no registered model {name!r}; registered: {', '.join(sorted(names)) or 'none'}")
    return names[name]


def _check_version(name: str, entry: dict, version: int) -> None:
    if not 1 <= version <= len(entry["versions"]):
        raise ConfigError(f"{name!r} has versions 1..{len(entry['versions'])}; there is no v{version}")


def _check_share(share: float) -> None:
    if not 0.0 < share < 1.0:
        raise ConfigError(f"a canary share is a fraction between 0 and 1 (exclusive), e.g. 0.2; got {share}")


def register(
    settings: Settings, run_dir: Path, name: str, canary: float | None = None, gate: Gate | None = None
) -> int:
    """Add ``run_dir`` as the next version of ``name`` and return its number. It becomes the active version, ending
    any canary, unless ``canary`` is a share: then it is the candidate and takes that share of the traffic. With a
    ``gate``, it is only registered when its eval on the gate's test set is no worse than the active version's."""
    run_dir = Path(run_dir).expanduser().resolve()
    if run_files(run_dir) is None:
        raise ConfigError(f"{run_dir} is not a training run folder (no run.json) or a GGUF export")
    quality = serving_hints(run_dir).get("quality")
    if quality is not None and not quality["passed"]:
        why = "; ".join(quality["reasons"])
        raise ConfigError(f"{run_dir} fell below its quality tolerance ({why}); it cannot be registered")
    if canary is not None:
        _check_share(canary)
    current = active_run(settings, name)
    if canary is not None and current is None:
        raise ConfigError(f"{name!r} has no current version to compare a canary with: register it without --canary")
    verdict = gate.check(settings, run_dir, current) if gate is not None else None
    with _changing(settings, name, "register") as (names, event):
        entry = names.setdefault(name, {"versions": [], "active": None})
        version = len(entry["versions"]) + 1
        entry["versions"].append({"version": version, "run": str(run_dir), "registered": time.time()})
        event |= {"version": version, "run": str(run_dir)}
        if verdict is not None:
            event["gate"] = verdict
        if canary is None:
            event["previous"] = entry["active"]
            entry["active"] = version
            entry.pop("canary", None)
        else:
            entry["canary"] = {"version": version, "share": canary}
            event["share"] = canary
    return version


def rollback(settings: Settings, name: str, version: int | None = None) -> int:
    """Make an earlier version active (default: the one before the active one); ends any canary."""
    with _changing(settings, name, "rollback") as (names, event):
        entry = _entry(names, name)
        if version is None and entry["active"] == 1:
            raise ConfigError(f"{name!r} serves v1, its first version: there is no earlier one to roll back to")
        target = version if version is not None else entry["active"] - 1
        if not 1 <= target <= len(entry["versions"]):
            raise ConfigError(f"{name!r} has versions 1..{len(entry['versions'])}; cannot activate {target}")
        event |= {"version": target, "previous": entry["active"]}
        entry["active"] = target
        entry.pop("canary", None)
    return target


def set_canary(settings: Settings, name: str, share: float, version: int | None = None) -> int | None:
    """Send ``share`` of ``name``'s traffic to ``version`` (default: the current candidate, else the newest version);
    a share of 0 ends the canary. Returns the candidate version (None once ended)."""
    action = "canary" if share else "canary_stop"
    with _changing(settings, name, action) as (names, event):
        entry = _entry(names, name)
        if not share:
            event["version"] = entry.pop("canary", {}).get("version")
            return None
        _check_share(share)
        version = version or entry.get("canary", {}).get("version") or len(entry["versions"])
        _check_version(name, entry, version)
        if version == entry["active"]:
            raise ConfigError(f"v{version} is {name!r}'s active version; a canary needs another version")
        entry["canary"] = {"version": version, "share": share}
        event |= {"version": version, "share": share}
    return version


def promote(settings: Settings, name: str) -> int:
    """Make the canary's candidate the active version (the canary ends). Returns the new active version."""
    with _changing(settings, name, "promote") as (names, event):
        entry = _entry(names, name)
        if "canary" not in entry:
            raise ConfigError(
                f"{name!r} has no candidate to promote: start one with `llmeco models canary {name} --share 0.2`"
                f" or `llmeco models register RUN --name {name} --canary 0.2`"
            )
        event |= {"version": entry["canary"]["version"], "previous": entry["active"]}
        entry["active"] = entry.pop("canary")["version"]
    return entry["active"]


def describe(settings: Settings, name: str) -> dict:
    """``name``'s registry entry, each version with its role (current, candidate, or empty) and the headline metric
    of its recorded evals."""
    entry = _entry(load_names(settings), name)
    canary = entry.get("canary", {})
    versions = []
    for v in entry["versions"]:
        role = "current" if v["version"] == entry["active"] else ""
        if v["version"] == canary.get("version"):
            role = f"candidate ({canary['share']:.0%})"
        path = Path(v["run"]) / EVALS
        evals = json.loads(path.read_text()).values() if path.exists() else []
        summary = [
            {"data": e["data"], "task": e["task"], "metric": m, "value": e[m]}
            for e in evals
            if (m := GATE_METRICS.get(e["task"], ("",))[0]) in e
        ]
        versions.append({**v, "role": role, "evals": summary})
    return {**entry, "name": name, "versions": versions}


def history(settings: Settings, name: str | None = None) -> list[dict]:
    """Every change to the registered names (or to ``name``), oldest first, each with its ``name``."""
    names = load_names(settings)
    events = [{"name": n, **e} for n, entry in names.items() if name in (None, n) for e in entry.get("history", [])]
    return sorted(events, key=lambda e: e["time"])


def active_run(settings: Settings, name: str) -> Path | None:
    entry = load_names(settings).get(name)
    if not entry:
        return None
    return Path(entry["versions"][entry["active"] - 1]["run"])


def run_folder(settings: Settings, ref: str) -> Path | None:
    """The run folder (or GGUF export) ``ref`` names, directly or as a registered name's active version."""
    path = active_run(settings, ref) or Path(ref).expanduser()
    return path if (path / "run.json").is_file() or (path / SERVING_HINTS).is_file() else None


# ----- routing: which version answers a request --------------------------------------------------------------------
def routed_versions(entry: dict) -> set[int]:
    """Versions that receive traffic: the active one and the canary's candidate."""
    return {entry["active"], *([entry["canary"]["version"]] if "canary" in entry else [])}


def choose_version(name: str, entry: dict, key: str | None, count: int) -> int:
    """The version that answers a request for ``name``. With a canary of share s: a request with a ``key`` (a user
    or session id) goes to the candidate when a hash of (name, key) falls below s, so a user keeps one version;
    without one, the ``count``-th request goes there when it crosses a multiple of 1/s (exactly s of any run of
    consecutive requests, deterministic: no coin flips to make an A/B test flaky)."""
    canary = entry.get("canary")
    if not canary:
        return entry["active"]
    share = canary["share"]
    if key is not None:
        point = int.from_bytes(hashlib.sha256(f"{name}\0{key}".encode()).digest()[:8], "big") / 2**64
        hit = point < share
    else:
        hit = math.floor((count + 1) * share) > math.floor(count * share)
    return canary["version"] if hit else entry["active"]


# ----- offline gate: recorded evals of a run on named test sets ----------------------------------------------------
EVALS = "evals.json"  # in a run folder: {test-set fingerprint: latest eval result on it}
# The metric a gate compares for each eval task, and whether higher is better.
GATE_METRICS = {"lm": ("loss", False), "classification": ("macro_f1", True), "generation": ("rouge_l", True)}


def test_set_key(data: str | Path) -> str:
    """Identifies a test set by its bytes (a renamed or moved copy is the same set; an edited one is not)."""
    return hashlib.sha256(Path(data).read_bytes()).hexdigest()[:16]


def record_eval(run_dir: Path, result: dict) -> None:
    """Keep an eval result (``llmeco eval`` on a run or registered name) in the run, for gates to compare."""
    path = Path(run_dir) / EVALS
    evals = json.loads(path.read_text()) if path.exists() else {}
    evals[test_set_key(result["data"])] = {**result, "time": time.time()}
    path.write_text(json.dumps(evals, indent=2, ensure_ascii=False))


def eval_run(settings: Settings, run_dir: Path, data: Path, task: str) -> dict:
    """``run_dir``'s eval on ``data``: the one recorded by ``llmeco eval``, else evaluated now (and recorded)."""
    path = Path(run_dir) / EVALS
    found = json.loads(path.read_text()).get(test_set_key(data)) if path.exists() else None
    if found is not None and task in ("auto", found["task"]):
        return found
    from core.training.evaluate import evaluate

    return evaluate(str(run_dir), str(data), settings, task=task)


@dataclass(frozen=True)
class Gate:
    """Refuse a new version whose eval on the test set ``data`` is worse than the active version's by more than
    ``tolerance``, in the eval task's metric: loss for lm, macro-F1 for classification, ROUGE-L for generation."""

    data: Path
    task: str = "auto"
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.task not in ("auto", *GATE_METRICS):
            raise ConfigError(f"a gate compares auto, lm, classification or generation evals, not {self.task!r}")
        if not Path(self.data).is_file():
            raise ConfigError(f"gate test set {self.data} does not exist")

    def check(self, settings: Settings, candidate: Path, current: Path | None) -> dict:
        """The comparison (metric, both values); raises ``GateError`` saying why when the candidate is worse."""
        new_eval = eval_run(settings, candidate, self.data, self.task)
        metric, higher_better = GATE_METRICS[new_eval["task"]]
        verdict = {"data": str(self.data), "metric": metric, "candidate": new_eval[metric], "current": None}
        if current is None:
            return verdict
        verdict["current"] = eval_run(settings, current, self.data, new_eval["task"])[metric]
        new, old = verdict["candidate"], verdict["current"]
        if (old - new if higher_better else new - old) > self.tolerance:
            raise GateError(
                f"gate refused: {metric} on {Path(self.data).name} is {new:.4f} for the candidate vs {old:.4f} for"
                f" the current version ({'higher' if higher_better else 'lower'} is better, tolerance"
                f" {self.tolerance}); nothing was registered"
            )
        return verdict
