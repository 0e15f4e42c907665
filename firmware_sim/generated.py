"""Write a generated data file, or check that the committed one is current."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(out: Path, text: str, *, check: bool) -> int:
    """With ``check``: exit status 1 if ``out`` differs from ``text``.  Otherwise write it if it differs."""
    current = out.read_text(encoding="utf-8") if out.exists() else None
    if check:
        if current != text:
            print(f"{out} is out of date", file=sys.stderr)
            return 1
        return 0
    if current != text:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    return 0
