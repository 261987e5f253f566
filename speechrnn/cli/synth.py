"""``speechrnn synth``: training clips for custom words from every local TTS voice."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description="Render each word with every installed text-to-speech voice (espeak-ng variants, "
        "flite voices) at random speed and pitch, as 16 kHz 1 s clips in the dataset layout "
        "OUT/<word>/<voice>_nohash_<n>.wav (each voice is one speaker). "
        "Phrases become folders with '_' between words.",
    )
    parser.add_argument("--words", help='comma-separated words or phrases, e.g. "lights on,lights off"')
    parser.add_argument("--out", help="dataset folder to write into (created if missing)")
    parser.add_argument("--per-word", type=int, default=None, metavar="N",
                        help="clips per word (default: every voice once); voices repeat with new speed/pitch")
    parser.add_argument("--seed", type=int, default=0, help="seed for speed, pitch and voice order (default 0)")
    parser.add_argument("--language", default="en", help="espeak-ng language of the voices (default en)")
    parser.add_argument("--clip-ms", type=int, default=1000, help="clip length in ms (default 1000)")
    parser.add_argument("--list-voices", action="store_true", help="only list the voices found and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.atomic import check_writable_folder
    from speechrnn.cli.progress import consume
    from speechrnn.errors import SpeechRNNError
    from speechrnn.synth import SynthConfig, list_voices, parse_words, synthesize

    if args.list_voices:
        for voice in list_voices(args.language):
            print(f"{voice.voice_id}\t{voice.engine}\t{voice.name}")
        return 0
    if not args.words or not args.out:
        raise SpeechRNNError("--words and --out are required (or use --list-voices)")
    check_writable_folder(args.out)  # before the rendering, not after it
    try:
        config = SynthConfig(words=parse_words(args.words), per_word=args.per_word, seed=args.seed,
                             language=args.language, clip_ms=args.clip_ms)
    except ValueError as exc:
        raise SpeechRNNError(f"--clip-ms: {exc}") from None
    result = consume(synthesize(config, args.out))
    print(f"wrote {len(result.files)} clips from {len(result.voices)} voices into {result.out_dir}")
    return 0 if result.files else 1
