"""Recipes: documented, reproducible training runs. ``digits`` builds the bundled default model.

The ``digits`` recipe (vocabulary ``zero`` .. ``nine`` + ``_silence_`` + ``_unknown_``) trains on:

* ``fsdd/`` -- Free Spoken Digit Dataset, 8 kHz, 4 speakers (CC BY-SA 4.0);
* ``speech_commands_sample/`` -- Speech Commands digits; its other words feed ``_unknown_`` (CC BY 4.0);
* ``speech_commands_background_noise/`` -- noise for mixing and ``_silence_`` (CC BY 4.0), minus
  the recordings held out for the noisy test;
* synthetic voices (``speechrnn synth``: every local espeak-ng / flite voice) saying the digits
  and other words (``_unknown_``), to widen the range of speakers.

Splits hold out whole speakers with the Speech Commands hash (``validation_pct`` /
``testing_pct`` below): with FSDD's four speakers that makes ``nicolas`` the validation speaker
and ``yweweler`` the test speaker; Speech Commands speakers and synthetic voices are hashed the
same way. Model selection uses validation only. The test split is reported per source, clean and
with held-out noise recordings mixed at 10 dB SNR.

Everything derived (synthetic clips, noise folders) is rebuilt deterministically in a work folder;
same seed and machine give the same model and metrics.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from speechrnn.errors import DataError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Progress, Stage

FSDD_DIR = "fsdd"
SPEECH_COMMANDS_DIR = "speech_commands_sample"
NOISE_DIR = "speech_commands_background_noise"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Words other than digits spoken by the synthetic voices for _unknown_: the other Speech Commands
# words (v1 and v2). No number words, so nothing that contains a digit ("sixteen").
UNKNOWN_WORDS = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "bird", "cat", "dog",
    "happy", "house", "marvin", "sheila", "tree", "wow", "backward", "forward", "follow", "learn", "visual",
)
# Held out of training for the noisy test (unseen noise types): a cat and an exercise bike.
TEST_NOISES = ("dude_miaowing.wav", "exercise_bike.wav")
LICENSES = {
    FSDD_DIR: "CC BY-SA 4.0 (Free Spoken Digit Dataset, Zohar Jackson et al., "
              "https://github.com/Jakobovski/free-spoken-digit-dataset)",
    SPEECH_COMMANDS_DIR: "CC BY 4.0 (Speech Commands, Pete Warden, Google, arXiv:1804.03209)",
    NOISE_DIR: "CC BY 4.0 (Speech Commands background noise, Pete Warden, Google)",
    "synthetic": "generated locally with espeak-ng (GPL-3.0 program; its output is not covered) and flite "
                 "(BSD-like); no third-party recordings",
}
SYNTH_DIGITS_DIR = "synth_digits"
SYNTH_UNKNOWN_DIR = "synth_unknown"
PERTURBED_DIR = "real_perturbed"
TRAIN_NOISE_DIR = "noise_train"
TEST_NOISE_DIR = "noise_test"
DONE_MARKER = ".done.json"  # written after a derived folder is complete, with the settings that made it


@dataclass(frozen=True)
class DigitsRecipe:
    """Every choice of the ``digits`` recipe. Defaults are what built ``assets/default_model.pt``."""

    data_root: str
    work_dir: str
    seed: int = 0
    # features: FSDD is 8 kHz audio (nothing above 4 kHz); a 4 kHz band makes every source alike
    f_max_hz: float = 4000.0
    n_mfcc: int = 13  # the spectral envelope; higher coefficients carry the speaker's pitch harmonics
    # model
    cell: str = "gru"
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    pooling: str = "attention"  # a direct path from every frame to the output: learns fast, generalises
    # data
    validation_pct: float = 15.0
    testing_pct: float = 25.0
    # Final build: FSDD's validation speaker trains too (4 speakers are few) and the last epoch
    # is shipped, with the number of epochs chosen beforehand on validation.
    validation_speakers_train: bool = False
    silence_pct: float = 10.0
    # Speech Commands' standard 10 %. More hurts: with 30 %, most real Speech Commands speech in
    # training is _unknown_ and the model learned "sounds like that microphone -> _unknown_"
    # (measured on 156 never-seen Speech Commands digit clips: 55 % at 30 %, 74 % at 10 %).
    unknown_pct: float = 10.0
    synth: bool = True
    synth_digit_voices: int | None = 300  # clips per digit (None = every voice once)
    synth_unknown_per_word: int = 40
    # Copies of the real training clips read at these rates (pitch, formants and tempo scaled
    # together, like a smaller or larger speaker): more "speakers" from the few real ones.
    real_voice_scales: tuple[float, ...] = (0.9, 1.1)
    # training
    epochs: int = 20  # validation accuracy peaks within 5-15 epochs; the best epoch is shipped
    batch_size: int = 64  # a few thousand clips: small batches give enough optimizer steps
    freq_mask_bins: int = 2  # SpecAugment frequency masks, scaled to 13 coefficients
    snr_db_test: float = 10.0
    extra_train: dict = field(default_factory=dict)  # more TrainConfig fields, by name
    extra_augment: dict = field(default_factory=dict)  # more AugmentConfig fields, by name
    extra_features: dict = field(default_factory=dict)  # more FeatureConfig fields, by name

    @property
    def root(self) -> Path:
        return Path(self.data_root).expanduser()

    @property
    def work(self) -> Path:
        return Path(self.work_dir).expanduser()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- derived data
def _done(folder: Path, settings: dict) -> bool:
    marker = folder / DONE_MARKER
    try:
        return json.loads(marker.read_text()) == json.loads(json.dumps(settings))  # tuples read back as lists
    except (OSError, ValueError):
        return False


def _mark_done(folder: Path, settings: dict) -> None:
    from speechrnn.atomic import write_text_atomic

    write_text_atomic(folder / DONE_MARKER, json.dumps(settings, sort_keys=True))


def synthesize_words(words: tuple[str, ...], per_word: int | None, seed: int, out: Path,
                     cancel: CancelToken | None = None) -> EventStream:
    """Render ``words`` into ``out`` unless an identical rendering is already there."""
    from speechrnn.synth import SynthConfig, list_voices, synthesize

    config = SynthConfig(words=words, per_word=per_word, seed=seed)
    voices = list_voices(config.language, config.engines)
    settings = {"config": dataclasses.asdict(config), "voices": [v.voice_id for v in voices]}
    if _done(out, settings):
        yield Message(f"synthetic clips already in {out}")
        return
    yield from synthesize(config, out, cancel, voices=voices)
    _mark_done(out, settings)


def speaker_split(recipe: DigitsRecipe, speaker: str) -> str:
    """The split of a real speaker under the recipe: the Speech Commands hash, except that with
    ``validation_speakers_train`` FSDD's validation speakers train (see :func:`fsdd_root`)."""
    from speechrnn.data.layout import assign_split

    split = assign_split(speaker, recipe.validation_pct, recipe.testing_pct)
    return "train" if split == "validation" and recipe.validation_speakers_train else split


