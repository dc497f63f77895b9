"""Personal data in what users type, masked before anything is stored or logged (Thailand's PDPA).

Three kinds are recognised, each replaced by a placeholder that says what was there:
- a Thai national ID number: 13 digits, plain or grouped 1-4-5-2-1 by dashes or spaces, whose
  last digit is the checksum of the other twelve (so a 13-digit figure that isn't an ID stays);
- a Thai telephone number: 0 or +66 followed by a mobile (6x, 8x, 9x: 9 more digits) or a
  fixed-line number (2x–7x: 8 more digits), with or without dashes, dots or spaces;
- an e-mail address.
Figures that people ask about (years such as 2564–2570, counts, budgets) do not match these forms.
"""

from __future__ import annotations

import re

ID_MASK = "[เลขบัตรประชาชน]"
PHONE_MASK = "[เบอร์โทรศัพท์]"
EMAIL_MASK = "[อีเมล]"

_SEP = r"[-\s.]?"
_NATIONAL_ID = re.compile(r"(?<![\d])\d" + _SEP + r"\d{4}" + _SEP + r"\d{5}" + _SEP + r"\d{2}" + _SEP + r"\d(?![\d])")
_PHONE = re.compile(
    r"(?<![\d+])(?:\+66" + _SEP + r"|\(?0)"  # +66 … or 0 …, the trunk 0 sometimes in brackets
    r"(?:[689]\)?(?:" + _SEP + r"\d){8}"  # mobile: 06/08/09 + 8 digits
    r"|[2-7]\)?(?:" + _SEP + r"\d){7})"  # fixed line: 02–07 + 7 digits
    r"(?![\d])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def valid_national_id(digits: str) -> bool:
    """The Thai ID checksum: 11 minus the weighted sum (weights 13…2) mod 11, last digit."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def _id_or_keep(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return ID_MASK if valid_national_id(digits) else match.group(0)


def mask_personal(text: str) -> str:
    """The text with national ID numbers, telephone numbers and e-mail addresses masked."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _NATIONAL_ID.sub(_id_or_keep, text)
    return _PHONE.sub(PHONE_MASK, text)
