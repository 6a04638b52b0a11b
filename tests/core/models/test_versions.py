"""Versions of a registered name: register as current or as a canary, promote, rollback, their history (the audit
hook), and the routing split that sends a canary its share of the traffic."""

from __future__ import annotations

from collections import Counter

import pytest

from core.errors import ConfigError
from core.models import user_models


def test_register_canary_promote_rollback_and_history(versions_home):
    settings, (v1, v2, v3) = versions_home
    events: list[dict] = []

    def listen(changed, event: dict) -> None:
        assert changed is settings
        events.append(event)

    user_models.on_change(listen)
    try:
        assert user_models.register(settings, v1, "bot") == 1
        assert user_models.register(settings, v2, "bot", canary=0.2) == 2
        entry = user_models.load_names(settings)["bot"]
        assert entry["active"] == 1 and entry["canary"] == {"version": 2, "share": 0.2}
        assert user_models.routed_versions(entry) == {1, 2}
        assert user_models.set_canary(settings, "bot", 0.5) == 2  # a new share for the same candidate
        assert user_models.promote(settings, "bot") == 2
        entry = user_models.load_names(settings)["bot"]
        assert entry["active"] == 2 and "canary" not in entry
        assert user_models.register(settings, v3, "bot") == 3  # current at once
        assert user_models.set_canary(settings, "bot", 0.1, version=1) == 1  # any other version can be a candidate
        assert user_models.rollback(settings, "bot") == 2  # ends the canary too
        assert "canary" not in user_models.load_names(settings)["bot"]
        described = user_models.describe(settings, "bot")
        assert [v["role"] for v in described["versions"]] == ["", "current", ""]
    finally:
        user_models._LISTENERS.remove(listen)
    actions = [(e["action"], e["version"]) for e in user_models.history(settings, "bot")]
    assert actions == [
        ("register", 1), ("register", 2), ("canary", 2), ("promote", 2), ("register", 3), ("canary", 1),
        ("rollback", 2),
    ]  # fmt: skip
    assert [(e["name"], e["action"]) for e in events] == [("bot", a) for a, _ in actions]
    assert events[3]["previous"] == 1 and events[-1]["previous"] == 3 and all(e["by"] for e in events)


def test_mistakes_are_refused_with_what_to_do(versions_home):
    settings, (v1, v2, _) = versions_home
    with pytest.raises(ConfigError, match="no current version"):
        user_models.register(settings, v1, "bot", canary=0.2)
    user_models.register(settings, v1, "bot")
    with pytest.raises(ConfigError, match="no earlier one"):
        user_models.rollback(settings, "bot")
    with pytest.raises(ConfigError, match="no candidate to promote.*--share 0.2"):
        user_models.promote(settings, "bot")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        user_models.register(settings, v2, "bot", canary=1.5)
    with pytest.raises(ConfigError, match="active version"):
        user_models.set_canary(settings, "bot", 0.2, version=1)
    with pytest.raises(ConfigError, match="no registered model 'nobody'"):
        user_models.set_canary(settings, "nobody", 0.2)
    assert len(user_models.load_names(settings)["bot"]["versions"]) == 1  # nothing refused was saved
    assert user_models.set_canary(settings, "bot", 0.0) is None  # ending a canary that never began is harmless


def test_a_canary_gets_its_share_and_a_user_keeps_one_version():
    entry = {"versions": [{}, {}], "active": 1, "canary": {"version": 2, "share": 0.2}}
    unkeyed = Counter(user_models.choose_version("bot", entry, None, n) for n in range(100))
    assert 15 <= unkeyed[2] <= 25 and unkeyed[2] == 20  # exactly the share: deterministic, never flaky
    keyed = Counter(user_models.choose_version("bot", entry, f"user-{i}", 0) for i in range(2000))
    assert 0.17 <= keyed[2] / 2000 <= 0.23
    for i in range(20):  # sticky: a user's requests all go to one version, whatever their order
        assert len({user_models.choose_version("bot", entry, f"user-{i}", n) for n in range(10)}) == 1
    assert {user_models.choose_version("bot", {"versions": [{}], "active": 1}, None, n) for n in range(5)} == {1}
