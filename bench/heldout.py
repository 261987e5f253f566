"""The data the default-model sections score on: the recipe's held-out split (full runs) or the
clips shipped in tests/data (quick runs, correctness only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.context import TEST_DATA, BenchContext


@dataclass
class HeldOut:
    words: Path  # dataset-layout folder of word clips (FSDD digits renamed to words)
    noise: Path  # folder of noise recordings not used in training
    spec: object | None  # DataSpec of the real-recordings split (None in quick mode)
    description: str


def held_out(ctx: BenchContext) -> HeldOut:
    """Build (once per run) the held-out word folder and noise folder for the default-model sections."""
    if "held_out" in ctx.shared:
        return ctx.shared["held_out"]
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
        from speechrnn.recipes import DigitsRecipe, evaluation_spec, held_out_view, noise_folders

        recipe = DigitsRecipe(data_root=str(ctx.require_data()), work_dir=str(ctx.work_dir / "recipe"))
        train_noise, test_noise = noise_folders(recipe)
        words = held_out_view(recipe, ctx.work_dir / "held_out_words")
        result = HeldOut(words, test_noise, evaluation_spec(recipe, train_noise),
                         "held-out speakers of the digits recipe (FSDD test speaker + Speech Commands test "
                         "speakers), held-out noise recordings")
    ctx.shared["held_out"] = result
    return result
