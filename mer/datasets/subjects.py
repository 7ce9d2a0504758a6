"""Subject-id normalisers: the many spellings of one subject id -> the corpus's folder name.

Corpora spell ids differently across files and loaders (`s1`/`s01`/`20`, `'006'`/`6`,
`spNO.1`/`spNo.1`); each corpus picks one normaliser so a subject is keyed one way.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mer.datasets import cells


def numbered(template: str, prefixes: tuple[str, ...] = ()) -> Callable[[object], str]:
    """Ids given as a number, optionally after one of `prefixes` (any case, optional spaces
    or dots), formatted with `template` ('sub{:02d}' turns 1, '01' and 'sub1' into 'sub01')."""
    pattern = re.compile(rf"(?:{'|'.join(map(re.escape, prefixes))})?\s*(\d+)", re.IGNORECASE) if prefixes else None

    def normalise(raw: object) -> str:
        number = cells.as_int(raw)
        if number is None and pattern is not None:
            match = pattern.fullmatch(cells.as_text(raw))
            number = int(match.group(1)) if match else None
        if number is None or number == 0:
            raise ValueError(f"subject id {cells.describe(raw)} is not a positive whole number")
        return template.format(number)

    return normalise


def verbatim(raw: object) -> str:
    """Ids used as written (trimmed); they must be usable as a folder name."""
    text = cells.as_text(raw)
    if not text or text in (".", "..") or {"/", "\\"} & set(text):
        raise ValueError(f"subject id {cells.describe(raw)} is not a folder name")
    return text