def perturb_real_voices(recipe: DigitsRecipe, cancel: CancelToken | None = None) -> EventStream:
    """Write ``real_voice_scales`` copies of every real training clip (FSDD, Speech Commands) into
    ``work/real_perturbed`` as new speakers ``<speaker>-vs<scale%>``; training-only folder."""
    from speechrnn.audio.io import load_audio, resample, write_wav_atomic
    from speechrnn.data.layout import scan_folder

    out = recipe.work / PERTURBED_DIR
    rate = 16000  # the clips are written at the model's rate
    settings = {"scales": list(recipe.real_voice_scales), "validation_pct": recipe.validation_pct,
                "testing_pct": recipe.testing_pct, "validation_speakers_train": recipe.validation_speakers_train}
    if _done(out, settings):
        return
    clips = [c for name in (FSDD_DIR, SPEECH_COMMANDS_DIR) for c in scan_folder(recipe.root / name)
             if speaker_split(recipe, c.speaker) == "train"]
    yield Stage("perturb", f"Voice-scaled copies of {len(clips)} real training clips")
    for done, clip in enumerate(clips):
        if cancel is not None:
            cancel.check()
        samples = load_audio(clip.path, rate)
        for scale in recipe.real_voice_scales:
            # read as if recorded at rate * scale: pitch and formants times `scale`
            scaled = resample(samples, round(rate * scale), rate)
            name = f"{clip.speaker}-vs{round(100 * scale)}_nohash_{clip.path.stem}.wav"
            write_wav_atomic(out / clip.label / name, scaled, rate)
        yield Progress("perturb", done + 1, len(clips), unit="clips")
    train_only(out)
    _mark_done(out, settings)


