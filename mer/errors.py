"""Errors that name where bad input was found, so a user can go straight to the file."""

from __future__ import annotations


class MerError(Exception):
    """Base class for errors `mer` reports to the user without a traceback."""


class ConfigError(MerError):
    """A parameter file is invalid; the message names the offending key."""


class InputDataError(MerError):
    """Bad input data: the message names dataset, subject, clip and frame where known."""

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        subject: str | None = None,
        clip: str | None = None,
        frame: int | str | None = None,
        path: str | None = None,
    ) -> None:
        self.dataset, self.subject, self.clip, self.frame, self.path = dataset, subject, clip, frame, path
        self.reason = message
        where = [
            f"{key}={value}"
            for key, value in (
                ("dataset", dataset),
                ("subject", subject),
                ("clip", clip),
                ("frame", frame),
                ("path", path),
            )
            if value is not None
        ]
        super().__init__(f"[{' '.join(where)}] {message}" if where else message)
