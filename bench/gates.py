"""Why gates matter: rnn / lstm / gru with (about) the same number of parameters, trained by the
same recipe on the same split; held-out accuracy, clean and noisy, and the gradient-vs-distance
plot drawn from the trained models (speechrnn.gradients)."""

from __future__ import annotations

from pathlib import Path

from bench.context import TEST_DATA, BenchContext
from bench.heldout import held_out

CELLS = ("rnn", "lstm", "gru")
REFERENCE = ("gru", 128, 2)  # the size the others are matched to (parameter count)
# The clip's class is read from the last frame's state, so everything the model learns about the
# word must travel through the recurrence: the setting in which memory (the gates) matters.
POOLING = "last"
OBJECTIVE = "clip"  # one decision per clip read from the last state: the memory test (not the live objective)
QUICK_HIDDEN = 8
EPOCHS = 20  # full runs: the recipe's schedule
PLOT_NAME = "gradients.png"


def parameters(cell: str, hidden: int, layers: int, input_dim: int, classes: int = 12) -> int:
    from speechrnn.model import ModelConfig, RNNClassifier

    config = ModelConfig(num_classes=classes, input_dim=input_dim, cell=cell, hidden=hidden, layers=layers)
    return RNNClassifier(config).num_parameters()


def matched_hidden(cell: str, target: int, layers: int, input_dim: int) -> int:
    """The hidden size whose parameter count is closest to ``target`` (counts grow with the size)."""
    hidden = 1
    while parameters(cell, hidden + 1, layers, input_dim) <= target:
        hidden += 1
    above = hidden + 1
    return min((hidden, above), key=lambda h: abs(parameters(cell, h, layers, input_dim) - target))


def _train_quick(ctx: BenchContext, cell: str, out: Path) -> dict:
    """Tiny model, one epoch on tests/data: exercises the pipeline, accuracy means nothing."""
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.data.spec import DataSpec
    from speechrnn.evaluate import evaluate
    from speechrnn.events import run_to_end
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig
    from speechrnn.training import TrainConfig, train

    data = held_out(ctx)
    spec = DataSpec(sources=(str(data.words),), validation_pct=0.0, testing_pct=0.0)
    model_config = ModelConfig(num_classes=2, cell=cell, hidden=QUICK_HIDDEN, layers=2, pooling=POOLING)
    result = run_to_end(train(spec, FeatureConfig(), model_config, AugmentConfig(), TrainConfig(epochs=1, batch_size=8, objective=OBJECTIVE),
                              out.parent / f"run-{cell}", force=True, cache_dir=ctx.work_dir / "cache"))
    result.best_path.replace(out)
    scored = run_to_end(evaluate(out, data.words, noise_dirs=(str(TEST_DATA / "noise"),), snr_db=10.0))
    return {"accuracy": scored.accuracy, "accuracy_noisy": scored.noisy["accuracy"], "hidden": QUICK_HIDDEN,
            "input_dim": FeatureConfig().feature_dim}


def _recipe(ctx: BenchContext, **overrides):
    from speechrnn.recipes import DigitsRecipe

    return DigitsRecipe(data_root=str(ctx.require_data()), work_dir=str(ctx.work_dir / "recipe"),
                        pooling=POOLING, epochs=EPOCHS, seed=ctx.seed, objective=OBJECTIVE, **overrides)


def _train_recipe(ctx: BenchContext, cell: str, out: Path) -> dict:
    from speechrnn.events import run_to_end
    from speechrnn.recipes import build_recipe

    ref_cell, ref_hidden, layers = REFERENCE
    input_dim = _recipe(ctx).n_mfcc
    hidden = matched_hidden(cell, parameters(ref_cell, ref_hidden, layers, input_dim), layers, input_dim)
    metrics = run_to_end(build_recipe(_recipe(ctx, cell=cell, hidden=hidden), out, run_name=f"gates-{cell}"))
    test = metrics["testing"]
    return {"accuracy": test["clean"]["all"]["accuracy"], "accuracy_noisy": test["snr_10db"]["all"]["accuracy"],
            "per_source": {k: v["accuracy"] for k, v in test["clean"].items()}, "hidden": hidden,
            "input_dim": input_dim}


def run(ctx: BenchContext) -> dict:
    from speechrnn.gradients import checkpoint_curve, plot_curves

    ref_cell, ref_hidden, layers = REFERENCE
    folder = ctx.work_dir / "gates"
    folder.mkdir(parents=True, exist_ok=True)
    runs, curves = [], []
    for cell in CELLS:
        path = folder / f"{cell}.pt"
        if ctx.quick:
            result = _train_quick(ctx, cell, path)
        else:
            result = _train_recipe(ctx, cell, path)
        curve = checkpoint_curve(path, held_out(ctx).words, seed=ctx.seed, name=f"{cell} {layers}x{result['hidden']}")
        curves.append(curve)
        reach = curve.reach_frames()
        runs.append({"cell": cell, "layers": layers,
                     "parameters": parameters(cell, result["hidden"], layers, result.pop("input_dim")),
                     **result, "reach_ms": None if reach is None else reach * curve.hop_ms,
                     "gradient": curve.to_dict()})
    plot = plot_curves(curves, ctx.out_dir / PLOT_NAME)
    return {
        "note": f"Same recipe, split and epochs ({'1, toy' if ctx.quick else EPOCHS}), pooling '{POOLING}' (the class "
                f"is read from the last state); sizes matched to the parameters of {ref_cell} {layers}x{ref_hidden}. "
                "Reach = distance where the gradient of the class logit falls below 1 % of its value at the "
                "last frame.",
        "runs": runs,
        "plot": str(plot.resolve()),
    }
