"""Against a peer: openWakeWord 0.4.0 and our model hear the same streams, none of which holds a
wake phrase or a digit, so every detection of either is a false accept.

For each held-out noise (the recipe's test noise recordings, plus babble and a mains hum made
from held-out speakers' words) two streams of ``MINUTES`` at ``SNR_DB``, seeded:

* the noise alone;
* the same noise with unseen speakers (the test split of the model's recipe) saying non-target
  words every 1-3 s: Speech Commands words that are neither digits, nor the model's words, nor
  part of an openWakeWord phrase.

Reported per stream: false accepts per hour of each, and the CPU time (this process, one thread)
per 10 ms of audio. openWakeWord runs every wake-word model its wheel bundles, at its documented
default threshold, counted once per activation; ours is ``--model`` (default
``assets/default_model.pt``) with the default :class:`~speechrnn.recognizer.DetectorConfig`.
openWakeWord is an optional bench dependency (``pip install -e '.[bench]'``); without it, or
without the shared data, the section is skipped with the reason.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench.context import TEST_DATA, BenchContext, Skipped
from bench.heldout import held_out, model_recipe

PEER_PACKAGE = "openwakeword"
PEER_VERSION = "0.4.0"  # the release issue 11 measured; its wheel carries its models as ONNX (no download)
PEER_SAMPLE_RATE_HZ = 16000  # openWakeWord's models take 16 kHz, 16-bit PCM
PEER_FRAME_SAMPLES = 1280  # openWakeWord scores one 80 ms frame per 1280 samples; both get these pushes
PEER_THRESHOLD = 0.5  # openWakeWord's documented default threshold for its bundled models
# A frame over the threshold counts only if no frame of the same score was over it in the
# previous second (the window of openWakeWord >= 0.5's ``debounce_time``, there applied to the
# already-debounced scores; here to the raw ones, so an activation however long counts once).
DEBOUNCE_S = 1.0
PEER_VERSION_MARK = "_v"  # bundled model files are named <name>_v<model version>.onnx
PEER_FRONT_END = ("melspectrogram", "embedding_model", "silero_vad")  # bundled .onnx files that are no wake word
PCM_FULL_SCALE = 32767  # float [-1, 1] -> int16 PCM
MINUTES = 10.0  # per stream
QUICK_MINUTES = 0.2
SNR_DB = 10.0
GAP_S = (1.0, 3.0)  # noise between one non-target word and the next
QUICK_WORD_SOURCE = TEST_DATA / "speech_commands"
# The stream picks a word, then one of its clips: a word with few clips would replay the same recordings.
MIN_CLIPS_PER_WORD = 20
PEER_PHRASE_WORDS = ("marvin",)  # Speech Commands words inside an openWakeWord phrase ("hey marvin")
MS_PER_FRAME = 10.0  # the unit of the CPU column: microseconds per 10 ms of audio
SECONDS_PER_HOUR = 3600.0


def _peer_models() -> tuple[str, list[Path]]:
    """openWakeWord's version and the wake-word models inside its wheel; Skipped when it is missing."""
    try:
        from importlib.metadata import version

        import openwakeword
    except ImportError:
        raise Skipped(f"{PEER_PACKAGE} is not installed (optional: pip install -e '.[bench]')") from None
    installed = version(PEER_PACKAGE)
    if installed != PEER_VERSION:
        raise Skipped(f"{PEER_PACKAGE} {installed} is installed; this section runs {PEER_VERSION} (its API and "
                      "the models its wheel carries): pip install -e '.[bench]'")
    folder = Path(openwakeword.__file__).parent / "resources" / "models"
    models = sorted(p for p in folder.glob("*.onnx") if p.stem not in PEER_FRONT_END)
    if not models:
        raise Skipped(f"{folder}: no bundled openWakeWord models")
    return installed, models


