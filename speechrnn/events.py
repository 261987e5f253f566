"""Typed progress events for long work (download, caching, training, evaluation).

Long operations are generators that ``yield`` these events and finish with a :class:`Finished`
event carrying the result. The CLI turns them into progress bars (``speechrnn.cli.progress``);
the GUI runs the same generator in a worker thread and forwards each event as a Qt signal.
Cancellation is cooperative: the caller sets a :class:`CancelToken`, the generator checks it at
safe points and raises :class:`Cancelled` (after saving whatever must not be lost).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Generator, Iterable, TypeVar, Union

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a long operation when its :class:`CancelToken` was set."""


class CancelToken:
    """Thread-safe flag: set by a UI thread, polled by the worker."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class Stage:
    """A new phase begins (e.g. "download", "extract", "cache", "train")."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units (``total`` None when unknown) within ``stage``."""

    stage: str
    done: float
    total: float | None = None
    unit: str = "it"
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. loss, acc, samples/s


@dataclass(frozen=True)
class Message:
    """A line for the user: ``level`` is "info" or "warning"."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class EpochEnd:
    """One training epoch finished; ``metrics`` has train/validation loss and accuracy;
    ``kept_epoch`` is the epoch whose weights best.pt holds now (None: not told); ``keeps_final``:
    best.pt follows the last epoch whatever validation says (``TrainConfig.keep``)."""

    epoch: int
    epochs: int
    metrics: dict[str, float]
    kept_epoch: int | None = None
    keeps_final: bool = False


@dataclass(frozen=True)
class Finished:
    """Last event of an operation; ``result`` is what the operation produced."""

    result: Any = None


Event = Union[Stage, Progress, Message, EpochEnd, Finished]
EventStream = Generator[Event, None, None]


def run_to_end(events: Iterable[Event]) -> Any:
    """Drain an event stream silently and return its :class:`Finished` result (tests, scripts)."""
    result = None
    for event in events:
        if isinstance(event, Finished):
            result = event.result
    return result
