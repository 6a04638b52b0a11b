"""The /health body shared by the server and the apps (the apps' tests make real models fail to load)."""

from __future__ import annotations

from core.serving.health import health_body


def test_the_body_lists_failures_not_loaded_since_in_the_servers_shape():
    """`llmeco serve` keeps each failure until its pool has the model loaded; clients see one key order."""
    body = health_body({"broken": "corrupt weights", "fixed": "was missing a package"}, ["fixed"], default_model="x")
    assert body == {
        "status": "degraded",
        "default_model": "x",
        "loaded": ["fixed"],
        "failed": {"broken": "corrupt weights"},
    }
    assert list(body) == ["status", "default_model", "loaded", "failed"]
    assert health_body({"fixed": "was missing a package"}, ["fixed"])["status"] == "ok"
