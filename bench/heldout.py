"""The data the default-model sections score on: the recipe's held-out split (full runs) or the
clips shipped in tests/data (quick runs, correctness only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.context import TEST_DATA, BenchContext


@dataclass
class HeldOut:
    words: Path  # dataset-layout folder of word clips (FSDD digits renamed to words)
    noise: Path  # folder of noise recordings not used in training
    spec: object | None  # DataSpec of the real-recordings split (None in quick mode)
    description: str
    groups: dict = field(default_factory=dict)  # name -> folder of word clips (speechrnn.recipes.word_groups)


def held_out(ctx: BenchContext, recipe_name: str = "digits") -> HeldOut:
    """Build (once per run and recipe) the held-out word folder and noise folder for the default-model
    sections; ``recipe_name`` names the recipe whose split is used (speechrnn.recipes.RECIPES)."""
    key = f"held_out-{recipe_name}"
    if key in ctx.shared:
        return ctx.shared[key]
    if ctx.quick:
        from speechrnn.data.spec import DIGIT_ALIASES

        words = ctx.work_dir / "quick_words"
        aliases = dict(DIGIT_ALIASES)
        for source in (TEST_DATA / "speech_commands", TEST_DATA / "fsdd"):
            for label_dir in sorted(p for p in source.iterdir() if p.is_dir()):
                for clip in sorted(label_dir.glob("*.wav")):
                    link = words / aliases.get(label_dir.name, label_dir.name) / clip.name
                    link.parent.mkdir(parents=True, exist_ok=True)
                    if not link.exists():
                        link.symlink_to(clip.resolve())
        result = HeldOut(words, TEST_DATA / "noise", None, "tests/data clips (not held out: quick mode)")
    else:
        from speechrnn.recipes import (RECIPES, evaluation_spec, held_out_view, noise_folders, source_views, speaker_splits,
                                       word_groups)

        recipe = RECIPES[recipe_name](data_root=str(ctx.require_data()), work_dir=str(ctx.work_dir / f"recipe-{recipe_name}"))
        train_noise, test_noise = noise_folders(recipe)
        views = source_views(recipe, speaker_splits(recipe))
        words = held_out_view(recipe, ctx.work_dir / f"held_out_words-{recipe_name}")
        result = HeldOut(words, test_noise, evaluation_spec(recipe, views, train_noise),
                         f"held-out speakers of the {recipe_name} recipe (speakers of its test split in every "
                         "source), held-out noise recordings",
                         word_groups(recipe, views, "testing", ctx.work_dir / f"held_out_groups-{recipe_name}"))
    ctx.shared[key] = result
    return result


def model_recipe(path: Path) -> str:
    """The recipe that built the model at ``path`` (its held-out split is the one to score on);
    ``digits`` for models no recipe built."""
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.recipes import RECIPES

    name = load_checkpoint(path).recipe
    return name if name in RECIPES else "digits"
