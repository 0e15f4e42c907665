"""ISO 6346 container codes: check digit, validation, and repair of single-character OCR confusions.

A code is 4 letters (3-letter owner code + category U, J or Z), a 6-digit serial and a check digit:
``MSKU4135329``.  The check digit is the weighted sum of the character values (letters 10-38, skipping
multiples of 11) times 2**position, mod 11, mod 10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LETTER_VALUES: dict[str, int] = {}
_value = 10
for _letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _value % 11 == 0:
        _value += 1
    _LETTER_VALUES[_letter] = _value
    _value += 1

CATEGORIES = frozenset("UJZ")
#: At most this many characters of a window found in free text may be changed to pass the check digit.
MAX_CHANGES = 2
CODE_RE = re.compile(r"^[A-Z]{3}[UJZ]\d{7}$")

#: A digit read where a letter must be (owner code, category) and the letter it most likely is.
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "8": "B"}
#: A letter read where a digit must be (serial, check digit) and the digit it most likely is.
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "T": "1", "Z": "2",
                   "A": "4", "S": "5", "G": "6", "B": "8"}  # fmt: skip
#: Confusions between characters of the same class; tried one at a time against the check digit.
SAME_CLASS = {
    "0": "869", "1": "7", "2": "7", "3": "8", "5": "6", "6": "58", "7": "12", "8": "036", "9": "0",
    "O": "DQC", "D": "O", "Q": "O", "C": "GO", "G": "C", "I": "LJT", "L": "I", "J": "IU", "U": "JV", "V": "U",
    "M": "N", "N": "M", "E": "F", "F": "E", "K": "X", "X": "K", "H": "N", "W": "V", "P": "R", "R": "P",
}  # fmt: skip


def char_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    return _LETTER_VALUES[char]


def check_digit(first_ten: str) -> int:
    """The check digit of the first ten characters (owner code, category, serial)."""
    if len(first_ten) != 10:
        raise ValueError("need exactly 10 characters")
    total = sum(char_value(c) * (1 << i) for i, c in enumerate(first_ten))
    return total % 11 % 10


def is_valid(code: str) -> bool:
    """True when ``code`` is a complete, well-formed ISO 6346 code whose check digit is right."""
    return bool(CODE_RE.match(code)) and check_digit(code[:10]) == int(code[10])


@dataclass(frozen=True, slots=True)
class ContainerCode:
    code: str  # 11 characters when complete
    raw: str  # the 11 characters as read, before any repair
    check_digit_ok: bool
    repaired: bool


def _letter_position(i: int) -> bool:
    return i < 4


def coerce(raw: str) -> str:
    """Map characters of the wrong class by position (a digit in the owner code, a letter in the serial)."""
    out = []
    for i, c in enumerate(raw):
        if _letter_position(i):
            out.append(DIGIT_TO_LETTER.get(c, c) if c.isdigit() else c)
        else:
            out.append(LETTER_TO_DIGIT.get(c, c) if c.isalpha() else c)
    return "".join(out)


def repair(raw: str) -> ContainerCode:
    """Validate 11 read characters, repairing letter/digit confusions and one same-class confusion.

    The repair is accepted only when exactly one candidate passes the check digit.
    """
    if len(raw) != 11:
        return ContainerCode(code=raw, raw=raw, check_digit_ok=False, repaired=False)
    typed = coerce(raw)
    if is_valid(typed):
        return ContainerCode(code=typed, raw=raw, check_digit_ok=True, repaired=typed != raw)
    if CODE_RE.match(typed) or _typed_except_one(typed):
        found = set()
        for i, c in enumerate(typed):
            alternatives = SAME_CLASS.get(c, "")
            if i == 3:
                alternatives += "".join(sorted(CATEGORIES))
            if i == 10:
                alternatives = "0123456789"
            for alt in alternatives:
                if alt == c:
                    continue
                candidate = typed[:i] + alt + typed[i + 1 :]
                if is_valid(candidate):
                    found.add(candidate)
        if len(found) == 1:
            return ContainerCode(code=found.pop(), raw=raw, check_digit_ok=True, repaired=True)
    return ContainerCode(code=typed, raw=raw, check_digit_ok=False, repaired=False)


def _typed_except_one(typed: str) -> bool:
    """Well-formed but for the category letter (position 3), which one substitution may fix."""
    return bool(re.match(r"^[A-Z]{4}\d{7}$", typed))


def find_code(text: str) -> ContainerCode | None:
    """Find the most plausible container code in free OCR text (any separators, extra marks around it).

    Prefers a window that passes the check digit (after repair); otherwise the best-formed 11-character
    window; ``None`` when no window looks like a code at all.
    """
    chars = "".join(c for c in text.upper() if c.isascii() and c.isalnum())
    if len(chars) < 11:
        return None
    best: tuple[tuple[bool, bool, int, int], ContainerCode] | None = None
    for start in range(len(chars) - 10):
        window = chars[start : start + 11]
        result = repair(window)
        if result.check_digit_ok and sum(a != b for a, b in zip(window, result.code, strict=True)) > MAX_CHANGES:
            # three or more characters changed to pass: a door's other text (weight tables, brand names,
            # the size/type code) yields such "codes" by chance; a real misread is one or two characters
            result = ContainerCode(code=window, raw=window, check_digit_ok=False, repaired=False)
        shape = sum(1 for i, c in enumerate(window) if c.isalpha() == _letter_position(i))
        # more than three characters of the wrong class: a window across unrelated text (door logos, the
        # size/type code, a weight table), whose "repair" would pass the check digit by chance
        if shape < 8:
            continue
        # a right check digit first, then as read (unrepaired), then the best letter/digit shape, then leftmost
        rank = (result.check_digit_ok, not result.repaired, shape, -start)
        if best is None or rank > best[0]:
            best = (rank, result)
    return best[1] if best else None
