"""Validation findings: each names where it was found; all of them fail a stage together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mer.errors import InputDataError


CATEGORIES = {
    "subject": "the subject id cannot be read",
    "clip": "the clip name is empty or not a folder name",
    "frame_number": "onset, apex or offset is not a frame number (apex '/')",
    "offset": "offset is 0",
    "order": "onset <= apex <= offset does not hold (apex 0 included)",
    "label": "the emotion label is not in the corpus's vocabulary or alias table",
    "duplicate": "a sample key appears twice",
    "layout": "no frame folder, or a clip folder is missing",
    "missing_frames": "frames between onset and offset are missing or doubled",
    "unreadable": "a frame file is empty or cannot be decoded",
    "damaged": "a frame is on the corpus's official damaged-image list",
    "other": "anything else",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a corpus, located by dataset, subject, clip, frame and sheet row.

    `frame` is a frame number, the offending cell text (apex "/") or a list of gaps
    ("12-15, 20"); `row` is the annotation line as Excel numbers it (header = 1).
    `category` (one of `CATEGORIES`) lets a user opt out of one kind of check.
    """

    dataset: str
    subject: str | None
    clip: str | None
    frame: int | str | None
    message: str
    row: int | None = None
    category: str = "other"

    def as_error(self) -> InputDataError:
        """This problem alone as an InputDataError."""
        message = self.message if self.row is None else f"{self.message} (annotation row {self.row})"
        return InputDataError(message, dataset=self.dataset, subject=self.subject, clip=self.clip, frame=self.frame)

    def __str__(self) -> str:
        return str(self.as_error())


class DatasetValidationError(InputDataError):
    """Every problem pre-flight validation found, raised at once; `problems` holds them."""

    def __init__(self, dataset: str, source: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in {source}:\n{lines}", dataset=dataset)
