"""Measure the app's start-up time, CPU use while listening and plot frame rate.

``python -m gui.measure [--seconds 30] [--model PATH] [--file WAV] [--json OUT]``

* start-up: from this process's start to the window on screen (``window_s``), and to the first
  screen refresh with the model loaded and audio flowing (``startup_s``, the listening window),
  through the same steps as ``speechrnn-gui``;
* CPU: process CPU time (all threads) / wall time over ``--seconds`` of listening, as a percentage
  of one core;
* frame rate: screen refreshes per second of the Listen panel's plots.

Audio comes from the microphone (e.g. the virtual one of ``tools/virtual-mic.sh``); without one,
or with ``--file``, a recording is fed in real time through the same screen-timer path. Settings
go to a temporary folder. Run under Xvfb (``QT_QPA_PLATFORM=xcb``) to include real painting.
"""

from __future__ import annotations

import time

START_S = time.monotonic()  # before Qt, torch and the app are imported

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FILE = REPO / "tests" / "data" / "speech_commands" / "three" / "b87bdb22_nohash_1.wav"
START_MARGIN_S = 60.0  # fed audio beyond --seconds: the wait for the first screen refresh
PAUSE_S = 1.0  # the fed recording is repeated, with these pauses, to last the whole measurement


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gui.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to listen while measuring CPU")
    parser.add_argument("--model", help="model (default: the bundled one)")
    parser.add_argument("--device", help="microphone (index or name part)")
    parser.add_argument("--file", type=Path, help="feed this recording instead of a microphone")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    return parser.parse_args(argv)


def looped(path: Path, sample_rate_hz: int, seconds: float):
    """The recording with a pause after it, repeated to last ``seconds`` (and start-up) at least."""
    import math

    import numpy as np

    from speechrnn.audio.io import load_audio

    once = np.concatenate([load_audio(path, sample_rate_hz), np.zeros(int(PAUSE_S * sample_rate_hz), np.float32)])
    return np.tile(once, math.ceil((seconds + START_MARGIN_S) * sample_rate_hz / once.size))


def run_until(condition, poll_ms: int = 5) -> None:
    """Run the Qt event loop until ``condition()`` holds (checked every ``poll_ms``)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(poll_ms)
    if not condition():
        loop.exec()
    timer.stop()


def run_for(seconds: float) -> None:
    """Run the Qt event loop, and nothing else, for ``seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="speechrnn-measure-")
    os.environ["XDG_CONFIG_HOME"] = workdir
    os.environ["XDG_DATA_HOME"] = workdir
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, workdir)
    from gui.app import build_window, parse_args as app_args
    from gui.panels.listen import FileFeed

    app = QApplication(sys.argv[:1])
    options = (["--model", args.model] if args.model else []) + (["--device", args.device] if args.device else [])
    window = build_window(app_args(options), app)
    window.show()
    window.show_panel("listen")
    panel = window.panels["listen"]
    app.processEvents()  # first paint, then the model loads (as in gui.app.main)
    window_s = time.monotonic() - START_S
    window.ctx.model.activate(args.model)

    def listening() -> bool:
        recognizer = panel.recognizer
        return recognizer is not None and recognizer.time_s > 0 and panel._frames_drawn > 0

    feed_file = args.file
    run_until(lambda: panel.recognizer is not None)
    if not window.ctx.audio.running and feed_file is None:
        feed_file = DEFAULT_FILE
    if feed_file is not None:
        samples = looped(feed_file, panel.recognizer.sample_rate_hz, args.seconds)
        panel.reader = FileFeed(feed_file, samples, panel.recognizer.sample_rate_hz)
    run_until(listening)
    startup_s = time.monotonic() - START_S
    source = f"file {feed_file.name}" if feed_file is not None else f"microphone {window.ctx.audio.device.name}"

    frames_before = panel.recognizer.frames_seen
    refreshes = 0
    original_refresh = panel.refresh

    def counted_refresh() -> None:
        nonlocal refreshes
        refreshes += 1
        original_refresh()

    panel.refresh = counted_refresh  # the screen timer looks it up on every tick
    shown = 0
    original_show = panel._show_detection

    def counted_show(detection) -> None:
        nonlocal shown
        shown += 1
        original_show(detection)

    panel._show_detection = counted_show
    cpu0, wall0 = time.process_time(), time.monotonic()
    run_for(args.seconds)
    cpu_s, wall_s = time.process_time() - cpu0, time.monotonic() - wall0
    result = {
        "window_s": round(window_s, 3),
        "startup_s": round(startup_s, 3),
        "cpu_percent_of_one_core": round(100.0 * cpu_s / wall_s, 1),
        "plot_fps": round(refreshes / wall_s, 1),
        "audio_s": round((panel.recognizer.frames_seen - frames_before) * panel.recognizer.feature_config.hop_ms
                         / 1000, 1),
        "seconds": round(wall_s, 1),
        "source": source,
        "platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "detections": shown,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
