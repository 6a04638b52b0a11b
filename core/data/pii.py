"""Replace personal data with placeholders: e-mail addresses, phone numbers (international, North American,
Chinese mobile and landline), payment card numbers and Chinese resident ID numbers.

Card and ID candidates must pass their checksums (Luhn; ISO 7064 MOD 11-2 plus a real birth date), so order
numbers, years and other ordinary digit runs stay as they are."""

from __future__ import annotations

import re
from datetime import date

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", re.ASCII)
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])", re.ASCII)
_CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])", re.ASCII)
_CN_MOBILE = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)", re.ASCII)
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,4}){1,4}"  # international: +44 20 7946 0958
    r"|(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American: (555) 123-4567, 555-123-4567
    r"|0\d{2,3}-\d{7,8}"  # Chinese landline: 010-12345678
    r")(?!\d)",
    re.ASCII,
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of payment cards; runs of one repeated digit are rejected (they pass trivially)."""
    if len(set(digits)) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def cn_id_valid(number: str) -> bool:
    """An 18-character Chinese resident ID: ISO 7064 MOD 11-2 check character and a real birth date."""
    number = number.upper()
    if _ID_CHECK[sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True)) % 11] != number[17]:
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return True


def _phone(match: re.Match) -> str:
    return "[PHONE]" if 7 <= sum(c.isdigit() for c in match[0]) <= 15 else match[0]


def redact_pii(text: str) -> str:
    """``text`` with personal data replaced by [EMAIL], [CN_ID], [CARD] and [PHONE]."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CN_ID.sub(lambda m: "[CN_ID]" if cn_id_valid(m[0]) else m[0], text)
    text = _CARD.sub(lambda m: "[CARD]" if luhn_valid(re.sub(r"\D", "", m[0])) else m[0], text)
    text = _CN_MOBILE.sub("[PHONE]", text)
    return _PHONE.sub(_phone, text)
