"""``speechrnn predict MODEL FILE...``: the top-k labels of each audio file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text,
        description="Print the most likely labels of each audio file (any format/rate; padded or "
                    "cropped to the model's clip length). An unreadable file is reported on stderr after the "
                    "others are printed, and the exit status is then 2.")
    parser.add_argument("model", help="checkpoint (.pt) or bundled model name (digits, commands)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3)")
    parser.add_argument("--top-k", type=int, default=3, help="labels per file (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.set_defaults(func=run)


EXIT_SOME_UNREADABLE = 2  # as for any user error: the output is not complete


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import load_model
    from speechrnn.evaluate import predict_readable_files, resolve_device

    device = resolve_device(args.device)
    model, checkpoint = load_model(resolve_model(args.model), device)
    predictions, unreadable = predict_readable_files(model, checkpoint, args.files, args.top_k, device)
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        for prediction in predictions:
            ranked = "  ".join(f"{label} {probability:.3f}" for label, probability in prediction.top)
            print(f"{prediction.path}\t{ranked}")
    sys.stdout.flush()  # the results before the errors, also when both go to one terminal
    for error in unreadable:
        print(f"speechrnn {args.command}: error: {error}", file=sys.stderr)
    return EXIT_SOME_UNREADABLE if unreadable else 0
