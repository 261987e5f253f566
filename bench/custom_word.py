"""Teaching it a word: does a custom word, trained from a handful of takes, reject other words?

    .venv/bin/python -m bench.custom_word --data-root ../shared/data [--word lights] [--quick]

What a new user does in the app (issue 12): record a few takes of a word ("lights"), train with
the Train panel's defaults, use the model. Here:

1. **Takes**: ``TAKES`` clips of the word by text-to-speech voices at seeded rates and pitches (one
   voice of each engine left after the training voices, at most ``TAKE_VOICES``: one espeak-ng voice
   where, as here, the 4 flite voices all train)
   (the "user"; one folder, named like the Record panel's takes, split by take).
2. **Training** with the Train panel's defaults (``speechrnn.custom_word.TrainRequest``: synthetic
   voices saying the word and other words, on the bundled commands model's network, GRU 2 x 128,
   150 short epochs; ``--start-from new`` for a new network, 100 epochs), twice:
   ``without other words`` (the state of the walk-through: no bundled clips, similar words or
   noise) and ``with other words`` (today's defaults: bundled Speech Commands clips, similar-sounding
   words spoken by the voices, bundled noise).
3. **Streams** (``speechrnn stream-eval``: words at random times over noise at 10 dB SNR, the live
   recognizer with its default settings) of the word said by voices that training never used
   (neither the voice nor its espeak-ng variant) and of non-target words, 3 of 4 words:

   * ``real words``: every Speech Commands word (digits and commands included) by the speakers of
     speech_commands_v2_testset_half/testing_list.txt, none of whom is in the bundled clips or
     trained the commands model (``--split validation``: its validation speakers, not in the
     bundled clips either, and other renderings of the held-out voices, to choose settings on).
     The bundled clips hold these words too, said by other speakers;
   * ``similar words``: words that rhyme with or start like the word (those rendered for training
     and as many never rendered) and the walk-through's music, house, hello, by held-out voices.

   Noise: the digits recipe's held-out recordings (dude_miaowing, exercise_bike), never bundled.

``--real-voices``: real people instead of synthetic ones, for a word that ``REAL_VOICES_SOURCE`` holds
(``happy``, ``bed`` or ``cat``: about 1,070 speakers each). The takes are every clip of the word by
one real speaker (``--take-speaker N``: the one with the N-th most clips; ``--take-speakers K``: K
speakers from there on, a household recording together), the streams' word is said by every other
real speaker of it. Every one of them is a test speaker of the network the word starts from (its
recorded recipe's split; that network heard none of their voices; with ``--split validation`` a
validation speaker, to choose settings on: start from a network that did not train them, not a
final build) and none is in the bundled clips. A word of the bundled clips is left out of them, so
the run learns it as a new word from the takes and the synthetic voices alone (``--bundled-word``
keeps those real clips as examples of the word, as the Train panel does for such a word). Caveat:
the network it starts from heard other speakers say the word, as one of its other words.

Reports hits (% of the word's occurrences detected) and false accepts per 100 non-target words
(every detection that is not a hit, per non-target word in the stream) and per hour.
Target (issue 12): >= 90 % hits, <= 1 false accept per 100 non-target words.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from speechrnn.recipes import SPEECH_COMMANDS_V1_DIR as REAL_VOICES_SOURCE  # many speakers of few words
from speechrnn.stream_eval import DISTRACTOR_DRAWS, DRAW_BY_WORD

if TYPE_CHECKING:
    from speechrnn.data.spec import DataSpec

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = Path("~/.cache/speechrnn/bench/custom_word")
DEFAULT_WORD = "lights"
WALKTHROUGH_WORDS = ("nights", "music", "house", "hello")  # the other words
TAKES = 8
TAKE_VOICES = 2
TAKES_SEED = 7  # rate/pitch draws of the takes (any seed other than the voices' 0)
HELD_OUT_SEED = 11  # rate/pitch draws of the held-out renderings
VALIDATION_SEED = 13  # ... and of the validation streams' (--split validation: for choosing settings)
TARGET_VOICES = 60  # held-out voices saying the word
# voices that may train (the panel's default was 120 from stop 28 to 37): the streams' voices come after them
TRAINABLE_VOICES = 120
SIMILAR_VOICES = 4  # held-out voices saying each similar word
EXTRA_SIMILAR = 12  # similar words never rendered for training
NOISES = ("dude_miaowing.wav", "exercise_bike.wav")  # held out of the bundled noise
NOISE_SOURCE = "speech_commands_background_noise"
REAL_SOURCE = "speech_commands_v2_testset_half"
SPLITS = ("testing", "validation")  # the real speakers of the streams: REAL_SOURCE's <split>_list.txt
STREAM_MINUTES = 20.0
DISTRACTOR_FRACTION = 0.75
SNR_DB = 10.0
PER_100 = 100.0
TARGET_HIT_RATE = 0.90
TARGET_FA_PER_100 = 1.0


@dataclass(frozen=True)
class Sizes:
    """What --quick shrinks (a check that the pipeline runs, not a measurement)."""

    takes: int = TAKES
    synth_per_word: int | None = None  # None: the Train panel's default
    epochs: int | None = None  # None: the Train panel's default
    hidden: int | None = None
    target_voices: int = TARGET_VOICES
    similar_voices: int = SIMILAR_VOICES
    extra_similar: int = EXTRA_SIMILAR
    real_clips: int | None = None  # None: every held-out real clip
    minutes: float = STREAM_MINUTES
    confusables_per_word: int | None = None
    clips_per_confusable: int | None = None
    negatives: tuple[tuple[str, object], ...] = ()  # NegativesConfig fields to change (--set)
    augment: tuple[tuple[str, object], ...] = ()  # AugmentConfig fields to change (--augment)
    train: tuple[tuple[str, object], ...] = ()  # TrainConfig fields to change (--train)
    network: tuple[tuple[str, object], ...] = ()  # ModelConfig fields of a new network (--network)
    features: tuple[tuple[str, object], ...] = ()  # FeatureConfig fields of a new network (--features)
    detector: tuple[tuple[str, object], ...] = ()  # DetectorConfig fields to change (--detector)
    train_seed: int | None = None  # None: TrainConfig's
    threshold: float | None = None  # the recognizer's detection threshold (None: its default)
    rescore: tuple[float, ...] = ()  # higher thresholds, scored on the detections' peak scores (--rescore)
    lr: float | None = None  # None: the Train panel's default
    start_from: str | None = None  # the network the word starts from (None: the panel's; "": a new one)
    split: str = "testing"  # whose speech the streams hold (SPLITS); choose settings on "validation"
    draw: str = DRAW_BY_WORD  # how the streams draw other words (StreamConfig.distractor_draw)
    real_voices: bool = False  # takes and the streams' word by real speakers (REAL_VOICES_SOURCE)
    take_speaker: int = 0  # --real-voices: the speaker with this rank (most clips first) gives the takes ...
    take_speakers: int = 1  # ... with the next ones, this many in all
    bundled_word: bool = False  # keep the bundled clips of the word (as examples of it) instead of leaving them out
    take_copies: tuple[float, ...] = ()  # voice-scaled copies of the training takes (docs/custom-words.md: not adopted)


QUICK = Sizes(takes=3, synth_per_word=4, epochs=2, hidden=16, target_voices=4, similar_voices=1, extra_similar=2,
              real_clips=20, minutes=1.0, confusables_per_word=3, clips_per_confusable=1)


def variant_key(voice) -> str:
    """What two voices must not share to count as different: espeak-ng's variant, or flite's voice."""
    return voice.name.split("+", 1)[1] if "+" in voice.name else voice.voice_id


def _render(words: tuple[str, ...], voices: list, per_word: int | None, seed: int, out: Path) -> list[Path]:
    from speechrnn.events import run_to_end
    from speechrnn.synth import SynthConfig, synthesize

    if not words or not voices:
        return []
    return run_to_end(synthesize(SynthConfig(words=words, per_word=per_word, seed=seed), out, voices=voices)).files


def record_takes(word: str, voices: list, takes: int, folder: Path) -> Path:
    """``folder/<word>/take_nohash_<n>.wav``: one "speaker" (the user), split by take."""
    from speechrnn.synth import label_folder

    scratch = folder.parent / "takes-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    files = sorted(_render((word,), voices, takes, TAKES_SEED, scratch))
    target = folder / label_folder(word)
    target.mkdir(parents=True)
    for index, path in enumerate(files):
        path.rename(target / f"take_nohash_{index}.wav")
    shutil.rmtree(scratch)
    return folder


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(target.resolve())


def real_voices(data_root: Path, label: str, start_from: str, take_rank: int,
                take_speakers: int = 1, split: str = "testing") -> tuple[list[Path], list[Path]]:
    """--real-voices: (the takes: every clip of ``label`` by ``take_speakers`` real speakers, from the
    one with the ``take_rank``-th most clips on; the streams' clips of ``label`` by every other one).
    All are ``split`` speakers of ``start_from``'s recorded recipe (test speakers, or validation ones
    to choose settings on: voices its network never heard), none is a speaker of the bundled clips."""
    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.data.layout import scan_folder
    from speechrnn.negatives import bundled_negatives_dir
    from speechrnn.recipes import Recipe, speaker_splits

    if not start_from:
        raise SystemExit("--real-voices: needs a network it starts from (its recipe's split gives the voices)")
    recorded = (load_checkpoint(resolve_model(start_from)).data or {}).get("recipe")
    if not recorded:
        raise SystemExit(f"--real-voices: {start_from} records no recipe: which speakers it heard is unknown")
    splits = speaker_splits(Recipe.from_dict(recorded, data_root=str(data_root), work_dir=str(data_root)))
    bundled = {clip.speaker for clip in scan_folder(bundled_negatives_dir())}
    clips = scan_folder(data_root / REAL_VOICES_SOURCE)
    by_speaker: dict[str, list[Path]] = {}
    for clip in clips:
        if clip.label == label and splits.get(clip.speaker) == split and clip.speaker not in bundled:
            by_speaker.setdefault(clip.speaker, []).append(clip.path)
    ranked = sorted(by_speaker, key=lambda speaker: (-len(by_speaker[speaker]), speaker))
    takers = set(ranked[take_rank : take_rank + take_speakers])
    if not takers:
        words = sorted({clip.label for clip in clips})
        raise SystemExit(f"--real-voices: {data_root / REAL_VOICES_SOURCE} has {len(ranked)} {split} speakers of "
                         f"{label!r}, none at rank {take_rank} (its words: {', '.join(words)})")
    return ([path for speaker in ranked if speaker in takers for path in by_speaker[speaker]],
            [path for speaker in ranked if speaker not in takers for path in by_speaker[speaker]])


def starting_network(sizes: Sizes) -> str:
    """The network the word starts from: --start-from, else the Train panel's ("" for a new one)."""
    from gui.panels.train import DEFAULT_START_FROM

    return DEFAULT_START_FROM if sizes.start_from is None else sizes.start_from


