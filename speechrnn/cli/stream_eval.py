"""``speechrnn stream-eval``: hits, misses, false accepts per hour and latency on a synthetic stream."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from speechrnn.errors import SpeechRNNError


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from speechrnn.cli.listen import add_detector_arguments
    from speechrnn.stream_eval import DISTRACTOR_DRAWS, DRAW_BY_WORD

    parser = subparsers.add_parser(
        name,
        help=help_text,
        description="Place words from a labelled folder (DATA/<word>/*.wav) at random times over "
        "background noise at a chosen SNR, run the live recognizer over the stream and report hits, "
        "misses, wrong labels, false accepts per hour and detection latency after the word's end. "
        "Words of the folder outside the model's vocabulary are played as distractors.",
    )
    parser.add_argument("model", nargs="?", default=None, help="checkpoint (default: assets/default_model.pt)")
    parser.add_argument("--data", required=True, help="labelled folder: DATA/<word>/*.wav")
    parser.add_argument("--noise", required=True, help="folder of background-noise recordings")
    parser.add_argument("--minutes", type=float, default=10.0, help="stream length (default 10)")
    parser.add_argument("--snr-db", type=float, default=10.0, help="word-to-noise ratio in dB (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed for word choice, timing and noise (default 0)")
    parser.add_argument("--hours", type=float, default=0.0,
                        help="also run each noise recording ALONE this many hours: false accepts with no speech "
                             "(an hour takes about 15 s; default 0 = skip)")
    parser.add_argument("--mixed-noise", action="store_true",
                        help="one stream over all noise recordings looped, instead of one stream (and table row) "
                             "per recording")
    parser.add_argument("--room-noises", metavar="SPEECH_DIR", default=None,
                        help="add babble (voices of this labelled folder overlapped; use speakers the model never "
                             "heard) and a steady mains hum to the noises")
    parser.add_argument("--distractors", type=float, default=0.2,
                        help="share of words outside the vocabulary, when the folder has some (default 0.2)")
    parser.add_argument("--draw", choices=DISTRACTOR_DRAWS, default=DRAW_BY_WORD,
                        help="how a distractor is drawn: 'word' (an other word, then one of its clips: every word "
                             "as often, the few clips of a scarce word repeat) or 'clip' (any clip of an other "
                             "word: every clip as often; default word)")
    parser.add_argument("--no-replay", action="store_true",
                        help="a stream of two hours or more ends with new words, instead of replaying its first hour "
                             "(the same words over the same noise, so that the drift check compares the same audio "
                             "heard early and late)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--events", action="store_true", help="with --json: include every word and detection")
    add_detector_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.atomic import check_writable_file
    from speechrnn.cli.listen import detector_config_from_args
    from speechrnn.cli.progress import consume
    from speechrnn.evaluate import write_json_atomic
    from speechrnn.data.background import with_room_noises
    from speechrnn.stream_eval import StreamConfig, stream_eval

    try:
        config = StreamConfig(minutes=args.minutes, snr_db=args.snr_db, seed=args.seed,
                              distractor_fraction=args.distractors, noise_only_hours=args.hours,
                              per_noise=not args.mixed_noise, distractor_draw=args.draw,
                              replay_first_span=not args.no_replay)
    except ValueError as exc:
        raise SpeechRNNError(str(exc)) from None
    if args.json:
        check_writable_file(args.json)  # before the stream is scored, not after it
    with tempfile.TemporaryDirectory(prefix="speechrnn-noise-") as work:
        noise = args.noise
        if args.room_noises:
            from speechrnn.checkpoint import load_checkpoint
            from speechrnn.recognizer import resolve_model_path

            vocabulary = set(load_checkpoint(resolve_model_path(args.model)).labels)
            noise = with_room_noises(Path(args.noise), Path(args.room_noises), Path(work), args.seed, vocabulary)
        result = consume(stream_eval(args.model, args.data, noise, config, detector_config_from_args(args)))
    print(result.table())
    if args.json:
        print(f"results: {write_json_atomic(args.json, result.to_dict(include_events=args.events))}")
    return 0
