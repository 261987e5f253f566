"""Recipes: documented, reproducible training runs of the bundled models.

One machinery, two recipes (:data:`RECIPES`):

* ``digits`` (:class:`DigitsRecipe`, builds ``assets/default_model.pt``): ``zero`` .. ``nine`` +
  ``_silence_`` + ``_unknown_``;
* ``commands`` (:class:`CommandsRecipe`, builds ``assets/commands_model.pt``): the classic Speech
  Commands 12-class task, ``yes no up down left right on off stop go`` + ``_silence_`` + ``_unknown_``.

Sources under ``data_root`` (each recipe's ``SOURCES``):

* ``fsdd/`` -- Free Spoken Digit Dataset, 8 kHz, 4 speakers (CC BY-SA 4.0); digits only;
* ``speech_commands_sample/``, ``speech_commands_v2_testset_half/`` -- Speech Commands words
  (CC BY 4.0): the recipe's words train their classes, every other word feeds ``_unknown_``, so
  real Speech Commands speech is both a word and ``_unknown_``;
* ``speech_commands_v1_bed_cat_happy/`` -- 4,700 clips of "bed", "cat", "happy" from ~1,500 speakers:
  ``_unknown_`` material (CC BY 4.0);
* ``speech_commands_background_noise/`` -- noise for mixing and ``_silence_`` (CC BY 4.0), minus
  :data:`TEST_NOISES`, held out for the noisy test;
* optionally synthetic voices (``speechrnn synth``: every local espeak-ng / flite voice) saying the
  words and other words (``_unknown_``), and voice-scaled copies of the real training clips.

Splits hold out whole speakers, consistently across folders (:mod:`speechrnn.data.speakers`): a
folder's own split lists (``speech_commands_v2_testset_half`` has them) decide for its speakers,
everyone else takes the Speech Commands hash (``validation_pct`` / ``testing_pct``); a speaker is
in one split in every folder. With FSDD's four speakers the hash makes ``nicolas`` the validation
and ``yweweler`` the test speaker. The official test archive's ``_silence_`` clips are left out:
they are cut from the background noise recordings, the held-out test noises included.
Model selection uses validation only. A final build (``validation_speakers_train``) then trains the
chosen settings on every speaker outside the test split and ships its last epoch. The test split is
reported per source, clean and with held-out noise recordings mixed at 10 dB SNR.

Everything derived (split views, synthetic clips, noise folders) is rebuilt deterministically in a
work folder; same seed and machine give the same model and metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from speechrnn.atomic import hold_folder
from speechrnn.data.spec import SILENCE, TASK_12_WORDS
from speechrnn.errors import DataError, SpeechRNNError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Stage

FSDD_DIR = "fsdd"
SPEECH_COMMANDS_DIR = "speech_commands_sample"
SPEECH_COMMANDS_V2_TEST_HALF_DIR = "speech_commands_v2_testset_half"
SPEECH_COMMANDS_V1_DIR = "speech_commands_v1_bed_cat_happy"
SPEECH_COMMANDS_DIRS = (SPEECH_COMMANDS_DIR, SPEECH_COMMANDS_V2_TEST_HALF_DIR, SPEECH_COMMANDS_V1_DIR)
NOISE_DIR = "speech_commands_background_noise"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = TASK_12_WORDS
# Words other than digits spoken by the synthetic voices for _unknown_: the other Speech Commands
# words (v1 and v2). No number words, so nothing that contains a digit ("sixteen").
UNKNOWN_WORDS = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "bird", "cat", "dog",
    "happy", "house", "marvin", "sheila", "tree", "wow", "backward", "forward", "follow", "learn", "visual",
)
# Held out of training for the noisy test (unseen noise types): a cat and an exercise bike.
TEST_NOISES = ("dude_miaowing.wav", "exercise_bike.wav")
# Label folders of the real sources never used: the official test archive's 1 s _silence_ clips
# are cut from the background noise recordings, TEST_NOISES included; silence is generated from
# the training noises instead.
EXCLUDED_LABELS = (SILENCE,)
SPEECH_COMMANDS_LICENSE = "CC BY 4.0 (Speech Commands, Pete Warden, Google, arXiv:1804.03209)"
LICENSES = {
    FSDD_DIR: "CC BY-SA 4.0 (Free Spoken Digit Dataset, Zohar Jackson et al., "
              "https://github.com/Jakobovski/free-spoken-digit-dataset)",
    SPEECH_COMMANDS_DIR: SPEECH_COMMANDS_LICENSE,
    SPEECH_COMMANDS_V2_TEST_HALF_DIR: SPEECH_COMMANDS_LICENSE.replace("Speech Commands", "Speech Commands v0.02 test "
                                                                      "files, half of the speakers"),
    SPEECH_COMMANDS_V1_DIR: SPEECH_COMMANDS_LICENSE.replace("Speech Commands", "Speech Commands v0.01"),
    NOISE_DIR: "CC BY 4.0 (Speech Commands background noise, Pete Warden, Google)",
    "synthetic": "generated locally with espeak-ng (GPL-3.0 program; its output is not covered) and flite "
                 "(BSD-like); no third-party recordings",
}
VIEWS_DIR = "views"  # split views of the real sources (links + split lists)
SYNTH_DIGITS_DIR = "synth_digits"  # the digits recipe's synthetic words (synth_<recipe name>)
SYNTH_UNKNOWN_DIR = "synth_unknown"
PERTURBED_DIR = "real_perturbed"
# what to change when a build's run folder is held by another build (speechrnn.atomic.hold_folder)
RUN_NAME_HINT = "give this build a run name of its own (--run-name) or another --work-dir"
HARD_NEGATIVES_DIR = "hard_negatives"  # training speakers' other words a model took for a word
HARD_NEGATIVE_POOL_DIR = "hard_negative_pool"  # every such clip, as one _unknown_ folder to score
TRAIN_NOISE_DIR = "noise_train"
TEST_NOISE_DIR = "noise_test"
VALIDATION_NOISE_DIR = "noise_validation"
DONE_MARKER = ".done.json"  # written after a derived folder is complete, with the settings that made it
KEY_CHARS = 16  # hex characters of a settings digest in a done marker


@dataclass(frozen=True)
class Recipe:
    """Every choice of a recipe; the subclasses name the vocabulary and sources (class variables)."""

    NAME: ClassVar[str] = ""
    TASK: ClassVar[str] = ""  # DataSpec task
    WORDS: ClassVar[tuple[str, ...]] = ()
    SOURCES: ClassVar[tuple[str, ...]] = ()  # real folders under data_root
    PERTURB_SOURCES: ClassVar[tuple[str, ...]] = ()  # real folders whose word clips get voice-scaled copies
    SYNTH_UNKNOWN_WORDS: ClassVar[tuple[str, ...]] = ()

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
    # Final build: every validation speaker trains too (only the test split stays held out) and
    # the last epoch is shipped, with every setting chosen beforehand on validation.
    validation_speakers_train: bool = False
    silence_pct: float = 10.0
    # Speech Commands' standard 10 %. More hurts: with 30 %, most real Speech Commands speech in
    # training is _unknown_ and the model learned "sounds like that microphone -> _unknown_"
    # (measured on 156 never-seen Speech Commands digit clips: 55 % at 30 %, 74 % at 10 %).
    unknown_pct: float = 10.0
    synth: bool = True
    synth_digit_voices: int | None = 300  # synthetic clips per word (None = every voice once)
    synth_unknown_per_word: int = 40
    # with synth: also the recipe's own words in synthetic voices (False: only the other words,
    # synthetic negatives beside the real voices of the recipe's words)
    synth_own_words: bool = True
    # Copies of the real training clips of the recipe's words read at these rates (pitch, formants
    # and tempo scaled together, like a smaller or larger speaker): more "speakers" from the real ones.
    real_voice_scales: tuple[float, ...] = (0.9, 1.1)
    # training
    epochs: int = 20  # validation accuracy peaks within 5-15 epochs; the best epoch is shipped
    batch_size: int = 64  # a few thousand clips: small batches give enough optimizer steps
    freq_mask_bins: int = 2  # SpecAugment frequency masks, scaled to 13 coefficients
    # TrainConfig.objective: "stream" (continuous audio, a target at every frame, carried state;
    # speechrnn.training.stream_batches) or "clip" (one label per 1 s clip)
    objective: str = "stream"
    # TrainConfig.balance_sources: draw the sources of each class equally often
    # (speechrnn.data.sampling.label_source_weights)
    balance_sources: bool = False
    unknown_by_word: bool = False  # other words as classes of their own (DataSpec.unknown_by_word): a first stage
    # Leave-one-noise-out, for choosing settings: these background recordings (file names in
    # NOISE_DIR, never TEST_NOISES) are left out of training and are the validation streams' noise
    # (bench.recipe_streams), so that a choice is made on a noise the candidates never heard.
    validation_noises: tuple[str, ...] = ()
    # a model (.pt) whose false accepts among the training speakers' other words train again as a
    # source of their own (hard-negative mining, mine_hard_negatives); "" = none
    hard_negatives_from: str = ""
    snr_db_test: float = 10.0
    # the live detector's threshold recorded in the model (TrainConfig.detection_threshold), chosen on
    # the validation streams (bench.recipe_streams --threshold); None: the recognizer's default
    detection_threshold: float | None = None
    extra_train: dict = field(default_factory=dict)  # more TrainConfig fields, by name
    extra_augment: dict = field(default_factory=dict)  # more AugmentConfig fields, by name
    extra_features: dict = field(default_factory=dict)  # more FeatureConfig fields, by name
    extra_model: dict = field(default_factory=dict)  # more ModelConfig fields, by name

    @property
    def root(self) -> Path:
        return Path(self.data_root).expanduser()

    @property
    def work(self) -> Path:
        return Path(self.work_dir).expanduser()

    @property
    def synth_words_dir(self) -> str:
        return f"synth_{self.NAME}"

    def to_dict(self) -> dict:
        return {"name": self.NAME, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: dict, **overrides) -> "Recipe":
        """The recipe that :meth:`to_dict` recorded (e.g. in a model it built), with ``overrides``
        (``data_root`` and ``work_dir`` of this machine, say). Fields it lacks (recorded before they
        existed) take their defaults; lists read back from JSON become tuples again."""
        name = data.get("name")
        if name not in RECIPES:
            raise DataError(f"unknown recipe {name!r} (recipes: {', '.join(sorted(RECIPES))})")
        cls = RECIPES[name]
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: (tuple(v) if isinstance(v, list) and isinstance(getattr(cls, k, None), tuple) else v)
                  for k, v in data.items() if k in fields}
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class DigitsRecipe(Recipe):
    """The ``digits`` recipe. Defaults are what builds ``assets/default_model.pt``."""

    NAME: ClassVar[str] = "digits"
    TASK: ClassVar[str] = "digits"
    WORDS: ClassVar[tuple[str, ...]] = DIGITS
    SOURCES: ClassVar[tuple[str, ...]] = (FSDD_DIR,) + SPEECH_COMMANDS_DIRS
    PERTURB_SOURCES: ClassVar[tuple[str, ...]] = (FSDD_DIR, SPEECH_COMMANDS_DIR, SPEECH_COMMANDS_V2_TEST_HALF_DIR)
    SYNTH_UNKNOWN_WORDS: ClassVar[tuple[str, ...]] = UNKNOWN_WORDS


@dataclass(frozen=True)
class CommandsRecipe(Recipe):
    """The ``commands`` recipe (Speech Commands 12 classes). Builds ``assets/commands_model.pt``."""

    NAME: ClassVar[str] = "commands"
    TASK: ClassVar[str] = "12"
    WORDS: ClassVar[tuple[str, ...]] = COMMANDS
    SOURCES: ClassVar[tuple[str, ...]] = SPEECH_COMMANDS_DIRS
    PERTURB_SOURCES: ClassVar[tuple[str, ...]] = (SPEECH_COMMANDS_DIR, SPEECH_COMMANDS_V2_TEST_HALF_DIR)
    SYNTH_UNKNOWN_WORDS: ClassVar[tuple[str, ...]] = DIGITS + tuple(w for w in UNKNOWN_WORDS if w not in COMMANDS)

    # Speech Commands is 16 kHz audio throughout: the band up to FeatureConfig's default 7.6 kHz
    f_max_hz: float = 7600.0
    # ~120 speakers say the ten words: real voices first; synthetic voices are an option to measure
    synth: bool = False


RECIPES: dict[str, type[Recipe]] = {"digits": DigitsRecipe, "commands": CommandsRecipe}


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
    if out.exists():  # rendered with other settings, or cut short: synthesize() would add to its clips
        import shutil

        yield Message(f"{out}: rendered with other settings or unfinished; rendering anew")
        shutil.rmtree(out)
    yield from synthesize(config, out, cancel, voices=voices)
    _mark_done(out, settings)


def _missing_sources(recipe: Recipe) -> None:
    for name in recipe.SOURCES + (NOISE_DIR,):
        if not (recipe.root / name).is_dir():
            raise DataError(f"{recipe.root / name}: missing (the {recipe.NAME} recipe needs "
                            f"{', '.join(n + '/' for n in recipe.SOURCES + (NOISE_DIR,))} under --data-root)")


def speaker_splits(recipe: Recipe) -> dict[str, str]:
    """speaker -> split over all the recipe's real sources (:func:`combined_speaker_splits`); with
    ``validation_speakers_train``, every validation speaker trains (only the test split is held out)."""
    from speechrnn.data.layout import scan_folder
    from speechrnn.data.speakers import combined_speaker_splits

    _missing_sources(recipe)
    folders = {recipe.root / name: scan_folder(recipe.root / name) for name in recipe.SOURCES}
    splits = combined_speaker_splits(folders, recipe.validation_pct, recipe.testing_pct)
    if recipe.validation_speakers_train:
        splits = {speaker: "train" if split == "validation" else split for speaker, split in splits.items()}
    return splits


def source_views(recipe: Recipe, splits: dict[str, str]) -> list[Path]:
    """Split views of the real sources (``work/views/<source>``: links and split lists, named like
    the source), in ``SOURCES`` order; raises DataError if a speaker would still be in two splits."""
    from speechrnn.data.speakers import speakers_in_several_splits, write_split_view

    views = [write_split_view(recipe.root / name, recipe.work / VIEWS_DIR / name, splits, EXCLUDED_LABELS)
             for name in recipe.SOURCES]
    overlap = speakers_in_several_splits(views, recipe.validation_pct, recipe.testing_pct)
    if overlap:
        speaker, where = next(iter(overlap.items()))
        raise DataError(f"{recipe.work / VIEWS_DIR}: {len(overlap)} speakers in several splits "
                        f"(e.g. {speaker}: {', '.join(f'{s} in {sorted(f)}' for s, f in where.items())})")
    return views


def _word_of(label: str) -> str:
    from speechrnn.data.spec import DIGIT_ALIASES

    return dict(DIGIT_ALIASES).get(label, label)


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:KEY_CHARS]


def perturb_real_voices(recipe: Recipe, views: list[Path], cancel: CancelToken | None = None) -> EventStream:
    """Write ``real_voice_scales`` copies of the real training clips of the recipe's words (from
    ``PERTURB_SOURCES``) into ``work/real_perturbed`` as new speakers ``<speaker>-vs<scale%>``;
    a training-only folder."""
    from speechrnn.data.speakers import folder_splits
    from speechrnn.data.voice_scale import write_copies

    out = recipe.work / PERTURBED_DIR
    rate = 16000  # the clips are written at the model's rate
    clips = [clip for view in views if view.name in recipe.PERTURB_SOURCES
             for clip, split in folder_splits(view, recipe.validation_pct, recipe.testing_pct)
             if split == "train" and _word_of(clip.label) in recipe.WORDS]
    settings = {"scales": list(recipe.real_voice_scales),
                "clips": _digest([f"{c.source}/{c.label}/{c.path.name}" for c in clips])}
    if _done(out, settings):
        return
    yield Stage("perturb", f"Voice-scaled copies of {len(clips)} real training clips")
    if out.is_dir():  # stale copies of clips that no longer train must not stay behind
        for old in out.rglob("*.wav"):
            old.unlink()
    yield from write_copies(clips, recipe.real_voice_scales, out, rate, "perturb", cancel)
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


def mine_hard_negatives(recipe: Recipe, views: list[Path], cancel: CancelToken | None = None) -> EventStream:
    """Hard-negative mining: score every real training clip of another word with the model
    ``recipe.hard_negatives_from`` as the held-out clips are scored (the clip, then silence; the word
    whose score peaks highest), and link each clip that it takes for one of the recipe's words into
    ``work/hard_negatives/<word>/``: a training-only source of its own, so that ``balance_sources``
    draws those clips as often as each other source of ``_unknown_``. Only training speakers are
    scored: validation and test speakers stay unseen. Measured on the digits model (assets/README:
    not shipped)."""
    import shutil

    from speechrnn.data.spec import UNKNOWN
    from speechrnn.data.speakers import folder_splits
    from speechrnn.evaluate import evaluate

    model = Path(recipe.hard_negatives_from).expanduser()
    if not model.is_file():
        raise DataError(f"{model}: hard_negatives_from names no model file")
    clips = [clip for view in views for clip, split in folder_splits(view, recipe.validation_pct, recipe.testing_pct)
             if split == "train" and _word_of(clip.label) not in recipe.WORDS and clip.label not in EXCLUDED_LABELS]
    out = recipe.work / HARD_NEGATIVES_DIR
    settings = {"model": hashlib.sha256(model.read_bytes()).hexdigest()[:KEY_CHARS], "taken": "any word predicted",
                "clips": _digest([f"{c.source}/{c.label}/{c.path.name}" for c in clips])}
    if _done(out, settings):
        yield Message(f"hard negatives already in {out}")
        return
    yield Stage("hard-negatives", f"Scoring {len(clips)} training clips of other words with {model.name}")
    pool = recipe.work / HARD_NEGATIVE_POOL_DIR
    for folder in (pool, out):
        if folder.is_dir():
            shutil.rmtree(folder)  # links only
    by_link: dict[str, Path] = {}
    for number, clip in enumerate(clips):  # one _unknown_ folder: scored whole, never sampled down
        link = pool / UNKNOWN / f"{clip.label}-{number}-{clip.path.name}"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(clip.path.resolve())
        by_link[link.name] = clip.path
    result = yield from _forward(evaluate(model, str(pool), split="all",
                                          cache_dir=recipe.work / "cache", cancel=cancel))
    taken = [(Path(path).name, predicted) for path, _, predicted, _ in result.wrong if predicted in recipe.WORDS]
    if not taken:
        raise DataError(f"{model}: takes none of the {len(clips)} training clips of other words for a word: "
                        "no hard negatives to train on")
    for name, _ in taken:
        original = by_link[name]
        link = out / original.parent.name / original.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():  # the same clip name in two sources: one is enough
            link.symlink_to(original.resolve())
    train_only(out)
    _mark_done(out, settings)
    words = sorted({name.split("-", 1)[0] for name, _ in taken})
    yield Message(f"{len(taken)} of {len(clips)} training clips of other words were taken for a word "
                  f"({', '.join(words)}): {out}")


def noise_folders(recipe: Recipe) -> tuple[Path, Path]:
    """Folders of links to the training and the held-out test noise recordings (training leaves out
    ``TEST_NOISES`` and the recipe's ``validation_noises``)."""
    source = recipe.root / NOISE_DIR
    files = sorted(p for p in source.glob("*.wav"))
    if not files:
        raise DataError(f"{source}: no background noise recordings")
    missing = [n for n in TEST_NOISES if not (source / n).is_file()]
    if missing:
        raise DataError(f"{source}: held-out test noise {', '.join(missing)} not found")
    held_out = set(TEST_NOISES) | set(_validation_noise_files(recipe))
    train_dir, test_dir = recipe.work / TRAIN_NOISE_DIR, recipe.work / TEST_NOISE_DIR
    _link_files(train_dir, [p for p in files if p.name not in held_out])
    _link_files(test_dir, [source / n for n in TEST_NOISES])
    return train_dir, test_dir


def validation_noise_folder(recipe: Recipe) -> Path:
    """A folder of links to the recipe's ``validation_noises`` (the validation streams' noise)."""
    folder = recipe.work / VALIDATION_NOISE_DIR
    _link_files(folder, [recipe.root / NOISE_DIR / name for name in _validation_noise_files(recipe)])
    return folder


def _validation_noise_files(recipe: Recipe) -> tuple[str, ...]:
    source = recipe.root / NOISE_DIR
    for name in recipe.validation_noises:
        if name in TEST_NOISES:
            raise DataError(f"validation noise {name} is a held-out test noise ({', '.join(TEST_NOISES)}): "
                            "choosing settings on it would tune on the test")
        if not (source / name).is_file():
            raise DataError(f"{source / name}: validation noise not found")
    return tuple(recipe.validation_noises)


def _link_files(folder: Path, targets: list[Path]) -> None:
    """``folder`` holds links to exactly ``targets`` (stale links removed, the right ones kept, so
    that two runs of one work dir starting together both find them)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path.resolve() for path in targets}
    for entry in folder.iterdir():
        if wanted.get(entry.name) != (entry.resolve() if entry.is_symlink() else None):
            entry.unlink(missing_ok=True)
    for name, target in wanted.items():
        link = folder / name
        try:
            link.symlink_to(target)
        except FileExistsError:  # linked by the other run meanwhile, or kept from before
            if link.resolve() != target:
                raise


def synth_dirs(recipe: Recipe) -> tuple[str, ...]:
    """The folders of synthetic clips a recipe with ``synth`` trains on (under its work dir)."""
    return ((recipe.synth_words_dir,) if recipe.synth_own_words else ()) + (SYNTH_UNKNOWN_DIR,)


def data_spec(recipe: Recipe, views: list[Path], train_noise: Path):
    """The :class:`~speechrnn.data.spec.DataSpec` of the recipe on its split ``views``."""
    from speechrnn.data.spec import DataSpec

    sources = [str(view) for view in views]
    if recipe.synth:
        sources += [str(recipe.work / name) for name in synth_dirs(recipe)]
    if recipe.real_voice_scales:
        sources.append(str(recipe.work / PERTURBED_DIR))
    if recipe.hard_negatives_from:
        sources.append(str(recipe.work / HARD_NEGATIVES_DIR))
    return DataSpec(
        sources=tuple(sources), task=recipe.TASK, include_silence=True, include_unknown=True,
        silence_pct=recipe.silence_pct, unknown_pct=recipe.unknown_pct,
        validation_pct=recipe.validation_pct, testing_pct=recipe.testing_pct,
        noise_dirs=(str(train_noise),), seed=recipe.seed, unknown_by_word=recipe.unknown_by_word,
    )


def evaluation_spec(recipe: Recipe, views: list[Path], train_noise: Path):
    """The recipe's spec on the real recordings only: its validation and testing splits are the
    same speakers as in training, without synthetic voices -- what the reported accuracies are
    measured on."""
    return data_spec(dataclasses.replace(recipe, synth=False, real_voice_scales=(), hard_negatives_from=""), views,
                     train_noise)


def held_out_view(recipe: Recipe, out_dir: Path, split: str = "testing") -> Path:
    """A folder of links to the real clips of ``split`` in the dataset layout, FSDD's digit folders
    renamed to words (``out_dir/zero/...``): for stream-eval and the gradient plot. Holds every clip
    of the recipe's words and, like training, other words for ``_unknown_`` up to ``unknown_pct`` %
    of them (a fixed, seeded choice).

    The links go into ``out_dir/<key>``, named by the clips they hold: a recipe that splits otherwise
    (``validation_speakers_train``, another ``unknown_pct``) gets a folder of its own instead of adding
    its clips to an earlier recipe's, whose training speakers would then be heard as held out."""
    import numpy as np

    from speechrnn.data.speakers import folder_splits

    views = source_views(recipe, speaker_splits(recipe))
    words, others = [], []
    for view in views:
        for clip, clip_split in folder_splits(view, recipe.validation_pct, recipe.testing_pct):
            if clip_split == split:
                (words if _word_of(clip.label) in recipe.WORDS else others).append(clip)
    if not words:
        why = " (validation_speakers_train: a final build, whose validation speakers trained)" \
            if split == "validation" and recipe.validation_speakers_train else ""
        raise DataError(f"{recipe.root}: the {recipe.NAME} recipe holds no {split} speakers of its words{why}")
    wanted = min(len(others), math.ceil(len(words) * recipe.unknown_pct / 100))
    picks = np.random.default_rng(recipe.seed).choice(len(others), size=wanted, replace=False)
    links = {Path(_word_of(clip.label)) / clip.path.name: clip.path.resolve()
             for clip in words + [others[i] for i in sorted(picks)]}
    out_dir = Path(out_dir) / _digest([f"{link}\t{target}" for link, target in sorted(links.items())])
    for name, target in links.items():
        link = out_dir / name
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(target)
        except FileExistsError:  # the same link, made by an earlier call or a concurrent one
            pass
    return out_dir


def data_counts(recipe: Recipe, views: list[Path]) -> dict:
    """Clips and speakers per source and split as the loader splits the views: all clips, and
    the clips of the recipe's words."""
    from speechrnn.data.speakers import split_counts

    labels = {view.name: sorted({p.name for p in view.iterdir() if p.is_dir() and _word_of(p.name) in recipe.WORDS})
              for view in views}
    return {"all": split_counts(views, recipe.validation_pct, recipe.testing_pct),
            "words": {name: counts for view in views
                      for name, counts in split_counts([view], recipe.validation_pct, recipe.testing_pct,
                                                       labels[view.name]).items()}}


def format_counts(counts: dict) -> str:
    """The :func:`data_counts` table as text lines: source, then clips/speakers per split."""
    lines = []
    for kind, title in (("all", "all clips"), ("words", "the recipe's words")):
        lines.append(f"{title}: clips (speakers) per split")
        for source, splits in counts[kind].items():
            cells = ", ".join(f"{split} {v['clips']} ({v['speakers']})" for split, v in splits.items())
            lines.append(f"  {source}: {cells}")
    return "\n".join(lines)


def prepare_recipe_data(recipe: Recipe, cancel: CancelToken | None = None) -> EventStream:
    """Derived folders (split views, synthetic clips, voice-scaled copies, noise split) ->
    ``Finished(RecipeData)``."""
    _missing_sources(recipe)
    recipe.work.mkdir(parents=True, exist_ok=True)
    yield Stage("views", "Speaker-disjoint split views of " + ", ".join(recipe.SOURCES))
    views = source_views(recipe, speaker_splits(recipe))
    counts = data_counts(recipe, views)
    yield Message(format_counts(counts))
    if recipe.synth:
        own = f"{recipe.NAME} words and " if recipe.synth_own_words else ""
        yield Stage("synth", f"Synthetic voices: {own}other words")
        if recipe.synth_own_words:
            yield from synthesize_words(recipe.WORDS, recipe.synth_digit_voices, recipe.seed,
                                        recipe.work / recipe.synth_words_dir, cancel)
        yield from synthesize_words(recipe.SYNTH_UNKNOWN_WORDS, recipe.synth_unknown_per_word, recipe.seed + 1,
                                    recipe.work / SYNTH_UNKNOWN_DIR, cancel)
        for name in synth_dirs(recipe):
            train_only(recipe.work / name)
    if recipe.real_voice_scales:
        yield from perturb_real_voices(recipe, views, cancel)
    if recipe.hard_negatives_from:
        yield from mine_hard_negatives(recipe, views, cancel)
    train_noise, test_noise = noise_folders(recipe)
    yield Finished(RecipeData(data_spec(recipe, views, train_noise), evaluation_spec(recipe, views, train_noise),
                              test_noise, views, counts))


@dataclass(frozen=True)
class RecipeData:
    """What :func:`prepare_recipe_data` made: the training spec, the evaluation spec (real clips
    only), the held-out noise folder, the split views and their clip/speaker counts."""

    spec: object
    eval_spec: object
    test_noise: Path
    views: list[Path]
    counts: dict


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


def _config(cls, **fields):
    """``cls(**fields)``; a field ``cls`` does not have is a one-line error, not a traceback."""
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise SpeechRNNError(f"{cls.__name__} has no field {', '.join(unknown)} (recipe setting or extra_* entry)")
    return cls(**fields)


def recipe_configs(recipe: Recipe):
    """(FeatureConfig, ModelConfig, AugmentConfig, TrainConfig) of the recipe. ``objective``
    always reaches TrainConfig (``clip`` too, where TrainConfig has no such field it is what it
    trains); ``balance_sources`` only when set."""
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig
    from speechrnn.training import TrainConfig

    feature_config = _config(FeatureConfig, f_max_hz=recipe.f_max_hz, n_mfcc=recipe.n_mfcc, **recipe.extra_features)
    model_config = _config(ModelConfig, num_classes=2, input_dim=feature_config.feature_dim,
                           spectral_bands=feature_config.n_mels, cell=recipe.cell,
                           hidden=recipe.hidden, layers=recipe.layers, dropout=recipe.dropout,
                           pooling=recipe.pooling, **recipe.extra_model)
    extra_train = dict(recipe.extra_train)
    extra_train["objective"] = recipe.objective
    if recipe.balance_sources:
        extra_train["balance_sources"] = True
    # extra_train may override what the recipe sets (e.g. another training seed on the same data)
    train_config = _config(TrainConfig, **{"epochs": recipe.epochs, "batch_size": recipe.batch_size,
                                           "seed": recipe.seed, **extra_train})
    augment = _config(AugmentConfig, freq_mask_bins=recipe.freq_mask_bins, **recipe.extra_augment)
    return feature_config, model_config, augment, train_config


def word_groups(recipe: Recipe, views: list[Path], split: str, out_dir: Path) -> dict[str, Path]:
    """Folders of links (``out_dir/<group>/<word>/``) to the recipe's word clips of ``split``, per
    group of sources: ``speech_commands words`` (every Speech Commands folder together: "Speech
    Commands digits across all folders") and ``<source> words`` for each other source."""
    import shutil

    from speechrnn.data.speakers import folder_splits

    out_dir = Path(out_dir)
    if out_dir.is_dir():
        shutil.rmtree(out_dir)  # links only: rebuilt from the views
    groups: dict[str, Path] = {}
    for view in views:
        name = f"{'speech_commands' if view.name in SPEECH_COMMANDS_DIRS else view.name} words"
        for clip, clip_split in folder_splits(view, recipe.validation_pct, recipe.testing_pct):
            if clip_split == split and _word_of(clip.label) in recipe.WORDS:
                folder = groups.setdefault(name, out_dir / name.replace(" ", "_"))
                link = folder / _word_of(clip.label) / clip.path.name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(clip.path.resolve())
    return groups


def held_out_metrics(checkpoint_path: Path, spec, noise_dir: Path, snr_db: float, split: str,
                     cancel: CancelToken | None = None, groups: dict[str, Path] | None = None,
                     cache_dir: Path | None = None) -> EventStream:
    """Accuracy of a split, overall and per source, clean and with ``noise_dir`` at ``snr_db``;
    with ``groups`` (name -> folder of clips of the split, see :func:`word_groups`), also the
    accuracy on each group's clips, clean and noisy."""
    from speechrnn.evaluate import evaluate, wilson_interval

    noisy_key = f"snr_{snr_db:g}db"
    result = yield from _forward(evaluate(checkpoint_path, spec, split=split, noise_dirs=(str(noise_dir),),
                                          snr_db=snr_db, cache_dir=cache_dir, cancel=cancel))

    def summary(accuracy: float, clips: int) -> dict:
        return {"accuracy": accuracy, "clips": clips, "ci95": list(wilson_interval(accuracy, clips))}

    noisy = result.noisy
    metrics = {
        "clean": {"all": summary(result.accuracy, result.clips),
                  **{k: summary(v["accuracy"], v["clips"]) for k, v in result.per_source.items()}},
        noisy_key: {"all": summary(noisy["accuracy"], noisy["clips"]),
                    **{k: summary(v["accuracy"], v["clips"]) for k, v in noisy["per_source"].items()}},
        "per_class": result.per_class,
        "confusion": result.confusion,
        "wrong": [list(w) for w in result.wrong],
    }
    for name, folder in (groups or {}).items():
        scored = yield from _forward(evaluate(checkpoint_path, str(folder), noise_dirs=(str(noise_dir),),
                                              snr_db=snr_db, cache_dir=cache_dir, cancel=cancel))
        metrics["clean"][name] = summary(scored.accuracy, scored.clips)
        metrics[noisy_key][name] = summary(scored.noisy["accuracy"], scored.noisy["clips"])
    yield Finished(metrics)


def build_recipe(recipe: Recipe, out_path: str | Path, run_name: str = "run",
                 evaluate_test: bool = True, cancel: CancelToken | None = None) -> EventStream:
    """Run the recipe: data, training, held-out evaluation; write the self-describing model to
    ``out_path`` (no optimizer state: a small file). ``Finished(metrics)``.

    ``evaluate_test=False`` (for choosing settings) scores only the validation split.
    """
    from speechrnn.training import train

    data = yield from _forward(prepare_recipe_data(recipe, cancel))
    feature_config, model_config, augment, train_config = recipe_configs(recipe)
    with hold_folder(recipe.work / run_name, RUN_NAME_HINT) as run_dir:
        result = yield from _forward(train(data.spec, feature_config, model_config, augment, train_config, run_dir,
                                           force=True, cancel=cancel, cache_dir=recipe.work / "cache",
                                           recipe=recipe.NAME))
        shipped_path = result.last_path if recipe.validation_speakers_train else result.best_path
        metrics: dict = {"training": {k: v for k, v in result.metrics.items() if not k.startswith("test")},
                         "shipped_epoch": "last" if recipe.validation_speakers_train else "best on validation",
                         "data": data.counts}
        return (yield from _score_and_record(recipe, data, shipped_path, out_path, run_dir, metrics, evaluate_test,
                                             cancel))


def build_ensemble(recipe: Recipe, members: list[str | Path], out_path: str | Path, run_name: str = "ensemble",
                   evaluate_test: bool = True, cancel: CancelToken | None = None) -> EventStream:
    """The recipe's model as an ensemble of already trained networks (``speechrnn ensemble``), scored
    and recorded as :func:`build_recipe` records a trained one. ``Finished(metrics)``."""
    from speechrnn.checkpoint import combine_checkpoints, save_checkpoint

    data = yield from _forward(prepare_recipe_data(recipe, cancel))
    with hold_folder(recipe.work / run_name, RUN_NAME_HINT) as run_dir:
        combined = save_checkpoint(combine_checkpoints(list(members)), run_dir / "ensemble.pt")
        metrics: dict = {"ensemble": [str(path) for path in members], "data": data.counts}
        return (yield from _score_and_record(recipe, data, combined, out_path, run_dir, metrics, evaluate_test,
                                             cancel))


def _score_and_record(recipe: Recipe, data, model_path: Path, out_path: str | Path, run_dir: Path, metrics: dict,
                      evaluate_test: bool, cancel: CancelToken | None) -> EventStream:
    """Score ``model_path`` on the recipe's held-out splits, record the recipe, its data's licenses
    and the held-out speakers in it and write it to ``out_path``. ``Finished(metrics)``."""
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint
    from speechrnn.evaluate import write_json_atomic

    # a final build (validation_speakers_train) has no validation speakers left to score
    splits = (() if recipe.validation_speakers_train else ("validation",)) + (("testing",) if evaluate_test else ())
    for split in splits:
        yield Stage(f"evaluate-{split}", f"Scoring the {split} split (clean and at {recipe.snr_db_test:g} dB SNR, "
                                         "held-out noises)")
        groups = word_groups(recipe, data.views, split, run_dir / "held_out_words" / split)
        metrics[split] = yield from _forward(held_out_metrics(model_path, data.eval_spec, data.test_noise,
                                                              recipe.snr_db_test, split, cancel, groups,
                                                              recipe.work / "cache"))
    ckpt = load_checkpoint(model_path)
    ckpt.recipe = recipe.NAME
    ckpt.extra = {}
    if recipe.detection_threshold is not None:
        train = {**ckpt.train_config.get("train", {}), "detection_threshold": recipe.detection_threshold}
        ckpt.train_config = {**ckpt.train_config, "train": train}
    if "testing" in metrics and "test_accuracy" not in ckpt.metrics:  # an ensemble: no training run tested it
        clean = metrics["testing"]["clean"]
        ckpt.metrics["test_accuracy"], ckpt.metrics["test_clips"] = clean["all"]["accuracy"], clean["all"]["clips"]
        ckpt.metrics["test_per_source"] = {name: {"accuracy": v["accuracy"], "clips": v["clips"]}
                                           for name, v in clean.items() if name != "all" and name not in groups}
    # the wrong-file lists stay in the run folder (recipe_metrics.json), not in the shipped model
    recorded = {k: ({n: m for n, m in v.items() if n != "wrong"} if k in splits else v) for k, v in metrics.items()}
    ckpt.metrics = {**ckpt.metrics, "recipe": recorded}
    ckpt.data = {**ckpt.data, "recipe": recipe.to_dict(), "licenses": _licenses(recipe, data.spec),
                 "held_out": {"test_noises": list(TEST_NOISES), "speakers": held_out_speakers(recipe)}}
    save_checkpoint(ckpt, out_path)
    write_json_atomic(run_dir / "recipe_metrics.json", metrics)
    yield Finished(metrics)


def held_out_speakers(recipe: Recipe) -> dict[str, dict[str, list[str] | int]]:
    """FSDD's speakers per split by name (e.g. the one test speaker); for the other sources, the
    number of speakers per split (clips of ``EXCLUDED_LABELS`` left out, like training does)."""
    from speechrnn.data.layout import scan_folder

    splits = speaker_splits(recipe)
    out: dict[str, dict] = {}
    for name in recipe.SOURCES:
        speakers = sorted({clip.speaker for clip in scan_folder(recipe.root / name) if clip.label not in EXCLUDED_LABELS})
        by_split: dict[str, list[str]] = {}
        for speaker in speakers:
            by_split.setdefault(splits[speaker], []).append(speaker)
        out[name] = by_split if name == FSDD_DIR else {split: len(s) for split, s in by_split.items()}
    return out


def _licenses(recipe: Recipe, spec) -> dict[str, str]:
    out = {}
    for source in spec.sources:
        name = Path(source).name
        if name in (recipe.synth_words_dir, SYNTH_UNKNOWN_DIR):
            out[name] = LICENSES["synthetic"]
        elif name == HARD_NEGATIVES_DIR:
            out[name] = "clips of " + "; ".join(f"{n} ({LICENSES[n]})" for n in recipe.SOURCES)
        elif name == PERTURBED_DIR:
            origins = [n for n in recipe.PERTURB_SOURCES]
            out[name] = "derived from " + "; ".join(f"{n} ({LICENSES[n]})" for n in origins)
        else:
            out[name] = LICENSES.get(name, "unknown")
    out[NOISE_DIR] = LICENSES[NOISE_DIR]
    return out