def negatives_without(label: str, out: Path) -> Path | None:
    """A folder of links to the bundled clips of every word but ``label``; None if none is ``label``."""
    from speechrnn.negatives import bundled_negatives_dir

    bundled = bundled_negatives_dir()
    if not (bundled / label).is_dir():
        return None
    shutil.rmtree(out, ignore_errors=True)
    for path in bundled.iterdir():
        if path.is_dir() and path.name != label:
            for clip in path.iterdir():
                _link(clip, out / path.name / clip.name)
    return out


def real_words(data_root: Path, word: str, out: Path, limit: int | None, split: str = "testing") -> int:
    """Links to the held-out real clips (every word but ``word``) of ``split``'s speakers in ``out/<label>/``."""
    root = data_root / REAL_SOURCE
    listed = (root / f"{split}_list.txt").read_text(encoding="utf-8").splitlines()
    lines = [line.strip() for line in listed if line.strip()]
    lines = [line for line in lines if not line.startswith("_") and line.split("/")[0] != word]
    if limit is not None:
        lines = lines[:: max(1, len(lines) // limit)][:limit]
    for line in lines:
        _link(root / line, out / line)
    return len(lines)


def noise_folder(data_root: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in NOISES:
        _link(data_root / NOISE_SOURCE / name, out / name)
    return out


def training_voices(sizes: Sizes) -> int:
    """Synthetic voices saying the word in training: --voices, else the Train panel's default."""
    from speechrnn.custom_word import SYNTH_VOICES_PER_WORD

    return sizes.synth_per_word or SYNTH_VOICES_PER_WORD


def heard_the_validation_speakers(model: str | Path) -> bool:
    """Whether ``model``'s network trained on REAL_SOURCE's validation speakers: a recipe's final build
    (``validation_speakers_train``, as the bundled models are), or a model that started from one
    (its recorded ``started_from``). Streams of those speakers (``--split validation``) no longer
    hold voices it never heard."""
    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import load_checkpoint

    data = load_checkpoint(resolve_model(model)).data or {}
    if (data.get("recipe") or {}).get("validation_speakers_train"):
        return True
    base = (data.get("started_from") or {}).get("path")
    return bool(base) and Path(base).is_file() and heard_the_validation_speakers(base)


def train_like_the_panel(word: str, recordings: Path, negatives: bool, sizes: Sizes, out: Path, cache: Path):
    """Train as the Train panel's defaults do (its own TrainRequest); returns the best checkpoint."""
    from gui.panels.train import training_threads
    from speechrnn.custom_word import DETECTION_THRESHOLD, SynthPlan, TrainRequest, class_share_pct, small_data_epochs
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.data.spec import DataSpec
    from speechrnn.events import Finished, run_to_end
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, new_network_front_end
    from speechrnn.negatives import bundled_noise_dir
    from speechrnn.synth import label_folder
    from speechrnn.training import TrainConfig, train
    from speechrnn.training.base_network import base_network

    synth_dir = out / "synth"
    shutil.rmtree(synth_dir, ignore_errors=True)
    share = class_share_pct(1)
    negatives_config = negatives_settings(sizes) if negatives else None
    others = None if sizes.bundled_word or not negatives else negatives_without(label_folder(word), out / "negatives")
    if others is not None:  # the bundled clips of every other word, as a folder of the run's own
        negatives_config = replace(negatives_config, bundled=False)
    sources = (str(recordings), str(synth_dir)) + ((str(others),) if others else ())
    data = DataSpec(sources=sources, words=(label_folder(word),), include_unknown=True,
                    include_silence=True, silence_pct=share, unknown_pct=share, data_dir=str(cache.parent),
                    noise_dirs=(str(bundled_noise_dir()),) if negatives else ())  # the panel's Noise default
    if sizes.take_copies:
        copies = scaled_takes(recordings, sizes.take_copies, out / "scaled-takes", data)
        data = replace(data, sources=(*data.sources, str(copies)))
    start_from = starting_network(sizes)
    features = FeatureConfig(**(dict(sizes.features) if not start_from else {}))
    new_network = {} if start_from else {  # the panel's new network (its Front-end box on), then --network
        "spectral_conv_channels": new_network_front_end(features),
        **({"hidden": sizes.hidden} if sizes.hidden else {}), **dict(sizes.network)}
    model = ModelConfig(num_classes=2, input_dim=features.feature_dim, spectral_bands=features.n_mels, **new_network)
    config = TrainConfig(epochs=sizes.epochs or small_data_epochs(bool(start_from)), threads=training_threads(),
                         **({"lr": sizes.lr} if sizes.lr else {}),
                         **({"seed": sizes.train_seed} if sizes.train_seed is not None else {}))
    if start_from:  # as the panel's "Start from" does
        base = base_network(start_from)
        features, model, config = base.features, base.model_for(model), replace(config, init_from=str(base.path))
    config = replace(config, **dict(sizes.train))  # --train wins over --lr / --train-seed (frozen_layers: after init_from)
    if negatives:
        if start_from:  # the threshold the panel records in such a model
            config = replace(config, detection_threshold=DETECTION_THRESHOLD)
    request = TrainRequest(
        data, model, replace(AugmentConfig(), **dict(sizes.augment)), config, out / "run", features,
        synth=SynthPlan.for_words((label_folder(word),), training_voices(sizes), synth_dir, unknown=True),
        recordings=recordings, negatives=negatives_config)
    run_to_end(request.synth_events(None))
    spec = [e.result for e in request.data_events(None) if isinstance(e, Finished)][-1]
    result = run_to_end(train(spec, request.features, request.model, request.augment, request.train, request.out_dir,
                              force=True, cache_dir=cache))
    return result.best_path, spec, request.train.objective, start_from or "new"


def scaled_takes(recordings: Path, scales: tuple[float, ...], out: Path, data: DataSpec) -> Path:
    """--take-copies: voice-scaled copies of the takes that train (the split that the run's DataSpec
    ``data`` gives them) in ``out``, a training-only folder."""
    from speechrnn.data.layout import scan_folder, split_clips
    from speechrnn.data.voice_scale import write_copies
    from speechrnn.events import run_to_end
    from speechrnn.features import FeatureConfig
    from speechrnn.recipes import train_only

    shutil.rmtree(out, ignore_errors=True)
    clips = scan_folder(recordings)
    splits = split_clips(clips, recordings, data.validation_pct, data.testing_pct)
    training = [clip for clip, split in zip(clips, splits) if split == "train"]
    run_to_end(write_copies(training, scales, out, FeatureConfig().sample_rate_hz, "take copies"))
    train_only(out)
    return out


def negatives_settings(sizes: Sizes):
    """The Train panel's NegativesConfig (its Noise field brings the noise), with --quick/--set changes."""
    from speechrnn.negatives import NegativesConfig

    config = replace(NegativesConfig(noise=False), **dict(sizes.negatives))
    if sizes.confusables_per_word is not None:
        config = replace(config, confusables_per_word=sizes.confusables_per_word)
    if sizes.clips_per_confusable is not None:
        config = replace(config, clips_per_confusable=sizes.clips_per_confusable)
    return config


def stream(model: Path, folder: Path, noise: Path, minutes: float, seed: int, threshold: float | None = None,
           rescore: tuple[float, ...] = (), draw: str = DRAW_BY_WORD,
           detector_changes: tuple[tuple[str, object], ...] = ()) -> dict:
    from types import SimpleNamespace

    from speechrnn.events import run_to_end
    from speechrnn.recognizer import DetectorConfig
    from speechrnn.stream_eval import StreamConfig, score_detections, stream_eval

    config = StreamConfig(minutes=minutes, snr_db=SNR_DB, seed=seed, distractor_fraction=DISTRACTOR_FRACTION,
                          distractor_draw=draw)
    detector = replace(DetectorConfig() if threshold is None else DetectorConfig(threshold=threshold),
                       **dict(detector_changes))
    result = run_to_end(stream_eval(model, folder, noise, config, detector))
    fired_on: dict[str, int] = {}
    fired_clips: dict[str, int] = {}  # a word with few clips is played many times: one clip can fire often
    for placed in result.words:
        if placed.target:
            continue
        if any(placed.start_s <= d["time_s"] <= placed.end_s + config.tolerance_s for d in result.detections):
            fired_on[placed.label] = fired_on.get(placed.label, 0) + 1
            fired_clips[placed.path] = fired_clips.get(placed.path, 0) + 1
    return {
        **_scored(result), "targets": result.targets, "non_target_words": result.distractors,
        "false_accepts_per_hour": result.false_accepts_per_hour,
        "fired_on": dict(sorted(fired_on.items(), key=lambda kv: -kv[1])),
        "fired_clips": dict(sorted(fired_clips.items(), key=lambda kv: -kv[1])),
        "non_target_clips": len({placed.path for placed in result.words if not placed.target}),  # distinct
        "minutes": result.hours * 60,
        # a higher threshold, estimated from this run: a word is reported at the peak of its score, so
        # the detections whose peak reaches it (its shorter stretches above it may split a few)
        "rescored": {str(higher): _scored(score_detections(
            result.words, [SimpleNamespace(**d) for d in result.detections if d["score"] >= higher],
            config.tolerance_s, result.hours)) for higher in rescore},
    }


def _scored(result) -> dict:
    """Hits and false accepts of a scored stream (every detection that is not a hit counts)."""
    return {"hit_rate": result.hit_rate, "hits": result.hits, "false_accepts": result.false_accepts,
            "false_accepts_per_100_non_target_words": (PER_100 * result.false_accepts / result.distractors
                                                       if result.distractors else None)}


def run(data_root: Path, word: str, work: Path, sizes: Sizes, seed: int = 0,
        trainings: tuple[bool, ...] = (False, True), given_model: Path | None = None) -> dict:
    from speechrnn.confusables import Lexicon, confusables
    from speechrnn.negatives import confusable_words
    from speechrnn.synth import SynthConfig, label_folder, list_voices, plan, voice_order

    work.mkdir(parents=True, exist_ok=True)
    cache = work / "data" / "cache"
    voices = list_voices()
    ordered = voice_order(voices, 0)  # the order the panel's synthesizer (seed 0) takes voices in
    # The first voices of the panel's order may train (TRAINABLE_VOICES, or --voices if more): only
    # later voices of other espeak-ng variants speak the streams, so every --voices up to that is
    # scored on the same voices, whatever the panel's default.
    held_out_after = max(TRAINABLE_VOICES, training_voices(sizes))
    trained_voices = [v for v, _ in plan(SynthConfig(words=(word,), per_word=held_out_after), voices)]
    rest = [v for v in ordered if v not in trained_voices]
    take_voices = [next(v for v in rest if v.engine == engine) for engine in sorted({v.engine for v in rest})]
    take_voices = take_voices[:TAKE_VOICES]
    used = {variant_key(v) for v in trained_voices + take_voices}
    held_out = [v for v in rest if variant_key(v) not in used]
    if len(held_out) < sizes.target_voices:
        raise SystemExit(f"only {len(held_out)} held-out voices (need {sizes.target_voices})")

    label = label_folder(word)
    if sizes.real_voices:
        from speechrnn.data.layout import speaker_of

        takes, voiced = real_voices(data_root, label, starting_network(sizes), sizes.take_speaker,
                                    sizes.take_speakers, sizes.split)
        recordings = work / "recordings"
        shutil.rmtree(recordings, ignore_errors=True)
        for path in takes:
            _link(path, recordings / label / path.name)
    else:
        recordings = record_takes(word, take_voices, sizes.takes, work / "recordings")
    trained_similar = confusable_words((label,), negatives_settings(sizes))
    lexicon = Lexicon.load()
    more = [w for w in confusables(word, lexicon, len(trained_similar) + sizes.extra_similar)
            if w not in trained_similar][: sizes.extra_similar]
    similar = tuple(dict.fromkeys(list(trained_similar) + more + [w for w in WALKTHROUGH_WORDS if w != word]))

    eval_dir = work / "eval"
    shutil.rmtree(eval_dir, ignore_errors=True)
    real_dir, similar_dir = eval_dir / "real", eval_dir / "similar"
    render_seed = HELD_OUT_SEED if sizes.split == "testing" else VALIDATION_SEED
    for folder in (real_dir, similar_dir):
        if sizes.real_voices:
            for path in voiced:
                _link(path, folder / label / path.name)
        else:
            _render((word,), held_out[: sizes.target_voices], None, render_seed, folder)
    held_out_similar = held_out[sizes.target_voices : sizes.target_voices + sizes.similar_voices * len(similar)]
    if len(held_out_similar) < sizes.similar_voices:
        held_out_similar = held_out[: sizes.similar_voices]
    _render(similar, held_out_similar, sizes.similar_voices, render_seed, similar_dir)
    real_count = real_words(data_root, label, real_dir, sizes.real_clips, sizes.split)
    noise = noise_folder(data_root, work / "noise")

    results = {"word": word, "takes": len(takes) if sizes.real_voices else sizes.takes,
               "take_voices": sorted({speaker_of(p) for p in takes}) if sizes.real_voices else
               [v.voice_id for v in take_voices],
               "real_voices": sizes.real_voices, "split": sizes.split,
               "target_clips": len(voiced) if sizes.real_voices else None,
               "held_out_voices": len(held_out), "similar_words": list(similar),
               "similar_words_trained": list(trained_similar), "real_clips": real_count, "runs": []}
    for negatives in trainings:
        name = "with other words" if negatives else "without other words"
        if given_model is not None:
            model, name, row = given_model, f"{given_model}", {"training": str(given_model)}
        else:
            model, spec, objective, start = train_like_the_panel(word, recordings, negatives, sizes,
                                                                 work / name.replace(" ", "-"), cache)
            row = {"training": name, "objective": objective, "start_from": start, "sources": list(spec.sources),
                   "noise_dirs": list(spec.noise_dirs), "unknown_pct": spec.unknown_pct, "model": str(model)}
        for test, folder in (("real words", real_dir), ("similar words", similar_dir)):
            row[test] = stream(model, folder, noise, sizes.minutes, seed, sizes.threshold, sizes.rescore, sizes.draw,
                               sizes.detector)
        results["runs"].append(row)
    return results


def _interval(count: int, total: int) -> str:
    """The 95 % interval (Wilson) of ``count`` of ``total``, in per cent: what so few words can tell."""
    from speechrnn.evaluate import wilson_interval

    low, high = wilson_interval(min(count, total) / total, total) if total else (0.0, 1.0)
    return f"{100 * low:.1f}–{100 * high:.1f}"


def table(results: dict) -> str:
    split = {"testing": "test", "validation": "validation"}[results.get("split", "testing")]
    voices = (f"{results['target_clips']} clips of it by other real speakers ({split} speakers of its network)"
              if results.get("real_voices") else "held-out voices")
    takers = f" by {', '.join(results['take_voices'])}" if results.get("take_voices") else ""
    lines = [f"word {results['word']!r}: {results['takes']} takes{takers}; {voices}; "
             f"{results['real_clips']} real held-out clips; similar: {', '.join(results['similar_words'])}",
             "(95 %: the Wilson interval of a rate; a word played many times is counted each time, so the "
             "intervals are too narrow where few clips repeat)",
             "",
             "| training | stream | hits | false accepts / 100 non-target words | per hour | fired on | clips that fired |",
             "|---|---|---|---|---|---|---|"]
    for row in results["runs"]:
        for test in ("real words", "similar words"):
            r = row[test]
            per_100 = r["false_accepts_per_100_non_target_words"]
            fired = ", ".join(f"{k} {v}" for k, v in list(r["fired_on"].items())[:6])
            clips = r["fired_clips"]
            top = f" (most: {max(clips.values())}×)" if clips else ""
            how = f"{row['objective']} objective, from {row['start_from']} network" if "objective" in row else "given"
            lines.append(f"| {row['training']} ({how}) | {test} | {100 * r['hit_rate']:.1f} % ({r['hits']}/{r['targets']}; "
                         f"95 %: {_interval(r['hits'], r['targets'])}) "
                         f"| {per_100:.1f} ({r['false_accepts']}/{r['non_target_words']}; "
                         f"95 %: {_interval(r['false_accepts'], r['non_target_words'])}) "
                         f"| {r['false_accepts_per_hour']:.0f} | {fired} | {len(clips)} of {r['non_target_clips']}{top} |")
            for higher, at in r.get("rescored", {}).items():
                lines.append(f"| ... rescored at threshold {higher} | {test} | {100 * at['hit_rate']:.1f} % ({at['hits']}) "
                             f"| {at['false_accepts_per_100_non_target_words']:.1f} ({at['false_accepts']}) | | | |")
    return "\n".join(lines)


def field_changes(items: list[str]) -> tuple[tuple[str, object], ...]:
    """``["name=value", ...]`` (--set, --augment, --train, --detector) -> ``(("name", value), ...)``.

    Values are Python literals."""
    return tuple((name, ast.literal_eval(value)) for name, _, value in (item.partition("=") for item in items))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.custom_word", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="folder with speech_commands_v2_testset_half/ and "
                                                           "speech_commands_background_noise/")
    parser.add_argument("--word", default=DEFAULT_WORD, help=f"the custom word (default {DEFAULT_WORD})")
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK), help=f"scratch folder (default {DEFAULT_WORK})")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs, measures nothing")
    parser.add_argument("--seed", type=int, default=0, help="stream seed (default 0)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change a NegativesConfig field for an experiment (e.g. --set unknown_pct=600)")
    parser.add_argument("--augment", action="append", default=[], metavar="NAME=VALUE",
                        help="change an AugmentConfig field for an experiment (e.g. --augment speed=True)")
    parser.add_argument("--train", action="append", default=[], metavar="NAME=VALUE",
                        help="change a TrainConfig field for an experiment (e.g. --train stream_target_lead_ms=0.0)")
    parser.add_argument("--network", action="append", default=[], metavar="NAME=VALUE",
                        help="a ModelConfig field of a new network (--start-from new; e.g. --network "
                             "spectral_conv_channels=0, the Train panel's Front-end box unticked)")
    parser.add_argument("--features", action="append", default=[], metavar="NAME=VALUE",
                        help="a FeatureConfig field of a new network (--start-from new; e.g. --features n_mfcc=13)")
    parser.add_argument("--detector", action="append", default=[], metavar="NAME=VALUE",
                        help="change a DetectorConfig field of the streams (e.g. --detector smoothing_ms=200.0)")
    parser.add_argument("--train-seed", type=int, default=None, help="training seed (default: TrainConfig's)")
    parser.add_argument("--only", choices=("with", "without"), default=None, help="train only one of the two")
    parser.add_argument("--minutes", type=float, default=None, help=f"stream length (default {STREAM_MINUTES})")
    parser.add_argument("--model", default=None, help="score this checkpoint instead of training (with --only)")
    parser.add_argument("--start-from", default=None,
                        help="the network the word starts from: a bundled model or checkpoint, or 'new' "
                             "(default: the Train panel's, the commands model)")
    parser.add_argument("--split", choices=SPLITS, default="testing",
                        help="the streams' speakers: the held-out test speakers (default), or the validation "
                             "speakers and other renderings of the voices, to choose settings on")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the Train panel's)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the Train panel's)")
    parser.add_argument("--voices", type=int, default=None,
                        help="synthetic voices saying the word in training (default: the Train panel's)")
    parser.add_argument("--threshold", type=float, default=None, help="detection threshold (default: the recognizer's)")
    parser.add_argument("--rescore", default="", metavar="T,T,...",
                        help="also score these higher thresholds from the same run (the detections' peak scores)")
    parser.add_argument("--draw", choices=DISTRACTOR_DRAWS, default=DRAW_BY_WORD,
                        help="how the streams draw other words: a word, then one of its clips (default; a scarce "
                             "word's few clips repeat), or any clip (more distinct utterances)")
    parser.add_argument("--real-voices", action="store_true",
                        help=f"takes and the streams' word by real speakers ({REAL_VOICES_SOURCE}: --word happy, "
                             "bed or cat), every one a test speaker of the network it starts from")
    parser.add_argument("--take-speaker", type=int, default=0,
                        help="--real-voices: the takes' speaker, by rank (0: the one with the most clips)")
    parser.add_argument("--take-speakers", type=int, default=1,
                        help="--real-voices: takes by this many speakers (from --take-speaker's rank on)")
    parser.add_argument("--bundled-word", action="store_true",
                        help="keep the bundled clips of the word as examples of it (default: left out, as for "
                             "a new word)")
    parser.add_argument("--take-copies", default="", metavar="S,S,...",
                        help="also train on voice-scaled copies of the training takes at these scales "
                             "(e.g. 0.85,0.9,1.1,1.15; measured, not the panel's: docs/custom-words.md)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    sizes = replace(sizes, negatives=field_changes(args.set), augment=field_changes(args.augment),
                    train=field_changes(args.train), network=field_changes(args.network), features=field_changes(args.features),
                    detector=field_changes(args.detector), train_seed=args.train_seed,
                    threshold=args.threshold, lr=args.lr, split=args.split, draw=args.draw,
                    real_voices=args.real_voices, take_speaker=args.take_speaker, take_speakers=args.take_speakers,
                    bundled_word=args.bundled_word,
                    take_copies=tuple(float(scale) for scale in args.take_copies.split(",") if scale.strip()),
                    rescore=tuple(float(t) for t in args.rescore.split(",") if t.strip()),
                    start_from=None if args.start_from is None else ("" if args.start_from == "new" else args.start_from),
                    **({"epochs": args.epochs} if args.epochs else {}),
                    **({"synth_per_word": args.voices} if args.voices else {}),
                    **({"minutes": args.minutes} if args.minutes else {}))
    trainings = {"with": (True,), "without": (False,), None: (False, True)}[args.only]
    if args.model and not args.only:
        parser.error("--model scores one model: add --only with (or --only without)")
    if args.split == "validation":
        scored = args.model or starting_network(sizes)
        if scored and heard_the_validation_speakers(scored):
            parser.error(f"--split validation: {scored} trained on the validation speakers (a final build, or "
                         "started from one); their streams are no longer unseen voices: use --split testing")
    results = run(Path(args.data_root), args.word, Path(args.work_dir).expanduser(), sizes, args.seed, trainings,
                  Path(args.model) if args.model else None)
    results["negatives_settings"] = {k: v for k, v in vars(negatives_settings(sizes)).items()}
    results["augment_changes"], results["train_seed"] = dict(sizes.augment), sizes.train_seed
    results["train_changes"], results["detector_changes"] = dict(sizes.train), dict(sizes.detector)
    results["training_voices"] = training_voices(sizes)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
