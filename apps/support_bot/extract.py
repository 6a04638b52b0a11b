"""Field extraction from a customer message (order number, email) under a JSON Schema: the reply always parses,
and a value counts only when it appears in the message word for word, so a small model cannot invent one."""

from __future__ import annotations

import json
from typing import Any

from core.text import GenerationParams, TextEngine
from core.text.constraints import Constraint

FIELDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_number": {"anyOf": [{"type": "string", "pattern": "^[A-Za-z0-9-]{4,24}$"}, {"type": "null"}]},
        "email": {"anyOf": [{"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$"}, {"type": "null"}]},
    },
    "required": ["order_number", "email"],
    "additionalProperties": False,
}
_SYSTEM = (
    "Extract the order number and the email address from the customer's message. "
    "Use null for a field the message does not contain. Reply in JSON."
)


def extract_fields(engine: TextEngine, message: str) -> dict[str, str | None]:
    """``{"order_number": ..., "email": ...}`` from ``message``; None where it has none."""
    messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": message}]
    params = GenerationParams(max_new_tokens=64, constraint=Constraint.json_schema(FIELDS_SCHEMA))
    reply = engine.chat(messages, params)
    try:
        found = json.loads(reply.text)
    except ValueError:  # cut off at the token limit
        found = {}
    return {
        k: v if isinstance(v, str) and v in message else None
        for k, v in ((k, found.get(k)) for k in FIELDS_SCHEMA["properties"])
    }