def train_only(folder: Path) -> None:
    """Empty split lists in ``folder``: every clip of it trains (the layout's rule for unlisted
    files when both lists exist). Synthetic voices are training material; validation and test
    speak with real voices only."""
    from speechrnn.data.layout import TESTING_LIST, VALIDATION_LIST

    for name in (VALIDATION_LIST, TESTING_LIST):
        if not (folder / name).is_file():
            (folder / name).write_text("")


def noise_folders(recipe: DigitsRecipe) -> tuple[Path, Path]:
    """Folders of links to the training and the held-out test noise recordings."""
    source = recipe.root / NOISE_DIR
    files = sorted(p for p in source.glob("*.wav"))
    if not files:
        raise DataError(f"{source}: no background noise recordings")
    missing = [n for n in TEST_NOISES if not (source / n).is_file()]
    if missing:
        raise DataError(f"{source}: held-out test noise {', '.join(missing)} not found")
    train_dir, test_dir = recipe.work / TRAIN_NOISE_DIR, recipe.work / TEST_NOISE_DIR
    for folder, chosen in ((train_dir, [p for p in files if p.name not in TEST_NOISES]),
                           (test_dir, [source / n for n in TEST_NOISES])):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            stale.unlink()
        for path in chosen:
            (folder / path.name).symlink_to(path.resolve())
    return train_dir, test_dir


def fsdd_root(recipe: DigitsRecipe) -> Path:
    """FSDD as the recipe splits it: the data folder itself (speaker hash), or, with
    ``validation_speakers_train``, a view of links whose split lists keep only the test speakers out."""
    from speechrnn.data.layout import TESTING_LIST, VALIDATION_LIST, scan_folder

    real = recipe.root / FSDD_DIR
    if not recipe.validation_speakers_train:
        return real
    view = recipe.work / FSDD_DIR  # same folder name: reports still say "fsdd"
    view.mkdir(parents=True, exist_ok=True)
    testing = []
    for clip in scan_folder(real):
        link = view / clip.label
        if not link.exists():
            link.symlink_to((real / clip.label).resolve(), target_is_directory=True)
        if speaker_split(recipe, clip.speaker) == "testing":
            testing.append(f"{clip.label}/{clip.path.name}")
    (view / VALIDATION_LIST).write_text("")
    (view / TESTING_LIST).write_text("".join(line + "\n" for line in testing))
    return view


def data_spec(recipe: DigitsRecipe, train_noise: Path):
    """The :class:`~speechrnn.data.spec.DataSpec` of the recipe."""
    from speechrnn.data.spec import DataSpec

    sources = [str(fsdd_root(recipe)), str(recipe.root / SPEECH_COMMANDS_DIR)]
    if recipe.synth:
        sources += [str(recipe.work / SYNTH_DIGITS_DIR), str(recipe.work / SYNTH_UNKNOWN_DIR)]
    if recipe.real_voice_scales:
        sources.append(str(recipe.work / PERTURBED_DIR))
    return DataSpec(
        sources=tuple(sources), task="digits", include_silence=True, include_unknown=True,
        silence_pct=recipe.silence_pct, unknown_pct=recipe.unknown_pct,
        validation_pct=recipe.validation_pct, testing_pct=recipe.testing_pct,
        noise_dirs=(str(train_noise),), seed=recipe.seed,
    )


def evaluation_spec(recipe: DigitsRecipe, train_noise: Path):
    """The recipe's spec on the real recordings only (FSDD, Speech Commands): its validation and
    testing splits are the same speakers as in training, without synthetic voices -- what the
    reported accuracies are measured on."""
    return data_spec(dataclasses.replace(recipe, synth=False, real_voice_scales=()), train_noise)


