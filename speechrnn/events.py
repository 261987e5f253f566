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


TRAIN_ON_CLIPS = "clips"  # what training's loss, accuracy and rate count (EpochEnd.train_scored_on): clips ...
TRAIN_ON_FRAMES = "frames"  # ... or every 10 ms frame of the training streams (the stream objective)


def curve_name(key: str, train_scored_on: str = TRAIN_ON_CLIPS) -> str:
    """A training curve's name ("train_acc" -> "train", "val_acc" -> "validation"). Where training counts
    frames, both sides say what they count, short enough for a chart's title line: "train (frames)"
    against "val (clips)". Frames (words, their surroundings, background) and whole clips are scored
    differently, so the two curves must not be compared with each other."""
    if key.startswith("train"):
        return "train" if train_scored_on == TRAIN_ON_CLIPS else f"train ({train_scored_on})"
    return "validation" if train_scored_on == TRAIN_ON_CLIPS else f"val ({TRAIN_ON_CLIPS})"


@dataclass(frozen=True)
class EpochEnd:
    """One training epoch finished; ``metrics`` has train/validation loss and accuracy;
    ``kept_epoch`` is the epoch whose weights best.pt holds now (None: not told); ``keeps_final``:
    best.pt follows the last epoch whatever validation says (``TrainConfig.keep``);
    ``train_scored_on``: what the training figures count (TRAIN_ON_CLIPS or TRAIN_ON_FRAMES);
    validation always scores clips, as the live recognizer hears them."""

    epoch: int
    epochs: int
    metrics: dict[str, float]
    kept_epoch: int | None = None
    keeps_final: bool = False
    train_scored_on: str = TRAIN_ON_CLIPS

    def summary_parts(self) -> list[str]:
        """The epoch for a person (the CLI's epoch line, the GUI's log), in parts that a narrow log
        keeps whole: "loss 0.412 / val 0.520", "accuracy 88.1 % / val 84.0 %", "lr 0.001", "1,250 clips/s".
        Where training counts frames, grouped by what each side counts instead of side by side:
        "frames: loss 0.412, accuracy 97.2 %", "val clips: loss 0.520, accuracy 84.0 %"."""
        metrics = self.metrics
        parts = []
        if self.train_scored_on == TRAIN_ON_CLIPS:
            if "train_loss" in metrics:
                parts.append(f"loss {metrics['train_loss']:.3f}"
                             + (f" / val {metrics['val_loss']:.3f}" if "val_loss" in metrics else ""))
            if "train_acc" in metrics:
                parts.append(f"accuracy {100 * metrics['train_acc']:.1f} %"
                             + (f" / val {100 * metrics['val_acc']:.1f} %" if "val_acc" in metrics else ""))
        else:
            for prefix, side in ((f"{self.train_scored_on}: ", "train"), (f"val {TRAIN_ON_CLIPS}: ", "val")):
                figures = ([f"loss {metrics[side + '_loss']:.3f}"] if side + "_loss" in metrics else []) + (
                    [f"accuracy {100 * metrics[side + '_acc']:.1f} %"] if side + "_acc" in metrics else [])
                if figures:
                    parts.append(prefix + ", ".join(figures))
        if "lr" in metrics:
            parts.append(f"lr {metrics['lr']:.2g}")
        if "samples_per_s" in metrics:
            parts.append(f"{metrics['samples_per_s']:,.0f} {self.train_scored_on}/s")
        return parts


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