def _other_words(ctx: BenchContext, recipe_name: str, vocabulary: set[str]) -> list:
    """Clips of speakers the model never heard (the test split of the recipe that built it, in every
    Speech Commands folder) saying words that are neither digits, nor the model's words, nor in an
    openWakeWord phrase; words with at least ``MIN_CLIPS_PER_WORD`` clips (quick: tests/data's)."""
    from speechrnn.data.layout import scan_folder
    from speechrnn.data.spec import DIGIT_WORDS, SILENCE, UNKNOWN

    excluded = set(DIGIT_WORDS) | set(PEER_PHRASE_WORDS) | vocabulary | {SILENCE, UNKNOWN}
    if ctx.quick:
        return [c for c in scan_folder(QUICK_WORD_SOURCE) if c.label not in excluded]
    from speechrnn.data.speakers import folder_splits
    from speechrnn.recipes import RECIPES, SPEECH_COMMANDS_DIRS, source_views, speaker_splits

    recipe = RECIPES[recipe_name](data_root=str(ctx.require_data()),
                                  work_dir=str(ctx.work_dir / f"recipe-{recipe_name}"))  # as bench.heldout's
    views = source_views(recipe, speaker_splits(recipe))
    clips = [clip for view in views if view.name in SPEECH_COMMANDS_DIRS
             for clip, split in folder_splits(view, recipe.validation_pct, recipe.testing_pct)
             if split == "testing" and clip.label not in excluded]
    counts: dict[str, int] = {}
    for clip in clips:
        counts[clip.label] = counts.get(clip.label, 0) + 1
    return [c for c in clips if counts[c.label] >= MIN_CLIPS_PER_WORD]


def _activations(scores: np.ndarray, frame_s: float) -> int:
    """Frames over the threshold with none over it in the ``DEBOUNCE_S`` before (scores: frames)."""
    over = np.flatnonzero(scores >= PEER_THRESHOLD)
    window = max(1, math.ceil(DEBOUNCE_S / frame_s))
    return int(np.sum(np.diff(over, prepend=-window - 1) > window))


def _run_peer(models: list[Path], pcm: np.ndarray) -> dict:
    """openWakeWord over ``pcm`` (int16) in 80 ms pushes: false accepts (any model) and CPU time."""
    import openwakeword
    from openwakeword.model import Model

    with warnings.catch_warnings():  # its front end asks onnxruntime for CUDA first, then takes the CPU
        warnings.simplefilter("ignore", UserWarning)
        model = Model(wakeword_model_paths=[str(p) for p in models])  # onnxruntime, one thread, from the wheel
    for name in model.models:  # loaded by path, "timer_v0.1" misses the class names of "timer": its
        family = name.rsplit(PEER_VERSION_MARK, 1)[0]  # output 0 (no timer) would read as a wake word
        if family in openwakeword.model_class_mappings:
            model.class_mapping[name] = openwakeword.model_class_mappings[family]
    rows, cpu = [], 0.0
    for start in range(0, pcm.size - PEER_FRAME_SAMPLES + 1, PEER_FRAME_SAMPLES):
        frame = pcm[start : start + PEER_FRAME_SAMPLES]
        began = time.process_time()
        scores = model.predict(frame)
        cpu += time.process_time() - began
        rows.append(scores)
    names = sorted(rows[0]) if rows else []
    table = np.array([[row[name] for name in names] for row in rows], dtype=np.float32).reshape(len(rows), len(names))
    frame_s = PEER_FRAME_SAMPLES / PEER_SAMPLE_RATE_HZ
    per_model = {name: _activations(table[:, i], frame_s) for i, name in enumerate(names)}
    return {"false_accepts": _activations(table.max(axis=1, initial=0.0), frame_s), "cpu_s": cpu,
            "per_model": {k: v for k, v in per_model.items() if v}}


def _run_ours(recognizer, samples: np.ndarray) -> dict:
    """Our recognizer over ``samples`` in the same 80 ms pushes, on one torch thread."""
    import torch

    recognizer.reset()
    detections, cpu = [], 0.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, samples.size, PEER_FRAME_SAMPLES):
            began = time.process_time()
            detections += recognizer.push(samples[start : start + PEER_FRAME_SAMPLES])
            cpu += time.process_time() - began
        detections += recognizer.flush()  # the stream's end: what the last audio completes (not timed)
    finally:
        torch.set_num_threads(threads)
    labels: dict[str, int] = {}
    for detection in detections:
        labels[detection.label] = labels.get(detection.label, 0) + 1
    return {"false_accepts": len(detections), "cpu_s": cpu, "labels": labels}


def _summary(counts: dict, seconds: float) -> dict:
    frames = seconds * 1000.0 / MS_PER_FRAME
    return {**counts, "per_hour": counts["false_accepts"] / (seconds / SECONDS_PER_HOUR),
            "cpu_us_per_10ms": 1e6 * counts["cpu_s"] / frames}


