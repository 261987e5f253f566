"""Build a bundled model from the data with a recipe (speechrnn.recipes): ``digits`` (the default
model, assets/default_model.pt) or ``commands`` (assets/commands_model.pt).

    .venv/bin/python -m bench.build_default_model --data-root ../shared/data [--recipe commands] [--out X.pt]

Same seed, same machine -> same model and metrics. ``--set name=value`` changes a recipe field
(e.g. ``--set epochs=10 --set objective=stream --set balance_sources=True``) for experiments;
``--validation-only`` scores only the validation split (use it while choosing settings: never tune
on the test split). ``--ensemble A.pt B.pt`` trains nothing: the recipe's model is the ensemble of
those networks (``speechrnn ensemble``), scored and recorded as a trained one.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
WORK_ROOT = Path("~/.cache/speechrnn/recipes")  # + recipe name


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def summary(metrics: dict) -> dict:
    """{split: {condition: {source: accuracy}}} of a recipe's metrics."""
    return {split: {cond: {src: round(v["accuracy"], 4) for src, v in metrics[split][cond].items()}
                    for cond in metrics[split] if cond.startswith(("clean", "snr"))}
            for split in ("validation", "testing") if split in metrics}


def main(argv: list[str] | None = None) -> int:
    from speechrnn.bundled import BUNDLED_MODELS
    from speechrnn.cli.progress import consume
    from speechrnn.errors import SpeechRNNError
    from speechrnn.recipes import RECIPES, build_ensemble, build_recipe

    parser = argparse.ArgumentParser(prog="python -m bench.build_default_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="digits", help="which model (default digits)")
    parser.add_argument("--data-root", required=True, help="folder with fsdd/, speech_commands_sample/, "
                        "speech_commands_v2_testset_half/, speech_commands_v1_bed_cat_happy/, "
                        "speech_commands_background_noise/")
    parser.add_argument("--work-dir", default=None, help=f"derived data and runs (default {WORK_ROOT}/RECIPE)")
    parser.add_argument("--out", default=None, help="model file to write (default assets/default_model.pt for "
                                                    "digits, assets/commands_model.pt for commands)")
    parser.add_argument("--run-name", default="run", help="training run folder inside the work dir")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a recipe field")
    parser.add_argument("--validation-only", action="store_true", help="score only the validation split")
    parser.add_argument("--ensemble", nargs="+", default=None, metavar="MODEL",
                        help="train nothing: combine these networks of the recipe into its model")
    args = parser.parse_args(argv)
    recipe_class = RECIPES[args.recipe]
    fields = {f.name for f in dataclasses.fields(recipe_class)}
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in fields:
            parser.error(f"unknown recipe field {name!r} (fields: {', '.join(sorted(fields))})")
        overrides[name] = _value(value)
    out = args.out or str(ASSETS / BUNDLED_MODELS[args.recipe])
    recipe = recipe_class(data_root=args.data_root, work_dir=args.work_dir or str(WORK_ROOT / args.recipe), **overrides)
    try:
        if args.ensemble:
            metrics = consume(build_ensemble(recipe, args.ensemble, out, args.run_name if args.run_name != "run"
                                             else "ensemble", evaluate_test=not args.validation_only))
        else:
            metrics = consume(build_recipe(recipe, out, args.run_name, evaluate_test=not args.validation_only))
    except SpeechRNNError as exc:
        print(f"build_default_model: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary(metrics), indent=1))
    print(f"model: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
