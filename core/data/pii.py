"""Replace personal data with placeholders: e-mail addresses, IBANs, Chinese resident ID numbers, payment card
numbers and phone numbers (international, North American, domestic with a trunk 0, Chinese mobile).

Every number-shaped candidate must pass what makes it real, so order numbers, tracking numbers, barcodes, dates
and prices stay as they are: IBANs their country's length and ISO 7064 MOD 97-10; ID numbers MOD 11-2 and a real
birth date; cards the Luhn check plus an issuer prefix with that issuer's length (ISO/IEC 7812: a 13-digit EAN
barcode starting with 69 is Luhn-valid a tenth of the time, but no card starting with 6 has 13 digits).
``benchmarks/pii.py`` measures it on a labelled set (``benchmarks/data/pii_labelled.jsonl``)."""

from __future__ import annotations

import re
from datetime import date

# Matches start only where a local part starts: without the lookbehind a long run of letters without "@" is
# rescanned from every position (quadratic: 20,000 characters took a second).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", re.ASCII)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}", re.ASCII)
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])", re.ASCII)
# A run of digit groups joined by single spaces or dashes; cards are looked for inside it group-aligned, so a
# card followed by its expiry ("4111 1111 1111 1111 12/26") is still found.
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9+-])\d+(?:[ -]\d+)*", re.ASCII)
_CN_MOBILE = re.compile(r"(?<![A-Za-z0-9+])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)", re.ASCII)
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?<!\d[ .-])(?:"  # not the tail of a longer digit-group run
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,4}){1,4}"  # international: +44 20 7946 0958
    r"|(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American: (555) 123-4567, 555-123-4567
    r"|\(0[1-9]\d{1,3}\) ?\d{3,4}[ -]?\d{3,4}"  # domestic, area code in brackets: (010)62345678, (020) 3456 7890
    r"|0[1-9]\d{1,3}[ -]\d{3,4}(?:[ -]?\d{3,4})?"  # domestic: 010-62345678, 020 7946 0958, 07700 900123
    r")(?!\d)",
    re.ASCII,
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
IBAN_LENGTHS = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FO", "GL", "NL"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "TL"], 23),
    **dict.fromkeys(["CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["PT", "ST"], 25),
    **dict.fromkeys(["IS", "TR"], 26),
    **dict.fromkeys(["FR", "GR", "IT", "MC", "MR", "SM"], 27),
    **dict.fromkeys(["AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"], 28),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of payment cards; runs of one repeated digit are rejected (they pass trivially)."""
    if len(set(digits)) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_valid(digits: str) -> bool:
    """A payment card number: an issuer's prefix with one of that issuer's lengths, and the Luhn check."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":  # Visa
        ok = n in (13, 16, 19)
    elif 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        ok = n == 16
    elif p2 in (34, 37):  # American Express
        ok = n == 15
    elif p2 in (36, 38, 39) or 300 <= p3 <= 305:  # Diners Club
        ok = 14 <= n <= 19
    elif 3528 <= p4 <= 3589 or 2200 <= p4 <= 2204 or digits[0] == "6" or p2 in (50, 56, 57, 58):
        ok = 16 <= n <= 19  # JCB, Mir, Discover / UnionPay / Maestro
    else:
        ok = False
    return ok and luhn_valid(digits)


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


def iban_valid(compact: str) -> bool:
    """An IBAN without spaces: its country's length and the MOD 97-10 check digits."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1


def _iban(match: re.Match) -> str:
    """Take exactly the country's number of characters from the candidate (it may run into following words)."""
    text, want = match[0], IBAN_LENGTHS.get(match[0][:2], 0)
    taken = end = 0
    while end < len(text) and taken < want:
        taken += text[end] != " "
        end += 1
    if taken == want and (end == len(text) or text[end] == " ") and iban_valid(text[:end].replace(" ", "")):
        return "[IBAN]" + text[end:]
    return text


def _cards(match: re.Match) -> str:
    """Replace group-aligned card numbers inside a run of digit groups, leftmost-longest."""
    run = match[0]
    bounds = [(m.start(), m.end()) for m in re.finditer(r"\d+", run)]
    out, done, i = [], 0, 0
    while i < len(bounds):
        if run[bounds[i][0]] not in "23456":  # no issuer's prefix starts otherwise
            i += 1
            continue
        digits, last = "", None
        for j in range(i, len(bounds)):
            digits += run[bounds[j][0] : bounds[j][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and card_valid(digits):
                last = j
        if last is None:
            i += 1
            continue
        out += [run[done : bounds[i][0]], "[CARD]"]
        done, i = bounds[last][1], last + 1
    return "".join(out) + run[done:]


def _phone(match: re.Match) -> str:
    return "[PHONE]" if 7 <= sum(c.isdigit() for c in match[0]) <= 15 else match[0]


def redact_pii(text: str) -> str:
    """``text`` with personal data replaced by [EMAIL], [IBAN], [CN_ID], [CARD] and [PHONE]."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub(_iban, text)
    text = _CN_ID.sub(lambda m: "[CN_ID]" if cn_id_valid(m[0]) else m[0], text)
    text = _DIGIT_RUN.sub(_cards, text)
    text = _CN_MOBILE.sub("[PHONE]", text)
    return _PHONE.sub(_phone, text)
