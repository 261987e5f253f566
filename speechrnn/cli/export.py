"""``speechrnn export MODEL --format onnx|torchscript|all``: files for use outside speechrnn."""

from __future__ import annotations

import argparse

FORMATS = ("onnx", "torchscript", "all")  # as speechrnn.export.FORMATS (not imported: it loads torch)


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text,
        description="Write <stem>.stream.onnx (streaming step: frames + state in, per-frame logits + "
                    "new state out), <stem>.clip.onnx (whole clip) and/or <stem>.ts (TorchScript with "
                    "forward and step). Inputs are feature frames; the labels, feature settings and "
                    "state layout are stored in the files' metadata.")
    parser.add_argument("model", help="checkpoint (.pt) or bundled model name (digits, commands)")
    parser.add_argument("--format", choices=FORMATS, default="all", help="what to write (default all)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: the checkpoint's folder; the current one for a bundled model)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.bundled import bundled_name, resolve_model
    from speechrnn.export import export

    model = resolve_model(args.model)
    out = args.out if args.out or bundled_name(model) is None else "."  # never into the installed assets
    for path in export(model, args.format, out, args.opset):
        print(path)
    return 0
