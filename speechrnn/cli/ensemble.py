"""``speechrnn ensemble MODEL MODEL [...] --out FILE``: several networks heard as one."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text,
        description="Combine stream-trained models of the same words and features into one model that "
                    "averages their per-frame log-probabilities: networks trained with other seeds or "
                    "widths take fewer other words for yours together than alone (measured on the "
                    "bundled models), for more CPU: every network steps every frame. The first model's "
                    "recipe, data and settings describe the result; every network keeps its provenance. "
                    "Measure the result before you trust it (speechrnn evaluate, speechrnn stream-eval).")
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="checkpoints (.pt) or bundled model names; the first one's network is the one "
                             "--init-from and the memory views use")
    parser.add_argument("--out", required=True, metavar="FILE", help="the ensemble checkpoint to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import combine_checkpoints, save_checkpoint

    ensemble = combine_checkpoints([resolve_model(model) for model in args.models])
    path = save_checkpoint(ensemble, args.out)
    print(f"{path}: {1 + len(ensemble.members)} networks, {ensemble.summary()['parameters']:,} parameters")
    return 0
