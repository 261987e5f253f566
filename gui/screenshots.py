"""Save a PNG of every panel: ``python -m gui.screenshots OUT_DIR [--model PATH] [--data FOLDER]``.

Runs offscreen (or under Xvfb: ``QT_QPA_PLATFORM=xcb``), with settings and app data in a temporary
folder so the user's own are never touched. To show the panels at work without a microphone, it
feeds a recording (``--clip``) through the Listen panel exactly as the screen timer does with
microphone audio, records nothing, and, when ``--data`` is given, trains a tiny model on a few of
its words (one thread, a few seconds), evaluates the model on that folder and measures its
gradient curve, so those panels show results. Every panel is saved at 1280x800 and at 900x600
(the smallest window the app supports): ``listen.png``, ``listen-900x600.png``,
``listen-no-microphone.png``, ``record.png``, ``train.png``, ``evaluate.png``, ``models.png``, ...
and, with ``--theme both`` (the default), the same again as ``*-dark.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / "tests" / "data" / "speech_commands"
DEFAULT_CLIP = DEFAULT_DATA / "three" / "b87bdb22_nohash_1.wav"
WINDOW_SIZES = {"": (1280, 800), "-900x600": (900, 600)}  # file-name suffix -> window size
CHUNK_S = 0.033  # what one screen-timer tick reads at 30 frames/s
HISTORY_S = 3.0  # what the Listen panel's views show (gui.panels.listen.HISTORY_S)
ROOM_NOISE = 3e-4  # standard deviation of the quiet-room noise between words (about -70 dBFS)
WAIT_S = 120.0  # longest wait for a model to load, a training run or an evaluation to finish
SHOT_EPOCHS = 15  # the Train panel's run (on the Commands network, GRU 2x128): about 45 s on one core
SHOT_SYNTH_PER_WORD = 12


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the PNG files")
    parser.add_argument("--model", help="model to show (default: the bundled one)")
    parser.add_argument("--clip", type=Path, action="append",
                        help=f"recording(s) fed to the Listen panel (default: {DEFAULT_CLIP.relative_to(REPO)})")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None,
                        help="labelled folder for the Record, Evaluate and Models panels")
    parser.add_argument("--theme", choices=("light", "dark", "both"), default="both")
    return parser.parse_args(argv)


def wait_until(app, condition, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    return True


def settle(app, seconds: float = 0.3) -> None:
    wait_until(app, lambda: False, seconds)


def feed_clips(app, panel, clips: list[Path]) -> None:
    """Push room noise, each clip, room noise through the Listen panel in screen-timer-sized chunks."""
    import numpy as np

    from speechrnn.audio.io import load_audio

    rate = panel.recognizer.sample_rate_hz
    rng = np.random.default_rng(0)

    def room(seconds: float) -> np.ndarray:  # a quiet room, as a real microphone hears it
        return (rng.standard_normal(max(0, int(seconds * rate))) * ROOM_NOISE).astype(np.float32)

    parts = []
    for clip in clips:
        parts += [load_audio(clip, rate), room(0.4)]
    spoken_s = sum(part.size for part in parts) / rate
    # enough lead-in that the views' whole history holds audio (no empty strip on the left)
    stream = np.concatenate([room(max(0.5, HISTORY_S + 0.2 - spoken_s)), *parts])
    chunk = int(CHUNK_S * rate)
    panel.timer.stop()
    panel.reader = None
    for start in range(0, stream.size, chunk):
        panel.feed(stream[start : start + chunk])
    panel.refresh()
    app.processEvents()


def save(window, out_dir: Path, name: str) -> list[Path]:
    """The window at every size of :data:`WINDOW_SIZES` (it ends at the first, the largest)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    base, dark, _ = name.partition("-dark")  # the size goes before "-dark": listen-900x600-dark.png
    paths = []
    for size_suffix, size in list(WINDOW_SIZES.items())[::-1]:
        window.resize(*size)
        settle(app, 0.2)
        path = out_dir / f"{base}{size_suffix}{dark}.png"
        window.grab().save(str(path))
        print(path)
        paths.append(path)
    return paths