def held_out_view(recipe: DigitsRecipe, out_dir: Path, split: str = "testing") -> Path:
    """A folder of links to the real clips of ``split`` in the dataset layout, FSDD's digit folders
    renamed to words (``out_dir/zero/...``): for stream-eval and the gradient plot."""
    from speechrnn.data.layout import scan_folder
    from speechrnn.data.spec import DIGIT_ALIASES

    aliases = dict(DIGIT_ALIASES)
    out_dir = Path(out_dir)
    for name in (FSDD_DIR, SPEECH_COMMANDS_DIR):
        for clip in scan_folder(recipe.root / name):
            if speaker_split(recipe, clip.speaker) != split:
                continue
            link = out_dir / aliases.get(clip.label, clip.label) / clip.path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(clip.path.resolve())
    return out_dir


def prepare_recipe_data(recipe: DigitsRecipe, cancel: CancelToken | None = None) -> EventStream:
    """Derived folders (synthetic clips, noise split) ->
    ``Finished((training DataSpec, evaluation DataSpec, test noise dir))``."""
    for name in (FSDD_DIR, SPEECH_COMMANDS_DIR, NOISE_DIR):
        if not (recipe.root / name).is_dir():
            raise DataError(f"{recipe.root / name}: missing (the digits recipe needs {FSDD_DIR}/, "
                            f"{SPEECH_COMMANDS_DIR}/ and {NOISE_DIR}/ under --data-root)")
    recipe.work.mkdir(parents=True, exist_ok=True)
    if recipe.synth:
        yield Stage("synth", "Synthetic voices: digits and other words")
        yield from synthesize_words(DIGITS, recipe.synth_digit_voices, recipe.seed, recipe.work / SYNTH_DIGITS_DIR, cancel)
        yield from synthesize_words(UNKNOWN_WORDS, recipe.synth_unknown_per_word, recipe.seed + 1,
                                    recipe.work / SYNTH_UNKNOWN_DIR, cancel)
        for name in (SYNTH_DIGITS_DIR, SYNTH_UNKNOWN_DIR):
            train_only(recipe.work / name)
    if recipe.real_voice_scales:
        yield from perturb_real_voices(recipe, cancel)
    train_noise, test_noise = noise_folders(recipe)
    yield Finished((data_spec(recipe, train_noise), evaluation_spec(recipe, train_noise), test_noise))


# ---------------------------------------------------------------------------------- building
def _forward(events: EventStream):
    """Re-yield ``events`` except the last; ``result = yield from _forward(...)`` gets its result."""
    result = None
    for event in events:
        if isinstance(event, Finished):
            result = event.result
        else:
            yield event
    return result


def recipe_configs(recipe: DigitsRecipe):
    """(FeatureConfig, ModelConfig, AugmentConfig, TrainConfig) of the recipe."""
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig
    from speechrnn.training import TrainConfig

    feature_config = FeatureConfig(f_max_hz=recipe.f_max_hz, n_mfcc=recipe.n_mfcc, **recipe.extra_features)
    model_config = ModelConfig(num_classes=2, input_dim=feature_config.feature_dim, cell=recipe.cell,
                               hidden=recipe.hidden, layers=recipe.layers, dropout=recipe.dropout,
                               pooling=recipe.pooling)
    train_config = TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, seed=recipe.seed,
                               **recipe.extra_train)
    augment = AugmentConfig(freq_mask_bins=recipe.freq_mask_bins, **recipe.extra_augment)
    return feature_config, model_config, augment, train_config


def held_out_metrics(checkpoint_path: Path, spec, noise_dir: Path, snr_db: float, split: str,
                     cancel: CancelToken | None = None) -> EventStream:
    """Accuracy of a split, overall and per source, clean and with ``noise_dir`` at ``snr_db``."""
    from speechrnn.evaluate import evaluate, wilson_interval

    result = yield from _forward(evaluate(checkpoint_path, spec, split=split, noise_dirs=(str(noise_dir),),
                                          snr_db=snr_db, cancel=cancel))
    def summary(accuracy: float, clips: int) -> dict:
        return {"accuracy": accuracy, "clips": clips, "ci95": list(wilson_interval(accuracy, clips))}

    noisy = result.noisy
    metrics = {
        "clean": {"all": summary(result.accuracy, result.clips),
                  **{k: summary(v["accuracy"], v["clips"]) for k, v in result.per_source.items()}},
        f"snr_{snr_db:g}db": {"all": summary(noisy["accuracy"], noisy["clips"]),
                              **{k: summary(v["accuracy"], v["clips"]) for k, v in noisy["per_source"].items()}},
        "per_class": result.per_class,
        "confusion": result.confusion,
        "wrong": [list(w) for w in result.wrong],
    }
    yield Finished(metrics)


