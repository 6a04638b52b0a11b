"""Run folders: every training run records its resolved config, data fingerprint, chosen hyperparameters,
metrics, curves and a model card next to the model it produced.

    <run>/run.json  config.yaml  data.json  metrics.jsonl  metrics.json  loss.png  README.md  model/  checkpoints/
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.config import Settings
from core.governance.lineage import read_sources


def start_run(run_dir: Path, cfg, chosen, data, *, base_ref: str, base_path: Path, task: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = read_run(run_dir)
    info = {
        "name": run_dir.name,
        "task": task,
        "method": cfg.method if task == "text-generation" else "classifier",
        "base_model": base_ref,
        "base_path": str(base_path),
        "created": previous.get("created") if previous else time.strftime("%Y-%m-%dT%H:%M:%S"),
        "status": "running",
        "labels": data.labels if task == "classification" else None,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
    (run_dir / "run.json").write_text(json.dumps(info, indent=2))
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump({"config": cfg.model_dump(), "chosen": chosen.to_dict()}, sort_keys=False, allow_unicode=True)
    )
    (run_dir / "data.json").write_text(
        json.dumps(
            {
                "fingerprint": data.fingerprint,
                "format": data.format,
                "train_examples": len(data.train),
                "val_examples": len(data.val),
                "cleaning": data.report.to_dict(),
                "sources": read_sources(cfg.data),  # the conversations it came from (core/governance/lineage.py)
            },
            indent=2,
            ensure_ascii=False,
        )
    )


def finish_run(run_dir: Path, status: str, metrics: dict | None = None, error: str | None = None) -> None:
    """Record how the run ended; run.json is replaced whole (a full disk cannot leave it half-written)."""
    info = read_run(run_dir) or {}
    info["status"] = status
    info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    if error:
        info["error"] = error
    partial = run_dir / "run.json.partial"
    partial.write_text(json.dumps(info, indent=2))
    partial.replace(run_dir / "run.json")
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (run_dir / "README.md").write_text(model_card(run_dir, info, metrics), encoding="utf-8")


def read_run(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_run_config(run_dir: Path) -> dict:
    """``config.yaml`` of a run: ``{"config": <TrainConfig as given>, "chosen": <hyperparameters used>}``."""
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8")) or {}


def model_card(run_dir: Path, info: dict, metrics: dict) -> str:
    cfg = read_run_config(run_dir)
    data = json.loads((run_dir / "data.json").read_text())
    lines = [
        f"# {info['name']}",
        "",
        f"Fine-tuned from `{info['base_model']}` with {info['method']} ({info['task']}), by llm-ecosystem.",
        "",
        "## Data",
        f"- source: `{cfg['config']['data']}` ({data['format']}, fingerprint `{data['fingerprint'][:16]}`)",
        f"- {data['train_examples']} training / {data['val_examples']} validation examples",
        "",
        "## Hyperparameters",
        *[f"- {k}: {v}" for k, v in cfg["chosen"].items() if v is not None],
        "",
        "## Results",
        *[f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in metrics.items()],
        "",
        "![loss curve](loss.png)",
        "",
        "## Use",
        f'`llmeco generate --model {run_dir} "..."` or `llmeco models register {run_dir} --name NAME`.',
    ]
    return "\n".join(lines) + "\n"


@dataclass
class RunSummary:
    path: Path
    name: str
    task: str
    method: str
    base_model: str
    status: str
    created: str
    metrics: dict


def list_runs(settings: Settings) -> list[RunSummary]:
    out = []
    if not settings.runs_dir.is_dir():
        return out
    for d in sorted(settings.runs_dir.iterdir()):
        info = read_run(d)
        if info is None:
            continue
        metrics_file = d / "metrics.json"
        out.append(
            RunSummary(
                path=d,
                name=info["name"],
                task=info["task"],
                method=info["method"],
                base_model=info["base_model"],
                status=info["status"],
                created=info.get("created", ""),
                metrics=json.loads(metrics_file.read_text()) if metrics_file.exists() else {},
            )
        )
    return out
