"""``speechrnn listen``: recognize words live from the microphone, or from a long audio file.

A terminal (TTY) gets a live view: level meter, the top-3 smoothed scores and one line per
detection. Anything else (a pipe, a log file) gets one plain line per detection::

    14:03:07.512  detected  yes  0.93  (t=12.34 s)

``--file`` runs the very same Recognizer over a file (the first column is then the position in
the file). Ctrl-C stops cleanly; a microphone that disappears is waited for and reopened.
``--exec CMD`` runs a command for every detection, ``--exec-word WORD CMD`` for one word
(:mod:`speechrnn.detection_command`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import shutil
import sys
import time
from typing import Callable

READ_INTERVAL_S = 0.08  # audio taken from the ring this often (as openWakeWord: 1280 samples); adds <= this latency
VIEW_INTERVAL_S = 0.1  # TTY status line refresh
FILE_CHUNK_S = 0.1  # push size for --file (results do not depend on it)
METER_WIDTH = 20  # characters of the level bar
METER_FLOOR_DB = -60.0  # the level bar's empty end
TOP_K = 3


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by listen and stream-eval that build a DetectorConfig."""
    group = parser.add_argument_group("detection")
    group.add_argument("--threshold", type=float, default=None,
                       help="smoothed score a word must reach (default: the one the model's training recorded, "
                            "e.g. 0.7 for a custom word from the Train panel; else 0.6)")
    group.add_argument("--smoothing-ms", type=float, default=None,
                       help="posterior moving average (default 100 for stream-trained models, 300 for clip-trained)")
    group.add_argument("--suppression-ms", type=float, default=None,
                       help="clip-trained models: quiet time after a detection (default 750)")
    group.add_argument("--peak-hold-ms", type=float, default=None,
                       help="stream-trained models: a word is reported once its score has not risen for this long "
                            "(default 60)")
    group.add_argument("--refractory-ms", type=float, default=None,
                       help="stream-trained models: another word peaking this soon after a detection is the same "
                            "utterance and is dropped (default 300)")
    group.add_argument("--release-ratio", type=float, default=None,
                       help="stream-trained models: a word's score must fall below this fraction of the threshold "
                            "before the same word can be reported again (default 0.67; 1 = at the threshold)")
    group.add_argument("--min-prominence-db", type=float, default=None,
                       help="a word must stand this many dB above the room's usual level (the median 100 ms "
                            "of the last 4 s; default 10; 0 = off): hum, fans and other people talking cannot "
                            "fire. Lower it in a loud room")
    group.add_argument("--min-count", type=int, default=None, help="frames the word must lead in the smoothing window (default 1)")
    group.add_argument("--lanes", type=int, default=None,
                       help="clip-trained models: staggered state lanes (default 4; 1 = one carried state); "
                            "stream-trained models always run one carried state")
    group.add_argument("--lane-stride-ms", type=float, default=None,
                       help="lane reset stagger in ms (default 250); 0 = never reset (needs --lanes 1)")
    group.add_argument("--silence-reset-ms", type=float, default=None, help="reset the state after this much silence")
    group.add_argument("--mode", choices=("auto", "stream", "window"), default=None,
                       help="carried state (stream) or re-run a 1 s window (window); auto picks")
    group.add_argument("--window-stride-ms", type=float, default=None, help="window mode: re-run every N ms (default 100)")
    group.add_argument("--engine", choices=("auto", "torch", "onnx"), default=None,
                       help="run the RNN in torch or onnxruntime (default auto: onnxruntime if it works)")


def detector_config_from_args(args: argparse.Namespace):
    """A DetectorConfig with the defaults, overridden by the options given."""
    from dataclasses import replace

    from speechrnn.recognizer import DetectorConfig

    names = ("threshold", "smoothing_ms", "suppression_ms", "peak_hold_ms", "refractory_ms", "release_ratio",
             "min_prominence_db", "min_count", "lanes", "lane_stride_ms", "silence_reset_ms", "mode",
             "window_stride_ms", "engine")
    changes = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if changes.get("lane_stride_ms") == 0:
        changes["lane_stride_ms"] = None
    try:
        return replace(DetectorConfig(), **changes)
    except ValueError as exc:
        from speechrnn.errors import SpeechRNNError

        raise SpeechRNNError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description="Recognize words as they are spoken. MODEL (or --model) is a checkpoint file or a bundled "
        "model: digits (the default) or commands. "
        "Plain lines ('HH:MM:SS.mmm  detected  WORD  SCORE  (t=SECONDS s)') when stdout is not a terminal.",
    )
    parser.add_argument("model", nargs="?", default=None,
                        help="checkpoint file or bundled model name (default: the bundled digits model)")
    parser.add_argument("--model", dest="model_choice", metavar="NAME|PATH", default=None,
                        help="bundled model (digits, commands: `speechrnn info` lists them) or a checkpoint file")
    parser.add_argument("--device", default=None, help="input device index or name part (see `speechrnn devices`)")
    parser.add_argument("--file", default=None, help="recognize this audio file instead of the microphone")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--plain", action="store_true", help="plain detection lines even on a terminal")
    parser.add_argument("--save-heard", metavar="DIR", default=None,
                        help="keep the audio of every detection as DIR/WORD/heard_nohash_N.wav (a dataset folder): "
                             "move the false ones into DIR/_unknown_/ and train with --data DIR, so the model "
                             "learns to reject what your room says")
    parser.add_argument("--heard-as-other", action="store_true",
                        help="with --save-heard: keep every detection as other speech (DIR/_unknown_/), for audio "
                             "known to hold none of the model's words (hours of radio, a meeting): each one is a "
                             "false alarm to train on, as in Mycroft Precise's incremental training")
    parser.add_argument("--exec", dest="exec_command", metavar="CMD", default=None,
                        help="run CMD through the shell for every detection, beside the listener (which never "
                             "waits for it): the word, its score and time in $SPEECHRNN_WORD, $SPEECHRNN_SCORE, "
                             "$SPEECHRNN_TIME_S (and the model in $SPEECHRNN_MODEL); its output goes to stderr. "
                             "E.g. --exec 'notify-send \"heard $SPEECHRNN_WORD\"'")
    parser.add_argument("--exec-word", dest="exec_words", nargs=2, action="append", metavar=("WORD", "CMD"),
                        default=[], help="run CMD (as --exec does) when WORD is heard; repeat for more words. "
                                         "--exec then runs for the words without one of their own (the app's "
                                         "Listen > Actions). E.g. --exec-word lights_on 'lights.sh on'")
    add_detector_arguments(parser)
    parser.set_defaults(func=run)