def shoot(args: argparse.Namespace, theme: str, suffix: str, workdir: Path) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from gui.app import build_window, parse_args as app_args

    app = QApplication.instance()
    window = build_window(app_args(["--theme", theme] + (["--model", args.model] if args.model else [])), app)
    window.resize(*WINDOW_SIZES[""])
    window.show()
    window.show_panel("listen")
    ctx = window.ctx
    ctx.model.activate(args.model)
    listen = window.panel("listen")
    if not wait_until(app, lambda: listen.recognizer is not None):
        raise SystemExit("the model did not load")
    saved = []

    # Listen: the no-microphone banner as a user without one sees it, then a clip fed as if spoken.
    if ctx.audio.mic is None:
        settle(app)
        saved.extend(save(window, args.out_dir, "listen-no-microphone" + suffix))
    listen.banner.hide()
    clips = args.clip or ([DEFAULT_CLIP] if DEFAULT_CLIP.is_file() else [])
    if clips:
        feed_clips(app, listen, clips)
    settle(app)
    saved.extend(save(window, args.out_dir, "listen" + suffix))

    # Listen > Actions: a word's command being set up (cancelled: nothing saved)
    dialog = listen.edit_actions()
    word = dialog.words[0] if dialog.words else "yes"
    dialog.add_row(word, 'notify-send "heard $SPEECHRNN_WORD ($SPEECHRNN_SCORE)"')
    settle(app)
    path = args.out_dir / f"listen-actions{suffix}.png"
    dialog.grab().save(str(path))
    print(path)
    saved.append(path)
    dialog.reject()

    # Record: a dataset folder holding a few clips, the first one previewed.
    record = window.panel("record")
    window.show_panel("record")
    if args.data is not None:
        from speechrnn.data.spec import UNKNOWN

        dataset = workdir / f"recordings{suffix}"
        words = sorted(p for p in args.data.iterdir() if p.is_dir())
        for word in words[:3]:
            shutil.copytree(word, dataset / word.name, dirs_exist_ok=True)
        for other in words[3:4]:  # a word kept as a false alarm in Listen: other speech, not a word
            (dataset / UNKNOWN).mkdir(parents=True, exist_ok=True)
            shutil.copy2(sorted(other.iterdir())[0], dataset / UNKNOWN / "heard_nohash_0.wav")
        record.folder_edit.setText(str(dataset))
        record._folder_edited()
        record.words_edit.setText("lights on, lights off")
        top = record.tree.topLevelItem(0)
        if top is not None:
            top.setExpanded(True)
            record.tree.setCurrentItem(top.child(0))
    settle(app)
    saved.extend(save(window, args.out_dir, "record" + suffix))

    train = window.panel("train")
    window.show_panel("train")
    if args.data is not None:
        # a small, quick run on the recordings above, so the panel shows curves, a log and a result
        import gui.panels.train as train_module

        train_module.training_threads = lambda: 1
        train.recordings_edit.setText(str(dataset))
        train._update_recordings()
        train.use_recordings.setChecked(True)
        train.use_synth.setChecked(train.use_synth.isEnabled())  # two clips a word are too few to learn
        train.synth_spin.setValue(SHOT_SYNTH_PER_WORD)
        train.use_speech_commands.setChecked(False)
        train.epochs_spin.setValue(SHOT_EPOCHS)
        train.aug_noise.setChecked(False)  # generated noise slows learning down: more epochs
        train.runs_edit.setText(str(workdir / f"runs{suffix}"))
        train.start()
        wait_until(app, lambda: not train.running)
    settle(app)
    saved.extend(save(window, args.out_dir, "train" + suffix))

    evaluate = window.panel("evaluate")
    window.show_panel("evaluate")
    if args.data is not None:
        evaluate.folder_edit.setText(str(args.data))
        evaluate.start()
        wait_until(app, lambda: not evaluate.running)
    settle(app)
    saved.extend(save(window, args.out_dir, "evaluate" + suffix))

    models = window.panel("models")
    window.show_panel("models")
    if args.data is not None:
        models.gradient_folder.setText(str(args.data))
        models.measure_gradients()
        wait_until(app, lambda: models.gradient_button.isEnabled())
    settle(app)
    saved.extend(save(window, args.out_dir, "models" + suffix))
    window.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="speechrnn-shots-") as tmp:
        workdir = Path(tmp)
        # Settings and app data of this run live in the temporary folder.
        os.environ["XDG_CONFIG_HOME"] = str(workdir / "config")
        os.environ["XDG_DATA_HOME"] = str(workdir / "data")
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
            QSettings.setPath(fmt, QSettings.Scope.UserScope, str(workdir / "config"))
        app = QApplication(sys.argv[:1])
        app.setApplicationName("speechrnn-gui")
        themes = ("light", "dark") if args.theme == "both" else (args.theme,)
        for theme in themes:
            shoot(args, theme, "-dark" if theme == "dark" and args.theme == "both" else "", workdir)
        app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
