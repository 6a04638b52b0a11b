import pytest

from core.data import redact_pii
from core.data.pii import cn_id_valid, luhn_valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john.doe+shop@example.co.uk now", "mail [EMAIL] now"),
        ("邮箱是zhang.san@qq.com，谢谢", "邮箱是[EMAIL]，谢谢"),
        ("call +1 (555) 123-4567 today", "call [PHONE] today"),
        ("US: 555-123-4567 or (555) 123 4567", "US: [PHONE] or [PHONE]"),
        ("London +44 20 7946 0958.", "London [PHONE]."),
        ("我的手机号是13812345678。", "我的手机号是[PHONE]。"),
        ("手机 +86 139 1234 5678", "手机 [PHONE]"),
        ("座机010-12345678", "座机[PHONE]"),
        ("card 4111 1111 1111 1111 expires", "card [CARD] expires"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("amex 378282246310005", "amex [CARD]"),
        ("身份证号11010519491231002X", "身份证号[CN_ID]"),
        ("id 440524188001010014 ok", "id [CN_ID] ok"),
        ("id 11010519491231002x lower-case x", "id [CN_ID] lower-case x"),
    ],
)
def test_pii_is_replaced(text, expected):
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 12345 shipped in 2023",
        "from 1999-2005, on 2024-01-15, version 1.2.3 at 192.168.1.1",
        "total: 1,234,567.89 USD, 3.14159",
        "card 4111 1111 1111 1112 fails the Luhn check",
        "tracking 1234567890123456",
        "bad ID checksum 110101199003074512",
        "bad ID birth date 110101199013324513",
        "number 0000 0000 0000 0000",
        "订单号20231015，共3件，电话未提供",
    ],
)
def test_ordinary_numbers_are_kept(text):
    assert redact_pii(text) == text


def test_checksums():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234567890123456")
    assert cn_id_valid("11010519491231002X") and cn_id_valid("110101199003074514")
    assert not cn_id_valid("110101199003074512")  # wrong check character
    assert not cn_id_valid("110101199013324513")  # month 13
