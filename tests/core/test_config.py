import pytest

from core.config import load_settings, parse_overrides
from core.errors import ConfigError


def test_layers_defaults_yaml_env_overrides(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("text:\n  model: from-yaml\n  max_new_tokens: 100\nserver:\n  port: 9001\n")
    monkeypatch.setenv("LLMECO_SERVER__PORT", "9002")
    monkeypatch.setenv("LLMECO_HOME", str(tmp_path / "home"))
    s = load_settings(cfg, ["text.max_new_tokens=64"], {"text.model": "yes"})
    assert s.text.max_new_tokens == 64  # override beats YAML
    assert s.server.port == 9002  # env beats YAML
    assert s.text.model == "yes"  # flag values are taken literally, not as YAML booleans
    assert s.home == tmp_path / "home"
    assert s.models_dir == tmp_path / "home" / "models"
    assert s.text.engine == "auto"  # untouched default


def test_overrides_parse_yaml_values():
    assert parse_overrides(["a.b=1", "a.c=true", "d=[1, 2]", "e=hello"]) == {
        "a": {"b": 1, "c": True},
        "d": [1, 2],
        "e": "hello",
    }


@pytest.mark.parametrize("bad", ["noequals", "=value"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides([bad])


def test_unknown_key_and_bad_value_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="text.modle"):
        load_settings(None, ["text.modle=x"])
    with pytest.raises(ConfigError, match="server.port"):
        load_settings(None, ["server.port=abc"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("text: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