def build_digits(recipe: DigitsRecipe, out_path: str | Path, run_name: str = "run",
                 evaluate_test: bool = True, cancel: CancelToken | None = None) -> EventStream:
    """Run the recipe: data, training, held-out evaluation; write the self-describing model to
    ``out_path`` (no optimizer state: a small file). ``Finished(metrics)``.

    ``evaluate_test=False`` (for choosing settings) scores only the validation split.
    """
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint
    from speechrnn.training import train

    spec, eval_spec, test_noise = yield from _forward(prepare_recipe_data(recipe, cancel))
    feature_config, model_config, augment, train_config = recipe_configs(recipe)
    run_dir = recipe.work / run_name
    result = yield from _forward(train(spec, feature_config, model_config, augment, train_config, run_dir,
                                       force=True, cancel=cancel, cache_dir=recipe.work / "cache", recipe="digits"))
    shipped_path = result.last_path if recipe.validation_speakers_train else result.best_path
    splits = ("validation", "testing") if evaluate_test else ("validation",)
    metrics: dict = {"training": {k: v for k, v in result.metrics.items() if not k.startswith("test")},
                     "shipped_epoch": "last" if recipe.validation_speakers_train else "best on validation"}
    for split in splits:
        yield Stage(f"evaluate-{split}", f"Scoring the {split} split (clean and at {recipe.snr_db_test:g} dB SNR, "
                                         "held-out noises)")
        metrics[split] = yield from _forward(held_out_metrics(shipped_path, eval_spec, test_noise,
                                                              recipe.snr_db_test, split, cancel))
    ckpt = load_checkpoint(shipped_path)
    ckpt.recipe = "digits"
    ckpt.extra = {}
    # the wrong-file lists stay in the run folder (recipe_metrics.json), not in the shipped model
    recorded = {k: ({n: m for n, m in v.items() if n != "wrong"} if k in splits else v) for k, v in metrics.items()}
    ckpt.metrics = {**ckpt.metrics, "recipe": recorded}
    ckpt.data = {**ckpt.data, "recipe": recipe.to_dict(), "licenses": _licenses(spec),
                 "held_out": {"test_noises": list(TEST_NOISES), "speakers": held_out_speakers(recipe)}}
    save_checkpoint(ckpt, out_path)
    from speechrnn.evaluate import write_json_atomic

    write_json_atomic(run_dir / "recipe_metrics.json", metrics)
    yield Finished(metrics)


def held_out_speakers(recipe: DigitsRecipe) -> dict[str, dict[str, list[str]]]:
    """FSDD's speakers per split under the recipe's hash split (e.g. the one test speaker)."""
    from speechrnn.data.layout import scan_folder

    speakers = sorted({clip.speaker for clip in scan_folder(recipe.root / FSDD_DIR)})
    by_split: dict[str, list[str]] = {}
    for speaker in speakers:
        split = speaker_split(recipe, speaker)
        by_split.setdefault(split, []).append(speaker)
    return {FSDD_DIR: by_split}


def _licenses(spec) -> dict[str, str]:
    out = {}
    for source in spec.sources:
        name = Path(source).name
        key = "synthetic" if name in (SYNTH_DIGITS_DIR, SYNTH_UNKNOWN_DIR) else name
        if name == PERTURBED_DIR:
            out[name] = f"derived from {FSDD_DIR} ({LICENSES[FSDD_DIR]}) and {SPEECH_COMMANDS_DIR} ({LICENSES[SPEECH_COMMANDS_DIR]})"
            continue
        out[name] = LICENSES.get(key, "unknown")
    out[NOISE_DIR] = LICENSES[NOISE_DIR]
    return out
