"""``speechrnn predict MODEL FILE...``: the top-k labels of each audio file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text,
        description="Print the most likely labels of each audio file (any format/rate; padded or "
                    "cropped to the model's clip length). An unreadable file is an error.")
    parser.add_argument("model", help="checkpoint (.pt)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3)")
    parser.add_argument("--top-k", type=int, default=3, help="labels per file (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from speechrnn.checkpoint import load_model
    from speechrnn.evaluate import predict_files, resolve_device

    device = resolve_device(args.device)
    model, checkpoint = load_model(args.model, device)
    predictions = predict_files(model, checkpoint, args.files, args.top_k, device)
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
        return 0
    for prediction in predictions:
        ranked = "  ".join(f"{label} {probability:.3f}" for label, probability in prediction.top)
        print(f"{prediction.path}\t{ranked}")
    return 0