def clock(seconds_since_midnight: float | None = None) -> str:
    """``HH:MM:SS.mmm`` of now, or of an offset in seconds."""
    if seconds_since_midnight is None:
        return _dt.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    millis = round(seconds_since_midnight * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def detection_line(detection, stamp: str) -> str:
    return f"{stamp}  detected  {detection.label}  {detection.score:.2f}  (t={detection.time_s:.2f} s)"


class TerminalView:
    """Live status line on a TTY (meter + top-3), detection lines above it; plain lines otherwise."""

    def __init__(self, labels: list[str], live_view: bool, stream=sys.stdout):
        self.labels = labels
        self.live_view = live_view
        self.stream = stream
        self._last_draw = 0.0

    def detection(self, detection, stamp: str) -> None:
        line = detection_line(detection, stamp)
        if self.live_view:
            self.stream.write("\r\x1b[K" + line + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def update(self, recognizer, force: bool = False) -> None:
        if not self.live_view:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < VIEW_INTERVAL_S:
            return
        self._last_draw = now
        level = recognizer.level_db
        filled = round(METER_WIDTH * min(1.0, max(0.0, (level - METER_FLOOR_DB) / -METER_FLOOR_DB)))
        posteriors = recognizer.posteriors
        top = posteriors.argsort()[::-1][:TOP_K]
        scores = "  ".join(f"{self.labels[i]} {posteriors[i]:.2f}" for i in top)
        line = f"[{'#' * filled}{'-' * (METER_WIDTH - filled)}] {level:6.1f} dB | {scores} | t={recognizer.time_s:7.1f} s"
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r\x1b[K" + line[:width])
        self.stream.flush()

    def close(self) -> None:
        if self.live_view:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class HeardSaver:
    """``--save-heard DIR``: every detection's audio, kept as a clip of its word in DIR (or nothing)."""

    def __init__(self, folder: str | None, recognizer, view: TerminalView, as_other: bool = False):
        self.folder, self.recognizer, self.view, self.as_other = folder, recognizer, view, as_other
        if folder is not None:  # say so now, not at the first word an hour later
            from pathlib import Path

            from speechrnn.errors import SpeechRNNError

            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SpeechRNNError(f"{folder}: cannot keep what is heard there ({exc.strerror or exc})") from None

    def __call__(self, detection) -> None:
        if self.folder is None:
            return
        from speechrnn.data.spec import UNKNOWN
        from speechrnn.record import save_heard

        recognizer = self.recognizer
        label = UNKNOWN if self.as_other else detection.label
        path = save_heard(self.folder, label, recognizer.heard_audio(detection),
                          recognizer.sample_rate_hz, recognizer.feature_config.clip_samples)
        print(("\r\x1b[K" if self.view.live_view else "") + f"saved {path}", file=sys.stderr)


def chosen_model(args: argparse.Namespace):
    """MODEL or --model (a bundled name or a path; None = the bundled default), never two different ones."""
    if args.model is not None and args.model_choice is not None and args.model != args.model_choice:
        from speechrnn.errors import SpeechRNNError

        raise SpeechRNNError(f"two models given ({args.model} and --model {args.model_choice}); give one")
    return args.model_choice if args.model_choice is not None else args.model


def command_table(args: argparse.Namespace, labels: list[str], model: str) -> dict[str, str]:
    """``--exec`` and ``--exec-word`` as the word -> command table of
    :class:`~speechrnn.detection_command.DetectionCommand`; a word the model cannot say is an error."""
    from speechrnn.detection_command import ANY_WORD
    from speechrnn.errors import SpeechRNNError
    from speechrnn.recognizer import is_background

    words = [label for label in labels if not is_background(label)]
    table = {ANY_WORD: args.exec_command} if args.exec_command else {}
    for word, command in args.exec_words:
        if word not in words:
            raise SpeechRNNError(f"--exec-word: {word!r} is not a word of {model or 'the model'} "
                                 f"(its words: {', '.join(words)})")
        table[word] = command
    return table


def run(args: argparse.Namespace) -> int:
    import torch

    from speechrnn.recognizer import Recognizer

    if args.heard_as_other and args.save_heard is None:
        from speechrnn.errors import SpeechRNNError

        raise SpeechRNNError("--heard-as-other needs --save-heard DIR (where to keep them)")
    torch.set_num_threads(1)  # tiny per-chunk work: more threads only add overhead
    recognizer = Recognizer.from_checkpoint(chosen_model(args), detector_config_from_args(args))
    if recognizer.engine_note:
        print(f"note: {recognizer.engine_note}", file=sys.stderr)
    view = TerminalView(recognizer.labels, live_view=sys.stdout.isatty() and not args.plain)
    actions: list[Callable] = [HeardSaver(args.save_heard, recognizer, view, args.heard_as_other)]
    command = None
    if args.exec_command or args.exec_words:
        from speechrnn.detection_command import DetectionCommand

        def report(line: str) -> None:
            print(("\r\x1b[K" if view.live_view else "") + line, file=sys.stderr)

        checkpoint = recognizer.checkpoint
        model = str(checkpoint.path) if checkpoint is not None and checkpoint.path is not None else ""
        command = DetectionCommand(command_table(args, recognizer.labels, model), model, report)
    try:
        if args.file:
            return _listen_file(recognizer, args, view, actions, command)
        return _listen_live(recognizer, args, view, actions, command)
    finally:
        view.close()
        if command is not None:
            command.close()


def announce(detection, stamp: str, view: TerminalView, actions: list[Callable], command=None) -> None:
    """A detection's command starts, then its line is printed, then the other actions (--save-heard)
    run: once "detected" is said its command is running, even if the listener is stopped right then
    (a service manager's SIGTERM)."""
    if command is not None:
        command(detection)
    view.detection(detection, stamp)
    for act in actions:
        act(detection)


def _listen_file(recognizer, args: argparse.Namespace, view: TerminalView, actions: list[Callable],
                 command=None) -> int:
    from speechrnn.audio.io import load_audio

    audio = load_audio(args.file, recognizer.sample_rate_hz)
    if args.duration is not None:
        audio = audio[: round(args.duration * recognizer.sample_rate_hz)]
    chunk = round(FILE_CHUNK_S * recognizer.sample_rate_hz)
    count = 0
    pushes = (recognizer.push(audio[start : start + chunk]) for start in range(0, audio.size, chunk))
    finish = (recognizer.flush() for _ in range(1))  # after the pushes: the file's last word is decided too
    for found in itertools.chain(pushes, finish):
        for detection in found:
            announce(detection, clock(detection.time_s), view, actions, command)
            count += 1
    print(f"{count} detection(s) in {audio.size / recognizer.sample_rate_hz:.1f} s of {args.file}", file=sys.stderr)
    return 0


def _listen_live(recognizer, args: argparse.Namespace, view: TerminalView, actions: list[Callable],
                 command=None) -> int:
    from speechrnn.audio.capture import Microphone, open_microphone
    from speechrnn.errors import DeviceError

    def make() -> Microphone:
        return Microphone(args.device, recognizer.sample_rate_hz)

    said = ""  # the last reason printed: a retry every 2 s says it again only when it changes

    def waiting(error: DeviceError) -> None:
        nonlocal said
        if str(error) != said:
            said = str(error)
            print(f"waiting for the microphone: {error}", file=sys.stderr)

    mic = open_microphone(make, attempts=1)
    started = time.monotonic()
    try:  # from here on a Ctrl-C, whenever it comes, stops the stream (said "listening": the test's cue)
        print(f"listening on {mic.device.name} ({mic.capture_rate_hz} Hz); Ctrl-C to stop", file=sys.stderr)
        reader = mic.reader()
        while args.duration is None or time.monotonic() - started < args.duration:
            time.sleep(READ_INTERVAL_S)
            try:
                samples = reader.read()
            except DeviceError as error:  # unplugged or stalled: wait for it to come back
                print(f"\r\x1b[K{error}" if view.live_view else str(error), file=sys.stderr)
                mic.stop()
                mic = open_microphone(make, on_error=waiting, rescan=not mic.stuck)
                reader = mic.reader()
                print(f"listening again on {mic.device.name}", file=sys.stderr)
                continue
            for detection in recognizer.push(samples):
                announce(detection, clock(), view, actions, command)
            if command is not None:
                command.reap()  # a failed command is said soon after it ends, not at the next word
            view.update(recognizer)
    except KeyboardInterrupt:
        pass
    finally:
        mic.stop()
    if mic.overflows:
        print(f"note: {mic.overflows} input overflow(s): audio was dropped by the device", file=sys.stderr)
    return 0
