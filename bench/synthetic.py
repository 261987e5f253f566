"""Is synthetic speech worth it? (issue: synthetic voices for custom words)

Three models, same recipe settings (features, model, augmentation), digits + silence + unknown:

* ``synthetic only``: every clip spoken by espeak-ng / flite voices;
* ``few real takes``: what a user records: 5 takes of each digit by one FSDD speaker (george);
* ``few real + synthetic``: both.

Each is scored on real recordings it never saw: the same speaker's other takes (george, takes
10-49: "my own voice") and other people (the other FSDD speakers, Speech Commands digits).
"""

from __future__ import annotations

from pathlib import Path

from bench.context import TEST_DATA, BenchContext

FEW_SPEAKER = "george"
FEW_TAKES = range(5, 10)  # FSDD's own training takes start at 5
OWN_VOICE_TAKES = range(10, 50)
EPOCHS = 20
QUICK_EPOCHS = 1
QUICK_HIDDEN = 8
QUICK_WORDS = ("zero", "one")  # the digits jackson says in tests/data
QUICK_SPEAKER = "jackson"  # tests/data/fsdd holds one take of 0 and 1 by jackson: both "few" and "own voice"


def _link(path: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(path.resolve())


def _fsdd_views(fsdd: Path, out: Path, speaker: str, few_takes: range, own_takes: range) -> dict[str, Path]:
    """few-takes / own-voice / other-speakers folders of links, digit folders renamed to words."""
    from speechrnn.data.layout import scan_folder
    from speechrnn.data.spec import DIGIT_ALIASES

    words = dict(DIGIT_ALIASES)
    views = {name: out / name for name in ("few", "own_voice", "other_speakers")}
    for clip in scan_folder(fsdd):
        take = int(clip.path.stem.rsplit("_", 1)[1])
        chosen = ["other_speakers"] if clip.speaker != speaker else (
            ["few"] * (take in few_takes) + ["own_voice"] * (take in own_takes))
        for view in chosen:
            _link(clip.path, views[view] / words.get(clip.label, clip.label) / clip.path.name)
    return views


def _speech_commands_digits(root: Path, out: Path) -> Path:
    from speechrnn.data.spec import DIGIT_WORDS

    for word in DIGIT_WORDS:
        for path in sorted((root / word).glob("*.wav")):
            _link(path, out / word / path.name)
    return out


def _train(ctx: BenchContext, name: str, sources: tuple[str, ...], noise_dir: Path, epochs: int,
           words: tuple[str, ...]) -> Path:
    from speechrnn.data.spec import DataSpec
    from speechrnn.events import run_to_end
    from speechrnn.recipes import DigitsRecipe, recipe_configs
    from speechrnn.training import train

    recipe = DigitsRecipe(data_root=str(ctx.data_root or TEST_DATA), work_dir=str(ctx.work_dir / "recipe"),
                          epochs=epochs, seed=ctx.seed, **({"hidden": QUICK_HIDDEN} if ctx.quick else {}))
    feature_config, model_config, augment, train_config = recipe_configs(recipe)
    spec = DataSpec(sources=sources, words=words, include_silence=True, include_unknown=True,
                    unknown_pct=recipe.unknown_pct, validation_pct=10.0, testing_pct=0.0,
                    noise_dirs=(str(noise_dir),), seed=ctx.seed)
    result = run_to_end(train(spec, feature_config, model_config, augment, train_config, ctx.work_dir / f"synthetic-{name}",
                              force=True, cache_dir=ctx.work_dir / "cache"))
    return result.best_path


def _score(model: Path, folder: Path) -> dict:
    from speechrnn.evaluate import evaluate
    from speechrnn.events import run_to_end

    result = run_to_end(evaluate(model, folder))  # every clip of the folder, no generated silence
    return {"accuracy": result.accuracy, "clips": result.clips}


def run(ctx: BenchContext) -> dict:
    from speechrnn.recipes import DIGITS, UNKNOWN_WORDS, DigitsRecipe, noise_folders, synthesize_words

    work = ctx.work_dir / "synthetic"
    if ctx.quick:
        fsdd, speech_commands, noise = TEST_DATA / "fsdd", TEST_DATA / "speech_commands", TEST_DATA / "noise"
        per_word, unknown_per_word, epochs = 3, 1, QUICK_EPOCHS
        speaker, few_takes, own_takes = QUICK_SPEAKER, range(1), range(1)
    else:
        root = ctx.require_data()
        recipe = DigitsRecipe(data_root=str(root), work_dir=str(ctx.work_dir / "recipe"))
        fsdd, speech_commands = root / "fsdd", root / "speech_commands_sample"
        noise, _ = noise_folders(recipe)
        per_word, unknown_per_word, epochs = recipe.synth_digit_voices, recipe.synth_unknown_per_word, EPOCHS
        speaker, few_takes, own_takes = FEW_SPEAKER, FEW_TAKES, OWN_VOICE_TAKES
    synth_digits = work / "synth_digits"
    synth_unknown = work / "synth_unknown"
    from speechrnn.events import run_to_end

    run_to_end(synthesize_words(DIGITS, per_word, ctx.seed, synth_digits))
    run_to_end(synthesize_words(UNKNOWN_WORDS if not ctx.quick else UNKNOWN_WORDS[:2], unknown_per_word,
                                ctx.seed + 1, synth_unknown))
    views = _fsdd_views(fsdd, work / "views", speaker, few_takes, own_takes)
    tests = {"own voice (same speaker, other takes)": views["own_voice"],
             "other FSDD speakers": views["other_speakers"],
             "Speech Commands digits": _speech_commands_digits(speech_commands, work / "views" / "sc_digits")}
    trainings = {  # Speech Commands only feeds the tests, never training
        "synthetic only": (str(synth_digits), str(synth_unknown)),
        "few real takes": (str(views["few"]),),
        "few real + synthetic": (str(views["few"]), str(synth_digits), str(synth_unknown)),
    }
    runs = []
    for name, sources in trainings.items():
        model = _train(ctx, name.replace(" ", "-").replace("+", "and"), sources, noise, epochs,
                       QUICK_WORDS if ctx.quick else DIGITS)
        runs.append({"training": name, **{test: _score(model, folder) for test, folder in tests.items()}})
    return {
        "note": f"{len(list(views['few'].rglob('*.wav')))} real takes ({len(few_takes)} per digit, FSDD speaker "
                f"{speaker}); synthetic: {per_word} clips per digit; {epochs} epochs; _unknown_ from synthetic "
                "words only; scored on real recordings never trained on.",
        "tests": list(tests),
        "runs": runs,
    }
