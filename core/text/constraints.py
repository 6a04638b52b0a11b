"""Constrained decoding: what a reply must look like (a JSON object, a JSON Schema, a regex, one of a list).

One small value type that every engine understands. Both local engines compile it with xgrammar (what vLLM uses)
and mask the logits at each step: transformers through xgrammar's logits processor, llama.cpp through a llama.cpp
logits processor over the GGUF vocabulary. llama.cpp's own route (llama-cpp-python's JSON Schema -> GBNF) was
tried first and dropped: it turns ``"pattern": "^\\d{4}-..."`` into the literal text ``\d\d\d\d`` (llama.cpp then
refuses the grammar), and xgrammar's EBNF uses lookaheads GBNF lacks. The remote engine forwards the constraint.
``accepts`` checks a reply against the same constraint, so tests and benchmarks judge outputs by the rule the
decoder enforced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import InvalidRequestError

Kind = Literal["json", "json_schema", "regex", "choice"]

# OpenAI's JSON mode promises an object; compact whitespace keeps small models from looping on newlines.
JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class Constraint:
    """Hashable (requests with equal parameters are batched): the schema is kept as JSON text."""

    kind: Kind
    value: str = ""  # JSON Schema text (json, json_schema) or a regex
    choices: tuple[str, ...] = ()

    @classmethod
    def json_object(cls) -> Constraint:
        return cls("json", json.dumps(JSON_OBJECT_SCHEMA))

    @classmethod
    def json_schema(cls, schema: dict[str, Any]) -> Constraint:
        if not isinstance(schema, dict):
            raise InvalidRequestError("a JSON Schema must be an object", param="response_format")
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise InvalidRequestError(f"invalid JSON Schema: {exc.message}", param="response_format") from None
        # Key order is kept: the grammar writes properties in the schema's order (a call's name before its args).
        return cls("json_schema", json.dumps(schema, ensure_ascii=False))

    @classmethod
    def regex(cls, pattern: str) -> Constraint:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidRequestError(f"invalid regex: {exc}", param="guided_regex") from None
        return cls("regex", pattern)

    @classmethod
    def choice(cls, options: list[str] | tuple[str, ...]) -> Constraint:
        if not options or not all(isinstance(o, str) and o for o in options):
            raise InvalidRequestError("choices must be a non-empty list of non-empty strings", param="guided_choice")
        return cls("choice", choices=tuple(dict.fromkeys(options)))

    @property
    def schema(self) -> dict[str, Any] | None:
        return json.loads(self.value) if self.kind in ("json", "json_schema") else None

    @property
    def param(self) -> str:
        """The OpenAI request field (or vLLM extension) this kind of constraint comes from, for error messages."""
        return {"regex": "guided_regex", "choice": "guided_choice"}.get(self.kind, "response_format")

    def accepts(self, text: str) -> bool:
        """Does ``text`` satisfy the constraint? (JSON kinds: parses and validates against the schema.)"""
        if self.kind == "choice":
            return text in self.choices
        if self.kind == "regex":
            return re.fullmatch(self.value, text) is not None
        try:
            value = json.loads(text)
        except ValueError:
            return False
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.schema).is_valid(value)


def compile_constraint(compiler: Any, constraint: Constraint) -> Any:
    """``constraint`` compiled by an ``xgrammar.GrammarCompiler`` (which caches compiled grammars)."""
    if constraint.kind in ("json", "json_schema"):
        # Compact JSON: free whitespace lets small models loop on newlines.
        return compiler.compile_json_schema(constraint.value, any_whitespace=False)
    if constraint.kind == "regex":
        return compiler.compile_regex(constraint.value)
    return compiler.compile_grammar("root ::= " + " | ".join(_ebnf_literal(c) for c in constraint.choices))


def _ebnf_literal(text: str) -> str:
    """An EBNF (GBNF) string literal: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
