"""Reading spreadsheet cells: pandas hands back ints, floats (a column with blanks), strings
or NaN for the same kind of field, so every corpus reader interprets cells the same way."""

from __future__ import annotations

import math
import numbers
import re

_DIGITS = re.compile(r"\d+", re.ASCII)


def is_blank(value: object) -> bool:
    """True for an empty cell (None, NaN or only whitespace)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def as_int(value: object) -> int | None:
    """A non-negative whole number from a cell (3, 3.0, " 3"), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        number = int(float(value))
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if number >= 0 else None


def as_text(value: object) -> str:
    """A cell as trimmed text; whole floats lose their '.0' and blanks become ''."""
    if is_blank(value):
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
        return str(int(float(value)))
    return str(value).strip()


def describe(value: object) -> str:
    """A cell for an error message: its text quoted, or '(empty cell)'."""
    return "(empty cell)" if is_blank(value) else repr(as_text(value))
