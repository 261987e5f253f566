"""``speechrnn ensemble MODEL MODEL [...] --out FILE``: several networks heard as one;
``speechrnn ensemble MODEL --network N --out FILE``: one network of an ensemble as a model of its own."""

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
    parser.add_argument("--network", type=int, default=None, metavar="N",
                        help="instead: write network N (1 = the first) of one ensemble MODEL as a model of its "
                             "own, with its recorded provenance (to train it further, or measure it alone)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import combine_checkpoints, load_checkpoint, network_of, save_checkpoint
    from speechrnn.errors import SpeechRNNError

    if args.network is not None:
        if len(args.models) != 1:
            raise SpeechRNNError(f"--network takes one ensemble, not {len(args.models)} models")
        network = network_of(load_checkpoint(resolve_model(args.models[0])), args.network)
        path = save_checkpoint(network, args.out)
        print(f"{path}: network {args.network}, {network.architecture()}, {network.summary()['parameters']:,} "
              "parameters")
        return 0
    ensemble = combine_checkpoints([resolve_model(model) for model in args.models])
    path = save_checkpoint(ensemble, args.out)
    print(f"{path}: {1 + len(ensemble.members)} networks, {ensemble.summary()['parameters']:,} parameters")
    return 0
