"""``speechrnn record``: record takes of your own words into a dataset folder.

For each word and take: a prompt, a recording of ``--seconds``, the spoken part cut out by energy,
padded to 1 s, shown (length, level, problems), then kept or redone. Kept takes are written at
once, atomically, as ``OUT/<word>/<speaker>_nohash_<n>.wav``, so stopping at any point (Ctrl-C,
``q``) keeps every take saved so far. ``--yes`` keeps every take without asking (takes in which no
speech was heard are recorded again, up to ``--retries`` times).
"""

from __future__ import annotations

import argparse
import getpass
import sys

DEFAULT_SECONDS = 2.0  # recording per take: time to react and say a word of up to 1 s
DEFAULT_RETRIES = 3  # --yes: re-recordings of a take in which no speech was heard
START_TIMEOUT_S = 5.0  # a microphone that delivers nothing for this long is an error


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description="Record takes of each word, trimmed to the spoken part and padded to 1 s, into "
        "OUT/<word>/<speaker>_nohash_<n>.wav (the Speech Commands layout, ready for `speechrnn train`).",
    )
    parser.add_argument("--words", required=True, help="comma-separated words, e.g. yes,no,lights")
    parser.add_argument("--takes", type=int, default=10, help="takes per word (default 10)")
    parser.add_argument("--out", required=True, help="dataset folder (created if missing)")
    parser.add_argument("--speaker", default=None, help="speaker id in the file names (default: your user name)")
    parser.add_argument("--device", default=None, help="input device index or name part (see `speechrnn devices`)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"recording length per take (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--yes", action="store_true", help="keep every take without asking")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                        help=f"with --yes: re-record takes without speech up to N times (default {DEFAULT_RETRIES})")
    parser.set_defaults(func=run)


def _ask(prompt: str) -> str:
    """A line from the user ('q' on end of input)."""
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return "q"


def _describe(take) -> str:
    import numpy as np

    peak = float(np.max(np.abs(take.raw))) if take.raw.size else 0.0
    peak_db = 20 * np.log10(max(peak, 1e-5))
    text = f"speech {take.speech_ms:.0f} ms, peak {peak_db:.0f} dBFS"
    return text + ("" if take.ok else "  [" + "; ".join(take.problems) + "]")


def run(args: argparse.Namespace) -> int:
    from speechrnn.audio.capture import Microphone
    from speechrnn.errors import SpeechRNNError
    from speechrnn.features import FeatureConfig
    from speechrnn.record import RecordingSession, process_take, safe_speaker, save_take

    words = [w.strip() for w in args.words.split(",") if w.strip()]
    if not words:
        raise SpeechRNNError("--words is empty")
    if args.takes < 1 or args.seconds < 1.0:
        raise SpeechRNNError("--takes must be at least 1 and --seconds at least 1")
    speaker = safe_speaker(args.speaker or getpass.getuser())
    features = FeatureConfig()
    rate, clip_samples = features.sample_rate_hz, features.clip_samples
    saved = []
    with Microphone(args.device, rate) as mic:
        mic.reader().read_at_least(1, START_TIMEOUT_S)  # fail early if the device delivers nothing
        print(f"recording from {mic.device.name} as speaker '{speaker}' into {args.out}", file=sys.stderr)
        try:
            for word in words:
                take_number, retries = 1, 0
                while take_number <= args.takes:
                    if not args.yes:
                        answer = _ask(f"[{word}] take {take_number}/{args.takes}: press Enter, then say '{word}' (q to quit) ")
                        if answer == "q":
                            return _summary(saved)
                    print(f"recording now: say '{word}'", flush=True)
                    take = process_take(RecordingSession(mic, args.seconds).record(), rate, clip_samples)
                    print(f"  {_describe(take)}", flush=True)
                    if args.yes:
                        no_speech = take.speech_end <= take.speech_start
                        if no_speech and retries < args.retries:
                            retries += 1
                            continue
                        if no_speech:
                            print(f"  skipped: no speech in {retries + 1} tries", flush=True)
                            take_number, retries = take_number + 1, 0
                            continue
                    else:
                        answer = _ask("  keep? [Y]es / [r]edo / [q]uit ")
                        if answer == "q":
                            return _summary(saved)
                        if answer.startswith("r"):
                            continue
                    path = save_take(args.out, word, speaker, take.clip, rate)
                    saved.append(path)
                    print(f"  saved {path}", flush=True)
                    take_number, retries = take_number + 1, 0
        except KeyboardInterrupt:
            _summary(saved)
            raise
    return _summary(saved)


def _summary(saved: list) -> int:
    print(f"{len(saved)} take(s) saved", file=sys.stderr)
    return 0
