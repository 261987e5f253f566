"""User-facing errors.

Anything raised as :class:`SpeechRNNError` is a user mistake or an environment problem
(bad file, missing folder, no microphone). The CLI prints it as one line and exits non-zero;
the GUI shows it in a message box. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

from pathlib import Path


class SpeechRNNError(Exception):
    """An error the user can fix; its message is one self-contained line."""


class AudioError(SpeechRNNError):
    """An audio file cannot be read or is empty."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DataError(SpeechRNNError):
    """A dataset folder is missing, empty or malformed."""


class CheckpointError(SpeechRNNError):
    """A checkpoint is missing, corrupt or incompatible."""


class DeviceError(SpeechRNNError):
    """An audio device is missing, busy or unplugged."""
