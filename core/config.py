"""Settings: defaults < YAML file < environment (``LLMECO_*``) < ``key=value`` overrides.

One pydantic model describes every setting. A YAML file (``--config`` or ``LLMECO_CONFIG``) and environment
variables (``LLMECO_TEXT__MODEL=...``; ``__`` separates nesting) layer on the defaults; CLI overrides such as
``text.temperature=0.7`` win over everything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently ignored


class TextSettings(_Section):
    model: str = "smollm2-135m-instruct"
    engine: Literal["auto", "transformers", "llamacpp", "remote"] = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # CPU: per-channel int8 dynamic quantisation of Linear layers (~2.8x fp32 speed, coherent output).
    quantize: Literal["auto", "none", "int8"] = "auto"
    threads: int | None = None  # CPU threads for llama.cpp / torch; None = all cores
    context_length: int = 4096
    max_new_tokens: int = 512
    remote_base_url: str | None = None  # OpenAI-compatible server for engine=remote (vLLM, TGI, ...)
    remote_api_key: str | None = None


class EmbeddingSettings(_Section):
    model: str = "all-minilm-l6-v2"
    device: str = "auto"
    batch_size: int = 32
    threads: int | None = None  # CPU threads for numpy engines (use-multilingual-v3); None = 1


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # when set, every /v1 route needs "Authorization: Bearer <key>" (see api_keys)
    max_queue: int = 64  # requests waiting per model before the server answers 503 (with Retry-After)
    max_body_mb: float = 110  # larger request bodies get a 413 (an audio upload may be 100 MB)
    max_tokens_limit: int = 4096  # the most max_tokens a request may ask for; above: 400 naming this setting
    rate_limit_per_minute: int = 0  # requests per minute per API key (per client without keys); 0 = no limit
    max_batch_size: int = 8  # non-streaming requests merged into one batched generate call
    max_loaded_models: int = 2


class PortalSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    auth: list[str] = []  # "user:password" logins for the web UI (Gradio's auth=); empty: no login

    @field_validator("auth", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return str(value).split(",") if isinstance(value, str) else value

    def logins(self) -> list[tuple[str, str]] | None:
        """Gradio's ``auth=``: (user, password) pairs, or None for no login."""
        pairs = [tuple(item.split(":", 1)) for item in self.auth if item.strip()]
        if any(len(p) != 2 or not all(p) for p in pairs):
            raise ConfigError("portal.auth takes user:password entries, e.g. LLMECO_PORTAL__AUTH=ann:s3cret")
        return pairs or None


class GovernanceSettings(_Section):
    """Retention and the audit log (``llmeco data ...``, core/governance)."""

    retention_days: int | None = None  # stored conversations, documents and audio older than this are purged
    anonymise: bool = False  # purge anonymises (unlinks the person, redacts the text) instead of deleting
    purge_interval_hours: float = 24.0  # how often a running API purges when retention_days is set
    audit_url: str | None = None  # SQLAlchemy URL of the audit log; None: SQLite under $LLMECO_HOME/governance


def default_home() -> Path:
    return Path(user_data_dir("llmeco", appauthor=False))


class Settings(_Section):
    """Everything configurable. All state lives under ``home`` unless a setting points elsewhere."""

    home: Path = Field(default_factory=default_home)
    trust_remote_code: bool = False  # never on by default: it runs code from the model repository
    log_format: Literal["text", "json"] = "text"  # services' logs; json: one object per line with the request id
    allow_pickle_weights: bool = False  # PyTorch pickles (pytorch_model.bin) can run code: safetensors only
    # Keys every REST API accepts (``LLMECO_API_KEYS=k1,k2`` or a YAML list), besides each API's own api_key.
    api_keys: list[str] = []
    text: TextSettings = TextSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    server: ServerSettings = ServerSettings()
    portal: PortalSettings = PortalSettings()
    governance: GovernanceSettings = GovernanceSettings()
    # One free-form section per app (``apps.support_bot.kb=demo``); each app validates its own section, so
    # adding an app never touches this file.
    apps: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return str(value).split(",") if isinstance(value, str | int) else value

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn ``["text.temperature=0.7", "server.port=9000"]`` into a nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. text.model=NAME)")
        out = _deep_merge(out, _nest(key.strip(), yaml.safe_load(raw) if raw.strip() else ""))
    return out


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_layer() -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in os.environ.items():
        if not name.startswith("LLMECO_") or name == "LLMECO_CONFIG":
            continue
        parts = name[len("LLMECO_") :].lower().split("__")
        node = layer
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return layer


def load_settings(
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    values: dict[str, Any] | None = None,
) -> Settings:
    """Build settings from defaults, a YAML file, ``LLMECO_*`` env vars, ``key=value`` overrides and
    ``values`` (dotted keys taken as-is, for CLI flags), later layers winning."""
    path = config_file or os.environ.get("LLMECO_CONFIG")
    data = read_yaml_mapping(path, "config file") if path else {}
    data = _deep_merge(data, _env_layer())
    data = _deep_merge(data, parse_overrides(overrides))
    for key, value in (values or {}).items():
        data = _deep_merge(data, _nest(key, value))
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {validation_problems(exc)}") from None


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; every failure is a ConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {p} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{what} {p} must hold a mapping of settings")
    return loaded


def validation_problems(exc: ValidationError) -> str:
    """One line per pydantic error: ``dotted.key: message``."""
    return "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors())
