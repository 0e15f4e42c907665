"""Licence-plate grammars as plugins: normalise OCR text and decide whether it is a plausible plate.

Each grammar is a named list of templates; a template is a regular expression plus, where the format fixes
which positions are letters and which digits, a letter/digit mask (``L`` letter, ``9`` digit, ``?`` either)
used to undo O/0, I/1, B/8, S/5 confusions by position.  Register more with :func:`register`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

#: A digit read where the format wants a letter, and the letter it most likely is.
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
#: A letter read where the format wants a digit, and the digit it most likely is.
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "J": "1", "T": "7", "Z": "2", "A": "4",
                   "S": "5", "G": "6", "B": "8"}  # fmt: skip
# Turkish plates use the Latin letters without Q, W and X.
_TR_LETTERS = "ABCDEFGHIJKLMNOPRSTUVYZ"
_TR_PROVINCE = r"(0[1-9]|[1-7][0-9]|8[01])"


#: Compatibility forms folded to their plain letter or digit (full-width and mathematical letters); the others
#: (superscript ², subscript ₂, circled ②, fractions) are marks read off a plate's screws, stickers and
#: dirt, not characters of the plate, and are dropped.
_FOLDED_FORMS = ("<wide>", "<narrow>", "<font>")


def _fold(char: str) -> str:
    if unicodedata.decomposition(char).startswith(_FOLDED_FORMS):
        return unicodedata.normalize("NFKD", char)
    return unicodedata.normalize("NFD", char)  # accents split off: Ş -> S + cedilla


def normalise(text: str) -> str:
    """Upper-case ASCII letters and digits only (accents folded: Ş -> S, İ -> I; superscripts dropped)."""
    folded = "".join(_fold(c) for c in text.upper())
    return "".join(c for c in folded if c.isascii() and c.isalnum())


@dataclass(frozen=True, slots=True)
class Template:
    pattern: re.Pattern[str]
    masks: tuple[str, ...] = ()  # letter/digit masks of the lengths this template admits


@dataclass(frozen=True, slots=True)
class Grammar:
    name: str  # "TR", "EU", "BR", ...
    templates: tuple[Template, ...]
    subnames: tuple[str, ...] = field(default_factory=tuple)  # per template, e.g. "HR" inside "EU"

    def match(self, text: str, *, specific: bool) -> str | None:
        """The sub-format name when ``text`` fits a template as it is (specific: one with a mask), else None."""
        for i, template in enumerate(self.templates):
            if bool(template.masks) == specific and template.pattern.fullmatch(text):
                return self.subnames[i] if self.subnames else self.name
        return None

    def repair(self, text: str) -> tuple[str, str, int] | None:
        """(text, sub-format, characters changed) after undoing letter/digit confusions by position.

        The repair that changes the fewest characters wins; None when no fixed-layout template fits.
        """
        best: tuple[str, str, int] | None = None
        for i, template in enumerate(self.templates):
            for mask in template.masks:
                if len(mask) != len(text):
                    continue
                fixed = "".join(_coerce(c, m) for c, m in zip(text, mask, strict=True))
                if fixed != text and template.pattern.fullmatch(fixed):
                    changed = sum(a != b for a, b in zip(text, fixed, strict=True))
                    if best is None or changed < best[2]:
                        best = (fixed, self.subnames[i] if self.subnames else self.name, changed)
        return best


def _coerce(char: str, mask: str) -> str:
    if mask == "L" and char.isdigit():
        return DIGIT_TO_LETTER.get(char, char)
    if mask == "9" and char.isalpha():
        return LETTER_TO_DIGIT.get(char, char)
    return char


def _t(pattern: str, *masks: str) -> Template:
    return Template(re.compile(pattern), masks)


TURKEY = Grammar(
    "TR",
    (
        _t(rf"{_TR_PROVINCE}[{_TR_LETTERS}]\d{{4,5}}", "99L9999", "99L99999"),
        _t(rf"{_TR_PROVINCE}[{_TR_LETTERS}]{{2}}\d{{3,4}}", "99LL999", "99LL9999"),
        _t(rf"{_TR_PROVINCE}[{_TR_LETTERS}]{{3}}\d{{2,3}}", "99LLL99", "99LLL999"),
    ),
)

EUROPE = Grammar(
    "EU",
    (
        _t(r"[A-Z]{2}\d{3,4}[A-Z]{1,2}", "LL999L", "LL999LL", "LL9999L", "LL9999LL"),  # HR, BA-like, FR/IT
        _t(r"[1-9][A-Z][A-Z0-9]\d{4}", "9L?9999"),  # CZ
        _t(r"[A-Z]{2}\d{5}", "LL99999"),  # PL (WA 56660) and other two-letter + five-digit formats
        _t(r"[A-Z]{2}\d{2}[A-Z]{3}", "LL99LLL"),  # GB
        _t(r"\d{4}[B-DF-HJ-NP-TV-Z]{3}", "9999LLL"),  # ES
        _t(r"[A-Z]{1,2}\d{2,3}[A-Z]{3}", "L99LLL", "LL99LLL", "L999LLL", "LL999LLL"),  # RO, PL-like
        _t(r"[A-Z]{1,3}[A-Z]{1,2}\d{1,4}[EH]?"),  # DE: district, letters, digits (E/H suffix)
        _t(r"[A-Z]{2,3}[A-Z0-9]{4,5}"),  # PL, SI and other regional formats
        _t(r"(?=[A-Z0-9]*\d)[A-Z0-9]{5,8}"),  # any other 5-8 character EU plate with a digit
        _t(r"[A-Z]{5,8}"),  # personalised plates (e.g. GB/SI vanity)
    ),
    subnames=("HR", "CZ", "PL", "GB", "ES", "RO", "DE", "PL", "EU", "EU"),
)

BRAZIL = Grammar(
    "BR",
    (
        _t(r"[A-Z]{3}\d{4}", "LLL9999"),  # old grey plates
        _t(r"[A-Z]{3}\d[A-Z]\d{2}", "LLL9L99"),  # Mercosul
    ),
)

ARGENTINA = Grammar(
    "AR",
    (
        _t(r"[A-Z]{3}\d{3}", "LLL999"),
        _t(r"[A-Z]{2}\d{3}[A-Z]{2}", "LL999LL"),  # Mercosul
    ),
)

_REGISTRY: dict[str, Grammar] = {}


def register(grammar: Grammar) -> None:
    _REGISTRY[grammar.name] = grammar


for _grammar in (TURKEY, BRAZIL, ARGENTINA, EUROPE):
    register(_grammar)

DEFAULT_ORDER = ("TR", "EU", "BR", "AR")


def get(name: str) -> Grammar:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown plate grammar {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


#: The catch-all formats: letters and digits in loose groups, which fit many misreads too.
LOOSE_GRAMMARS = ("EU", "DE", "PL")


@dataclass(frozen=True, slots=True)
class PlateText:
    text: str
    grammar: str | None  # the sub-format that accepted it ("TR", "HR", "BR", ...), None when none did
    valid: bool
    repaired: bool

    @property
    def fixed_layout(self) -> bool:
        """Accepted by a fixed-layout country format, not by one of the loose :data:`LOOSE_GRAMMARS`."""
        return self.grammar is not None and self.grammar not in LOOSE_GRAMMARS


#: At most this many letter/digit confusions are undone to fit a fixed layout: a read needing more is more
#: likely the wrong text (a sticker read as a character shifts the rest) than a plate of that format.
MAX_CHANGES = 2


def validate(raw: str, order: Iterable[str] = DEFAULT_ORDER) -> PlateText:
    """Normalise ``raw`` and check it against the grammars in ``order``.

    Fixed-layout formats are tried first as read, then with letter/digit confusions undone by position, and
    only then the loose formats, so ``0LC4728`` becomes the Brazilian ``OLC4728`` rather than a loose match.
    """
    text = normalise(raw)
    grammars = [get(name) for name in order]
    for grammar in grammars:  # 1. a fixed-layout format as read
        sub = grammar.match(text, specific=True)
        if sub is not None:
            return PlateText(text, sub, True, False)
    # 2. a fixed-layout format after undoing letter/digit confusions: fewest changes, then grammar order
    repairs = [fixed for grammar in grammars if (fixed := grammar.repair(text)) is not None and fixed[2] <= MAX_CHANGES]
    if repairs:
        fixed = min(repairs, key=lambda r: r[2])  # min() keeps the first of equals: the grammar order
        return PlateText(fixed[0], fixed[1], True, True)
    for grammar in grammars:  # 3. a loose format (German districts, regional and personalised plates)
        sub = grammar.match(text, specific=False)
        if sub is not None:
            return PlateText(text, sub, True, False)
    return PlateText(text, None, False, False)
