"""Render a stream of progress events in the terminal (tqdm bars); return the final result."""

from __future__ import annotations

import sys
from typing import Any, Iterable

from speechrnn.events import EpochEnd, Event, Finished, Message, Progress, Stage


def _format_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def consume(events: Iterable[Event], quiet: bool = False) -> Any:
    """Show ``events`` as progress bars and lines on stderr; return the :class:`Finished` result."""
    from tqdm import tqdm

    bar = None
    bar_stage = None
    result = None

    def close_bar() -> None:
        nonlocal bar, bar_stage
        if bar is not None:
            bar.close()
        bar, bar_stage = None, None

    try:
        for event in events:
            if isinstance(event, Finished):
                result = event.result
            elif quiet:
                continue
            elif isinstance(event, Stage):
                close_bar()
                if event.description:
                    print(event.description, file=sys.stderr)
            elif isinstance(event, Progress):
                if bar is None or bar_stage != event.stage or (event.total and bar.total != event.total):
                    close_bar()
                    bar = tqdm(total=event.total, desc=event.stage, unit=event.unit, file=sys.stderr,
                               dynamic_ncols=True, unit_scale=event.unit in ("B", "samples"))
                    bar_stage = event.stage
                bar.n = event.done
                if event.metrics:
                    bar.set_postfix_str(_format_metrics(event.metrics), refresh=False)
                bar.refresh()
            elif isinstance(event, Message):
                (bar.write if bar is not None else lambda s: print(s, file=sys.stderr))(
                    ("warning: " if event.level == "warning" else "") + event.text
                )
            elif isinstance(event, EpochEnd):
                close_bar()
                print(f"epoch {event.epoch}/{event.epochs}  {_format_metrics(event.metrics)}", file=sys.stderr)
    finally:
        close_bar()
    return result
