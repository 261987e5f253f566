"""Rebuild the bundled default model from the data: the ``digits`` recipe (speechrnn.recipes).

    .venv/bin/python -m bench.build_default_model --data-root ../shared/data [--out assets/default_model.pt]

Same seed, same machine -> same model and metrics. ``--set name=value`` changes a recipe field
(e.g. ``--set epochs=10 --set f_max_hz=7600``) for experiments; ``--validation-only`` scores only
the validation split (use it while choosing settings: never tune on the test split).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "assets" / "default_model.pt"
DEFAULT_WORK = Path("~/.cache/speechrnn/recipes/digits")


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
    from speechrnn.cli.progress import consume
    from speechrnn.errors import SpeechRNNError
    from speechrnn.recipes import DigitsRecipe, build_digits

    parser = argparse.ArgumentParser(prog="python -m bench.build_default_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="folder with fsdd/, speech_commands_sample/, "
                                                           "speech_commands_background_noise/")
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK), help=f"derived data and runs (default {DEFAULT_WORK})")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"model file to write (default {DEFAULT_OUT})")
    parser.add_argument("--run-name", default="run", help="training run folder inside the work dir")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a recipe field")
    parser.add_argument("--validation-only", action="store_true", help="score only the validation split")
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(DigitsRecipe)}
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in fields:
            parser.error(f"unknown recipe field {name!r} (fields: {', '.join(sorted(fields))})")
        overrides[name] = _value(value)
    recipe = DigitsRecipe(data_root=args.data_root, work_dir=args.work_dir, **overrides)
    try:
        metrics = consume(build_digits(recipe, args.out, args.run_name, evaluate_test=not args.validation_only))
    except SpeechRNNError as exc:
        print(f"build_default_model: error: {exc}", file=sys.stderr)
        return 2
    summary = {split: {cond: {src: round(v["accuracy"], 4) for src, v in metrics[split][cond].items()}
                       for cond in metrics[split] if cond.startswith(("clean", "snr"))}
               for split in metrics if split != "training"}
    print(json.dumps(summary, indent=1))
    print(f"model: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
