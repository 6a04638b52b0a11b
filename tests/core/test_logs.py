"""core/logs.py: JSON lines with the request id, PII redacted from messages, arguments and tracebacks."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.logs import accept_request_id, configure_logging, current_request_id, request_context

log = logging.getLogger("core.test_logs")


@pytest.fixture
def json_lines():
    """Root logging as JSON lines into a buffer; returns a function that parses what was written so far."""
    stream, level = io.StringIO(), logging.getLogger().level
    handler = configure_logging("json", logging.DEBUG, stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(level)


def test_records_carry_the_request_id_and_are_json(json_lines):
    with request_context("req-42"):
        assert current_request_id() == "req-42"
        log.info("inside %s", "a request")
    log.warning("outside")
    inside, outside = json_lines()
    assert inside["message"] == "inside a request" and inside["request_id"] == "req-42"
    assert inside["level"] == "INFO" and inside["logger"] == "core.test_logs" and inside["ts"].endswith("+00:00")
    assert outside["request_id"] is None and current_request_id() is None


def test_personal_data_is_redacted_from_messages_arguments_and_tracebacks(json_lines):
    log.info("mail from jane.doe@example.com")
    log.info("card %s, phone %s", "4111 1111 1111 1111", "+44 20 7946 0958")
    try:
        raise ValueError("bad address joe@example.org")
    except ValueError:
        log.exception("failed for %s", "joe@example.org")
    text = json.dumps(json_lines())
    for secret in ("jane.doe@example.com", "4111 1111 1111 1111", "7946 0958", "joe@example.org"):
        assert secret not in text
    lines = json_lines()
    assert lines[0]["message"] == "mail from [EMAIL]" and lines[1]["message"] == "card [CARD], phone [PHONE]"
    assert "ValueError: bad address [EMAIL]" in lines[2]["exc"]


def test_text_format_names_the_request_id():
    stream = io.StringIO()
    handler = configure_logging("text", logging.INFO, stream)
    try:
        with request_context("abc"):
            log.info("hello")
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("INFO core.test_logs [abc] hello")


def test_a_request_id_from_outside_is_kept_only_when_plain():
    assert accept_request_id("trace-1.2:3_x") == "trace-1.2:3_x"
    for bad in (None, "", "with space", "x" * 129, 'inject"\n{}'):
        new = accept_request_id(bad)
        assert new != bad and len(new) == 32 and new.isalnum()
