"""Every REST route of `llmeco serve`, the bot API and the writing API under hostile requests: fuzzed JSON
(Hypothesis), broken and deeply nested raw bodies, hostile path parameters. Each must get a clear 4xx (or a
success), never a 5xx or a traceback, and the server must still answer /health afterwards."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.probe import (
    FUZZ,
    PATH_VALUES,
    RAW_BODIES,
    assert_alive,
    assert_clean,
    bodies,
    fill,
    request_fields,
    routes,
)

pytestmark = pytest.mark.slow
GENERATING = {"/v1/chat/completions", "/v1/completions"}


def _send(api, method: str, path: str, content: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.request(method, f"{api.url}{path}", content=content, headers=headers, timeout=120)


def test_fuzzed_json_bodies_on_every_route(api):
    fields = request_fields(api.app)
    json_routes = [(m, p) for m, p, takes_json in routes(api.app) if takes_json]
    assert json_routes, f"{api.name}: no JSON routes found"

    @FUZZ
    @given(data=bodies(sorted({f for fs in fields.values() for f in fs})), route=st.sampled_from(json_routes))
    def probe(data, route):
        method, path = route
        if path in GENERATING and isinstance(data, dict):
            data = {**data, "max_tokens": 1}  # probe the request handling, not long generations
        response = _send(api, method, fill(path, "1"), json.dumps(data).encode())
        assert response.status_code < 500, f"{method} {path} {data!r:.300} -> {response.text[:300]}"
        assert "Traceback" not in response.text

    probe()
    assert_alive(api.url)


@pytest.mark.parametrize("raw", RAW_BODIES, ids=lambda b: f"{b[:12]!r}...{len(b)}B")
def test_broken_raw_bodies(api, raw):
    for method, path, takes_json in routes(api.app):
        if takes_json:
            assert_clean(_send(api, method, fill(path, "1"), raw), api.url)


def test_hostile_path_parameters(api):
    templated = [(m, p) for m, p, _ in routes(api.app) if "{" in p]
    for method, path in templated:
        for value in PATH_VALUES:
            response = httpx.request(method, f"{api.url}{fill(path, value)}", json={}, timeout=60)
            assert_clean(response, api.url)


def test_hostile_query_strings(api):
    for method, path, _ in routes(api.app):
        if method == "GET" and "{" not in path:
            for query in ({"q": "\x00" * 10, "k": "-5"}, {"q": "x" * 20_000, "days": "9" * 40}, {"status": "../x"}):
                assert_clean(httpx.get(f"{api.url}{path}", params=query, timeout=60), api.url)


@pytest.mark.parametrize(
    ("escaped", "refused"),
    [
        (r"lone \ud800 surrogate", True),
        (r"\udfff", True),
        (r"nul \u0000 byte", False),
        (r"pair \ud83d\ude00 ok", False),
    ],
)
def test_unicode_edge_cases_in_text_fields(api, escaped, refused):
    """A lone surrogate is valid JSON but no UTF-8: 400 at the door (it made the bot and the writer answer 500)."""
    field = {"server": ("/v1/embeddings", "input"), "bot": ("/api/chat", "message"), "writer": ("/api/check", "text")}
    path, name = field[api.name]
    response = _send(api, "POST", path, f'{{"{name}": "{escaped}"}}'.encode())
    assert_clean(response, api.url)
    assert (response.status_code == 400) == refused, response.text
