"""What every REST API here puts in front of its routes (the OpenAI-compatible server, the bot API, the writing
API): API keys, per-key rate limits and a request-body size limit, as one ASGI middleware.

Keys come from ``LLMECO_API_KEYS`` / the ``api_keys`` setting (comma-separated or a list, shared by every API)
plus the API's own key setting; they are compared in constant time and never logged. A body over the limit is
refused with 413 before the route parses it, so a huge or endless upload cannot fill memory. No CORS headers are
sent: browsers on other origins cannot call these APIs unless a proxy in front adds them deliberately."""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable

from starlette.responses import JSONResponse

from core.errors import EngineBusyError, LLMEcoError, ModelLoadError

# Path and body ids that reach a SQL integer column: larger ones overflowed in the driver (a 500), now a 422.
SQL_INTEGER = {"ge": -(2**63), "le": 2**63 - 1}
ErrorBody = Callable[[int, str, str], dict]  # (status, message, code) -> the API's JSON error body
KEY_HEADERS = "'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def collect_keys(*groups: Iterable[str] | str | None) -> tuple[str, ...]:
    """The distinct non-empty keys of ``groups`` (each a key, a comma-separated string or a list of keys)."""
    keys: list[str] = []
    for group in groups:
        items = group.split(",") if isinstance(group, str) else list(group or [])
        keys += [k.strip() for k in items if k and k.strip()]
    return tuple(dict.fromkeys(keys))


def matching_key(given: str, keys: Iterable[str]) -> str | None:
    """The configured key equal to ``given``; every key is compared in constant time (no early exit)."""
    found = None
    for key in keys:
        if hmac.compare_digest(given.encode(), key.encode()):
            found = key
    return found


def ui_options(settings, max_upload_mb: float) -> dict:
    """What every Gradio UI here is launched or mounted with (``launch(**...)``, ``mount_gradio_app(**...)``):
    the login of ``portal.auth`` when set (Gradio's ``auth=``; a browser cannot send an API key), and an upload
    limit that Gradio's upload route enforces itself, with a 413, before any handler sees the file."""
    return {"auth": settings.portal.logins(), "max_file_size": int(max_upload_mb * 2**20)}


def error_status(exc: LLMEcoError, not_found: type[Exception] | None = None) -> int:
    """The status of a user-facing error in the apps' APIs: 503 when a model cannot load (corrupt weights, a
    missing package) or its queue is full, since the API itself is up and the request was fine; 404 for
    ``not_found``; 400 otherwise."""
    if isinstance(exc, ModelLoadError | EngineBusyError):
        return 503
    return 404 if not_found and isinstance(exc, not_found) else 400


async def validation_error(_request, exc) -> JSONResponse:
    """FastAPI's 422 for a body that fails validation, without echoing the input: an input of ``1e999`` (inf)
    or NaN cannot be written as JSON, and the default handler answered 500 for it."""
    detail = [{k: e[k] for k in ("type", "loc", "msg")} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def _unpaired_surrogate(body: bytes) -> bool:
    """Whether a JSON body decodes to text with a lone surrogate ("\\ud800"): valid JSON, but no UTF-8 encodes
    it, so the store, the tokenizer or the error response would fail on it later with a 500."""
    if not re.search(rb"\\u[dD][89a-fA-F]", body):
        return False
    try:
        stack = [json.loads(body)]
    except (ValueError, RecursionError):
        return False  # malformed JSON: the route answers that itself
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack += [*item, *item.values()]
        elif isinstance(item, list):
            stack += item
    return False


class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int):
        self.rate, self.capacity = per_minute / 60.0, float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, caller: str) -> float:
        """0 when ``caller`` may go now (and takes a token), else the seconds until a token is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1 - tokens) / self.rate


class Guard:
    """ASGI middleware. ``protected``: path prefixes that need a key when any is configured and are rate-limited
    per key (per client address without keys) when ``rate_per_minute`` > 0. ``max_body_bytes`` applies to every
    request. ``error`` shapes the JSON error body like the API's other errors."""

    def __init__(
        self,
        app,
        *,
        keys: tuple[str, ...],
        protected: tuple[str, ...],
        max_body_bytes: int,
        rate_per_minute: int,
        error: ErrorBody,
        limit_name: str,
    ):
        self.app, self.keys, self.protected, self.max_body, self.error = app, keys, protected, max_body_bytes, error
        self.limiter = RateLimiter(rate_per_minute) if rate_per_minute > 0 else None
        self.limit_name = limit_name  # the setting that raises the body limit, named in the 413

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"].startswith(self.protected):
            caller = (scope.get("client") or ("local", 0))[0]
            if self.keys:
                given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
                caller = matching_key(given.strip(), self.keys)
                if caller is None:
                    return await self._reply(
                        send, 401, f"missing or wrong API key (send {KEY_HEADERS})", "invalid_api_key"
                    )
            if self.limiter and (wait := self.limiter.wait_s(caller)):
                retry = str(math.ceil(wait))
                message = f"rate limit reached for this key; retry in {retry} s"
                return await self._reply(send, 429, message, "rate_limit_exceeded", {"retry-after": retry})
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return await self._reply(send, 413, self._too_large(), "request_too_large")
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body, more = bytearray(), True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_body:
                    return await self._reply(send, 413, self._too_large(), "request_too_large")
            if _unpaired_surrogate(bytes(body)):
                message = "the request holds an unpaired UTF-16 surrogate (a \\udXXX escape); send valid Unicode text"
                return await self._reply(send, 400, message, "invalid_unicode")
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)

    def _too_large(self) -> str:
        return f"request body larger than the {self.max_body / 2**20:g} MB limit ({self.limit_name})"

    async def _reply(self, send, status: int, message: str, code: str, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(self.error(status, message, code)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
