"""Render a stream of progress events on stderr; return the final result.

In a terminal: tqdm bars. Into a pipe or a log file: no redrawing, one line per finished stage
(``decode: 40/40 clips in 0.8 s``), so that a log stays readable. Warnings are shown even with
``quiet`` (they say what the user must know: skipped files, no validation clips); only progress
and information lines are hidden.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable

from speechrnn.events import EpochEnd, Event, Finished, Message, Progress, Stage

# No tqdm rate ("{rate_fmt}"): events jump by whole chunks, so tqdm's own rate right after a jump
# reads millions of items per second. The events carry a measured rate in their metrics instead.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


def _format_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


class _LineProgress:
    """Progress of one stage as a single line when the stage ends (pipes and log files)."""

    def __init__(self, event: Progress, stream):
        self.stage, self.stream, self.started = event.stage, stream, time.monotonic()
        self.total: float | None = event.total
        self.last = event

    def update(self, event: Progress) -> None:
        self.last = event

    def write(self, text: str) -> None:
        print(text, file=self.stream)

    def close(self, summary: bool = True) -> None:
        if not summary:
            return
        event = self.last
        done = _count(event.done) + (f"/{_count(event.total)}" if event.total else "")
        metrics = f"  {_format_metrics(event.metrics)}" if event.metrics else ""
        print(f"{self.stage}: {done} {event.unit} in {time.monotonic() - self.started:.1f} s{metrics}",
              file=self.stream)


class _BarProgress:
    """Progress of one stage as a tqdm bar (terminals)."""

    def __init__(self, event: Progress, stream):
        from tqdm import tqdm

        self.stage, self.total, self.stream = event.stage, event.total, stream
        self.bar = tqdm(total=event.total, desc=event.stage, unit=event.unit, file=stream, dynamic_ncols=True,
                        unit_scale=event.unit in ("B", "samples"), bar_format=BAR_FORMAT)

    def update(self, event: Progress) -> None:
        self.bar.n = event.done
        if event.metrics:
            self.bar.set_postfix_str(_format_metrics(event.metrics), refresh=False)
        self.bar.refresh()

    def write(self, text: str) -> None:
        self.bar.write(text, file=self.stream)

    def close(self, summary: bool = True) -> None:  # noqa: ARG002 - the bar itself stays on screen
        self.bar.close()


def consume(events: Iterable[Event], quiet: bool = False, stream=None) -> Any:
    """Show ``events`` on ``stream`` (default stderr); return the :class:`Finished` result.

    ``quiet``: only warnings are shown.
    """
    stream = stream if stream is not None else sys.stderr
    interactive = stream.isatty() if hasattr(stream, "isatty") else False
    make_progress = _BarProgress if interactive else _LineProgress
    progress = None
    result = None

    def close_progress(summary: bool = True) -> None:
        nonlocal progress
        if progress is not None:
            progress.close(summary)
        progress = None

    def say(text: str) -> None:
        if progress is not None:
            progress.write(text)
        else:
            print(text, file=stream)

    try:
        for event in events:
            if isinstance(event, Finished):
                result = event.result
            elif isinstance(event, Message) and event.level == "warning":
                say("warning: " + event.text)
            elif quiet:
                continue
            elif isinstance(event, Stage):
                close_progress()
                if event.description:
                    print(event.description, file=stream)
            elif isinstance(event, Progress):
                if progress is None or progress.stage != event.stage or (event.total and progress.total != event.total):
                    close_progress()
                    progress = make_progress(event, stream)
                progress.update(event)
            elif isinstance(event, Message):
                say(event.text)
            elif isinstance(event, EpochEnd):
                close_progress(summary=False)  # the epoch line says it all
                print(f"epoch {event.epoch}/{event.epochs}  " + "  ·  ".join(event.summary_parts()), file=stream)
    finally:
        close_progress()
    return result
