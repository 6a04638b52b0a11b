"""Order number and email come out of a customer message as schema-valid JSON (real SmolLM2 on llama.cpp)."""

from __future__ import annotations

import pytest

from apps.support_bot.extract import extract_fields

pytestmark = pytest.mark.slow


def test_extracts_order_number_and_email(llamacpp_engine):
    fields = extract_fields(
        llamacpp_engine, "Hi, my order AB123456 never arrived. Please write to jane.doe@example.com"
    )
    assert fields == {"order_number": "AB123456", "email": "jane.doe@example.com"}
    zh = extract_fields(llamacpp_engine, "你好，我的订单CN204816还没到，邮箱是wang@163.com")
    assert zh["email"] == "wang@163.com"


def test_missing_fields_are_none(llamacpp_engine):
    fields = extract_fields(llamacpp_engine, "How long does shipping to Canada take?")
    assert set(fields) == {"order_number", "email"} and fields["email"] is None