def _noises(ctx: BenchContext, recipe_name: str, words: list, seconds: float) -> list[Path]:
    """The recipe's held-out noise recordings plus babble and hum made from the non-target words."""
    from speechrnn.data.background import write_room_noises
    from speechrnn.data.layout import audio_files_in

    recorded = audio_files_in(held_out(ctx, recipe_name).noise)
    made = write_room_noises([c.path for c in words], ctx.work_dir / "peer_noise", seconds, PEER_SAMPLE_RATE_HZ,
                             ctx.seed)
    return recorded + made


def run(ctx: BenchContext) -> dict:
    from speechrnn.errors import DataError
    from speechrnn.events import run_to_end
    from speechrnn.recognizer import Recognizer, is_background
    from speechrnn.stream_eval import StreamConfig, _NoiseLoop, _plan_stream, _render

    version, models = _peer_models()
    if not ctx.default_model.is_file():
        raise Skipped(f"{ctx.default_model} does not exist")
    recognizer = Recognizer.from_checkpoint(ctx.default_model)
    if recognizer.sample_rate_hz != PEER_SAMPLE_RATE_HZ:
        raise Skipped(f"{ctx.default_model} hears {recognizer.sample_rate_hz} Hz; openWakeWord needs "
                      f"{PEER_SAMPLE_RATE_HZ} Hz")
    recipe_name = model_recipe(ctx.default_model)
    try:
        words = _other_words(ctx, recipe_name, {label for label in recognizer.labels if not is_background(label)})
    except DataError as exc:  # a source folder missing under the data root
        raise Skipped(str(exc)) from None
    if not words:
        raise Skipped("no non-target words to speak in the streams")
    minutes = QUICK_MINUTES if ctx.quick else MINUTES
    config = StreamConfig(minutes=minutes, snr_db=SNR_DB, seed=ctx.seed, gap_min_s=GAP_S[0], gap_max_s=GAP_S[1],
                          distractor_fraction=0.0)
    vocabulary = {c.label for c in words}  # every word is "placed"; none is a wake phrase or a digit
    clip_samples = recognizer.feature_config.clip_samples
    streams = []
    for noise_path in _noises(ctx, recipe_name, words, minutes * 60):
        rng = np.random.default_rng(ctx.seed)
        noise = _NoiseLoop([noise_path], PEER_SAMPLE_RATE_HZ, rng)
        plan, noise_scale = run_to_end(_plan_stream(words, vocabulary, config, PEER_SAMPLE_RATE_HZ, clip_samples,
                                                    noise, rng, None))
        total = plan.total_samples
        for speech in (False, True):
            audio = _render(plan, noise, noise_scale, 0, total) if speech else noise.segment(0, total) * noise_scale
            audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
            pcm = np.round(audio * PCM_FULL_SCALE).astype(np.int16)
            seconds = total / PEER_SAMPLE_RATE_HZ
            streams.append({
                "noise": noise_path.stem, "words": len(plan.words) if speech else 0, "minutes": seconds / 60,
                "peer": _summary(_run_peer(models, pcm), seconds),
                "ours": _summary(_run_ours(recognizer, audio), seconds),
            })
            row = streams[-1]
            print(f"[bench] peer: {row['noise']}, {row['words']} words: false accepts/h openWakeWord "
                  f"{row['peer']['per_hour']:.0f}, ours {row['ours']['per_hour']:.0f}", file=sys.stderr, flush=True)
    return {
        "note": f"openWakeWord {version} (all {len(models)} wake-word models of its wheel: "
                f"{', '.join(p.stem for p in models)}; onnxruntime, threshold {PEER_THRESHOLD:g}, one count per "
                f"activation, {DEBOUNCE_S:g} s debounce) against ours ({ctx.default_model.name}, default detector "
                f"settings) on the same audio: {minutes:g} min per stream at {SNR_DB:g} dB SNR, seed {ctx.seed}, "
                f"{PEER_FRAME_SAMPLES}-sample pushes. Noise: the held-out recordings, and babble and hum made from "
                f"the speakers of the words. Words: Speech Commands words of the {recipe_name} recipe's test "
                f"speakers that are neither digits, nor the model's words, nor in an openWakeWord phrase, every "
                f"{GAP_S[0]:g}-{GAP_S[1]:g} s. No stream holds a wake phrase or a word of either: every detection "
                f"is a false accept. CPU: this process's CPU time, one thread, per 10 ms of audio.",
        "peer": {"package": PEER_PACKAGE, "version": version, "models": [p.stem for p in models],
                 "threshold": PEER_THRESHOLD, "debounce_s": DEBOUNCE_S},
        "model": str(ctx.default_model),
        "streams": streams,
    }
