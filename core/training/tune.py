"""Hyperparameter search with Optuna (grid, random, TPE) over a YAML search space; each trial is a real run.

Search space YAML (dotted keys reach nested settings):

    learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}
    lora.r: {choices: [4, 8, 16]}
    epochs: {low: 1, high: 4}          # ints when both bounds are ints
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from core.config import Settings, _deep_merge, _nest, read_yaml_mapping
from core.errors import ConfigError
from core.training.config import TrainConfig


def load_space(path: Path) -> dict:
    space = read_yaml_mapping(path, "search space")
    if not space:
        raise ConfigError(f"search space {path} must map setting names to ranges or choices")
    for key, spec in space.items():
        if not isinstance(spec, dict) or not ("choices" in spec or {"low", "high"} <= set(spec)):
            raise ConfigError(f"search space {path}: {key} needs 'choices: [...]' or 'low' and 'high'")
    return space


def _suggest(trial, key: str, spec: dict):
    if "choices" in spec:
        return trial.suggest_categorical(key, spec["choices"])
    low, high = spec["low"], spec["high"]
    if isinstance(low, int) and isinstance(high, int) and not spec.get("log"):
        return trial.suggest_int(key, low, high)
    return trial.suggest_float(key, float(low), float(high), log=bool(spec.get("log")))


def run_search(base: TrainConfig, space: dict, settings: Settings, sampler: str, trials: int, output: Path) -> dict:
    import optuna

    from core.training.trainer import train

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if sampler == "grid":
        if any("choices" not in spec for spec in space.values()):
            raise ConfigError("the grid sampler needs 'choices' for every parameter")
        chosen_sampler = optuna.samplers.GridSampler({k: v["choices"] for k, v in space.items()}, seed=base.seed)
    elif sampler == "random":
        chosen_sampler = optuna.samplers.RandomSampler(seed=base.seed)
    elif sampler == "tpe":
        chosen_sampler = optuna.samplers.TPESampler(seed=base.seed)
    else:
        raise ConfigError(f"unknown sampler {sampler!r}: use tpe, random or grid")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=chosen_sampler)
    rows: list[dict] = []

    def objective(trial) -> float:
        values = {k: _suggest(trial, k, spec) for k, spec in space.items()}
        data = base.model_dump()
        for key, value in values.items():
            data = _deep_merge(data, _nest(key, value))
        data.update(output=str(output / f"trial-{trial.number}"), resume=False)
        result = train(TrainConfig(**data), settings)
        m = result.metrics
        # Lower is better: validation loss for LMs, 1 - macro-F1 for classifiers.
        score = 1 - m["macro_f1"] if "macro_f1" in m else m.get("loss", m.get("train_loss"))
        rows.append({"number": trial.number, **values, "objective": score, "run": str(result.run_dir)})
        return score

    study.optimize(objective, n_trials=trials)
    best = min(rows, key=lambda r: r["objective"])
    best_cfg = base.model_dump()
    for key in space:
        best_cfg = _deep_merge(best_cfg, _nest(key, best[key]))
    best_cfg.update(output=None, resume=False)
    (output / "best_config.yaml").write_text(yaml.safe_dump(best_cfg, sort_keys=False, allow_unicode=True))
    with (output / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = Table(title=f"{sampler} search, {len(rows)} trials (objective: lower is better)")
    for col in rows[0]:
        table.add_column(col)
    for r in sorted(rows, key=lambda r: r["objective"]):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()])
    Console().print(table)
    summary = {"best": best, "trials": rows, "sampler": sampler}
    (output / "results.json").write_text(json.dumps(summary, indent=2))
    return summary
