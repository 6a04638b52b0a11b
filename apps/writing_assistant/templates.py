"""Kinds of writing: one YAML file a kind (``shared_data/writing_assistant/templates/`` plus the user's own in
``$LLMECO_HOME/writing_assistant/templates/``, which win on a name clash)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apps.writing_assistant.config import SHARED_DATA, WriterConfig, writer_home
from apps.writing_assistant.textutil import Language
from core.config import Settings, read_yaml_mapping, validation_problems
from core.errors import ConfigError, InvalidRequestError


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    description: str = ""
    headings: bool = False  # sections get "## " headings in the draft
    sections: dict[Language, list[str]]  # the default plan, in order; short drafts keep the first and last
    instructions: dict[Language, str] = {}

    def plan(self, language: Language, n: int) -> list[str]:
        """``n`` section titles: the first n-1 defaults plus the closing one."""
        names = self.sections.get(language) or next(iter(self.sections.values()))
        n = max(1, min(n, len(names)))
        return names[:n] if n == len(names) else [*names[: n - 1], names[-1]]


def template_dirs(settings: Settings) -> list[Path]:
    config = WriterConfig.from_settings(settings)
    user = Path(config.templates_dir) if config.templates_dir else writer_home(settings) / "templates"
    return [SHARED_DATA / "templates", user]


def load_templates(settings: Settings) -> dict[str, Template]:
    found: dict[str, Template] = {}
    for folder in template_dirs(settings):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            data = read_yaml_mapping(path, "writing template")
            try:
                template = Template(**data)
            except ValidationError as exc:
                raise ConfigError(f"writing template {path}: {validation_problems(exc)}") from None
            found[template.kind] = template
    return found


def get_template(settings: Settings, kind: str) -> Template:
    templates = load_templates(settings)
    if kind not in templates:
        raise InvalidRequestError(f"unknown kind {kind!r}; choose one of {', '.join(sorted(templates))}")
    return templates[kind]
