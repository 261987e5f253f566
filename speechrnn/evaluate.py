"""Evaluation of a checkpoint on labelled clips, and top-k prediction for single files.

:func:`evaluate` is a generator of progress events (like training) ending with
``Finished(EvalResult)``: accuracy, per-class precision/recall/F1, the confusion matrix, accuracy
per source (``Clip.source``: which dataset a clip came from), the misclassified files and, when
asked, the same metrics with background noise mixed in at a given SNR (seeded, repeatable).

Any folder in the Speech Commands layout works. Without a task or words every label folder is a
class; the checkpoint's own label aliases (e.g. FSDD's ``0``..``9`` -> ``zero``..``nine``) apply,
folder labels the model does not know count as ``_unknown_`` when the model has that class and are
an error otherwise.

The metric helpers (:func:`clip_logits`, :func:`classification_metrics`, ...) are also what
training uses for its validation and test numbers, so both report the same quantities.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from speechrnn.errors import AudioError, DataError, SpeechRNNError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Progress, Stage

EVAL_BATCH_CLIPS = 512  # clips per forward pass when scoring (memory stays ~100 MB on CPU)
SILENCE_PATH = "(generated silence)"  # stands for the path of a generated _silence_ example
DEFAULT_TOP_K = 3
SPLIT_CHOICES = ("all", "testing", "validation", "train")
# DataSpec fields that decide which clips land in a split (taken from the training run for --split)
SPLIT_SETTINGS = ("validation_pct", "testing_pct", "silence_pct", "unknown_pct", "seed")


# ----------------------------------------------------------------------------------- devices
def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA, else Apple MPS, else CPU; an unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise SpeechRNNError(f"--device {name}: not a device name (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpeechRNNError(f"--device {name}: CUDA is not available on this machine (use --device auto or cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SpeechRNNError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SpeechRNNError(f"--device {name}: Apple MPS is not available on this machine")
    return device


# ------------------------------------------------------------------------------------ scoring
@torch.no_grad()
def frames_logits(model: torch.nn.Module, frames: torch.Tensor, device: torch.device,
                  batch: int = EVAL_BATCH_CLIPS) -> torch.Tensor:
    """(N, T, F) feature frames (any dtype, any device) -> (N, C) float32 logits on the CPU."""
    model.eval()
    out = [model(part.to(device=device, dtype=torch.float32))[0].float().cpu() for part in frames.split(batch)]
    return torch.cat(out) if out else torch.zeros(0, model.config.num_classes)


@torch.no_grad()
def clip_logits(model: torch.nn.Module, extractor: torch.nn.Module, waves: torch.Tensor, device: torch.device,
                batch: int = EVAL_BATCH_CLIPS, cancel: CancelToken | None = None) -> torch.Tensor:
    """(N, samples) waves (float16/32, CPU) -> (N, C) float32 logits on the CPU (stream-trained models:
    each clip followed by ``ModelConfig.tail_samples`` of silence, as the live recognizer's flush())."""
    model.eval()
    out = []
    tail = model.config.tail_samples(extractor.config.sample_rate_hz)
    for part in waves.split(batch):
        if cancel is not None:
            cancel.check()
        frames = extractor(torch.nn.functional.pad(part.to(device=device, dtype=torch.float32), (0, tail)))
        out.append(model(frames)[0].float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.config.num_classes)


def classification_metrics(targets: torch.Tensor, predicted: torch.Tensor, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, confusion matrix (rows: true, columns: predicted) and per-class P/R/F1/support."""
    classes = len(labels)
    t = targets.long().numpy()
    p = predicted.long().numpy()
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (t, p), 1)
    per_class = {}
    for i, label in enumerate(labels):
        true_positive = int(confusion[i, i])
        predicted_count = int(confusion[:, i].sum())
        support = int(confusion[i].sum())
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    count = int(t.size)
    accuracy = float((t == p).mean()) if count else 0.0
    # every class that has clips or was predicted (scikit-learn's "macro"): a class predicted for clips
    # of other classes counts with its F1 of 0, so macro F1 cannot read higher than what was heard
    seen = [per_class[label] for i, label in enumerate(labels) if confusion[i].sum() or confusion[:, i].sum()]
    macro_f1 = float(np.mean([m["f1"] for m in seen])) if seen else 0.0
    return {"accuracy": accuracy, "clips": count, "macro_f1": macro_f1,
            "per_class": per_class, "confusion": confusion.tolist()}


def accuracy_by_group(targets: torch.Tensor, predicted: torch.Tensor, groups: Sequence[str]) -> dict[str, dict]:
    """``{group: {"accuracy", "clips"}}`` for each distinct name in ``groups`` (e.g. sources)."""
    correct = (targets == predicted).numpy()
    names = np.array(list(groups), dtype=object)
    out = {}
    for name in sorted(set(groups)):
        rows = names == name
        out[name] = {"accuracy": float(correct[rows].mean()), "clips": int(rows.sum())}
    return out


def wilson_interval(accuracy: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """95 % confidence interval (Wilson score) of an accuracy measured on ``count`` clips."""
    if count == 0:
        return (0.0, 1.0)
    centre = (accuracy + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(accuracy * (1 - accuracy) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mix_noise(waves: torch.Tensor, noise: list[torch.Tensor], snr_db: float, seed: int,
              keep: torch.Tensor | None = None) -> torch.Tensor:
    """float32 copy of ``waves`` with a seeded random stretch of ``noise`` mixed in at ``snr_db``.

    Rows where ``keep`` is True (e.g. generated silence, which is noise already) stay as they are.
    """
    from speechrnn.data.augment import NoiseBank, mix_at_snr

    generator = torch.Generator().manual_seed(seed)
    stretches = NoiseBank(noise, waves.shape[1]).sample(waves.shape[0], generator, torch.device("cpu"))
    mixed = mix_at_snr(waves.float(), stretches, snr_db)
    if keep is not None and keep.any():
        mixed[keep] = waves[keep].float()
    return mixed


# ------------------------------------------------------------------------------------ results
@dataclass
class EvalResult:
    """Everything :func:`evaluate` measured. ``wrong``: (path, true label, predicted label, score)."""

    accuracy: float
    labels: list[str]
    per_class: dict[str, dict]
    confusion: list[list[int]]
    wrong: list[tuple[str, str, str, float]]
    per_source: dict[str, dict] = field(default_factory=dict)
    clips: int = 0
    macro_f1: float = 0.0
    noisy: dict[str, Any] | None = None  # same metrics with noise mixed in: snr_db, accuracy, ...
    checkpoint: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["wrong"] = [{"path": p, "true": t, "predicted": q, "score": s} for p, t, q, s in self.wrong]
        low, high = wilson_interval(self.accuracy, self.clips)
        out["accuracy_95ci"] = [low, high]
        return out


def score(model: torch.nn.Module, extractor: torch.nn.Module, clips, labels: list[str], device: torch.device,
          cancel: CancelToken | None = None) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    """Metrics of ``clips`` (a ClipSet) plus its predictions and their softmax scores."""
    logits = clip_logits(model, extractor, clips.waves, device, cancel=cancel)
    probabilities = logits.softmax(dim=1)
    top, predicted = probabilities.max(dim=1)
    metrics = classification_metrics(clips.targets, predicted, labels)
    metrics["per_source"] = accuracy_by_group(clips.targets, predicted, [s or "_silence_" for s in clips.sources])
    return metrics, predicted, top


# --------------------------------------------------------------------------------- the data
def _checkpoint_spec(checkpoint) -> dict:
    data = checkpoint.data or {}
    spec = data.get("spec") if isinstance(data, dict) else None
    return spec if isinstance(spec, dict) else {}


def eval_spec(data, checkpoint, task: str | None = None, words: Sequence[str] | None = None,
              split: str | None = None, data_dir: str | None = None, seed: int = 0):
    """``(DataSpec, split)`` to evaluate ``data`` (a DataSpec, a source or a list of sources) with.

    ``split`` ``"all"`` (the default for folders and the official test archive) puts every clip of
    every source into the scored split; ``testing`` / ``validation`` keep the sources' own splits
    (the default for ``speech-commands:v1`` / ``v2``, whose testing lists are the standard test set),
    made with the split settings the model was trained with, so ``testing`` is its held-out set.
    """
    from speechrnn.data.spec import DataSpec, is_speech_commands_source

    if isinstance(data, DataSpec):
        return data, split or "testing"
    sources = (str(data),) if isinstance(data, (str, Path)) else tuple(str(s) for s in data)
    if not sources:
        raise DataError("no data to evaluate: give a folder or a speech-commands:* source")
    if split is None:
        split = "testing" if all(is_speech_commands_source(s) and s != "speech-commands:v2-test"
                                 for s in sources) else "all"
    if split not in SPLIT_CHOICES:
        raise SpeechRNNError(f"split must be one of {', '.join(SPLIT_CHOICES)}, not {split!r}")
    from speechrnn.data.spec import DIGIT_ALIASES, SILENCE, UNKNOWN

    trained = _checkpoint_spec(checkpoint)
    # Label folder renames the model was trained with (FSDD's 0..9 for a digits model) still apply.
    aliases = (DIGIT_ALIASES if trained.get("task") == "digits" else ()) + tuple(
        tuple(pair) for pair in trained.get("label_aliases") or ())
    labels = set(checkpoint.labels)

    options = dict(
        sources=sources, task=task or None, words=tuple(words) if words else None,
        data_dir=data_dir, seed=seed, label_aliases=aliases,
        test_sources=sources if split == "all" else (),
    )
    if task or words:
        options.update(include_silence=SILENCE in labels, include_unknown=UNKNOWN in labels)
    else:
        options.update(include_silence=False, include_unknown=False)
    if split == "all":
        options.update(validation_pct=0.0, testing_pct=0.0)
    else:  # the model's own split of these sources: the split settings it was trained with
        options.update({k: trained[k] for k in SPLIT_SETTINGS if k in trained})
    return DataSpec(**options), split


def label_mapping(data_labels: Sequence[str], model_labels: Sequence[str], where: str) -> list[int]:
    """Model class index of each data label: same name, else ``_unknown_`` if the model has it."""
    from speechrnn.data.spec import UNKNOWN

    index = {label: i for i, label in enumerate(model_labels)}
    missing = [label for label in data_labels if label not in index]
    if missing and UNKNOWN not in index:
        raise DataError(f"{where}: label{'s' if len(missing) > 1 else ''} {', '.join(missing)} not known to the "
                        f"model (it knows {', '.join(model_labels)}); use --words to pick known words")
    return [index.get(label, index.get(UNKNOWN, -1)) for label in data_labels]


def _remap(clips, mapping: list[int]):
    from speechrnn.data.cache import ClipSet

    table = torch.tensor(mapping, dtype=torch.int64)
    return ClipSet(clips.waves, table[clips.targets], clips.clips, clips.fingerprint)


# ------------------------------------------------------------------------------------ evaluate
def evaluate(
    checkpoint_path: str | Path,
    data,
    task: str | None = None,
    words: Sequence[str] | None = None,
    split: str | None = None,
    feature_config=None,
    noise_dirs: Sequence[str] = (),
    snr_db: float | None = None,
    seed: int = 0,
    device: str = "auto",
    cache_dir: Path | None = None,
    data_dir: str | None = None,
    cancel: CancelToken | None = None,
) -> EventStream:
    """Score a checkpoint on labelled clips; ``Finished(EvalResult)``.

    ``data``: a folder, ``speech-commands:*`` source, a list of them, or a DataSpec.
    ``feature_config``: when given (e.g. from explicit command-line feature options) it must equal
    the checkpoint's, else :class:`CheckpointError`. ``noise_dirs`` + ``snr_db``: also score with
    noise from those folders mixed in at ``snr_db`` (seeded by ``seed``).
    """
    from speechrnn.checkpoint import load_checkpoint, require_feature_config
    from speechrnn.data.cache import prepare_data
    from speechrnn.data.layout import audio_files_in
    from speechrnn.features import FeatureExtractor

    cancel = cancel or CancelToken()
    checkpoint = load_checkpoint(checkpoint_path)
    if feature_config is not None:
        require_feature_config(checkpoint, feature_config, "the requested features")
    if snr_db is not None and not noise_dirs:
        raise SpeechRNNError("--snr-db needs --noise-dir (a folder of noise recordings to mix in)")
    spec, split = eval_spec(data, checkpoint, task, words, split, data_dir, seed)
    if split == "all":  # every clip is scored, the ones the model trained on too
        from speechrnn.data.layout import overlap_warning, training_overlap

        for source in spec.sources:
            overlap = training_overlap(checkpoint.data, source)
            if overlap:
                yield Message(f"{source}: {overlap_warning(overlap)}", "warning")
    target = torch.device(resolve_device(device))
    model = checkpoint.build_model(target)
    extractor = FeatureExtractor(checkpoint.feature_config).to(target)

    prepared = None
    for event in prepare_data(spec, checkpoint.feature_config, cache_dir, cancel):
        if isinstance(event, Finished):
            prepared = event.result
        else:
            yield event
    clips = prepared.split("testing" if split == "all" else split)
    where = ", ".join(spec.sources)
    if len(clips) == 0:
        raise DataError(f"{where}: no clips in the {split} split to evaluate")
    clips = _remap(clips, label_mapping(prepared.labels, checkpoint.labels, where))

    yield Stage("evaluate", f"Scoring {len(clips)} clips with {Path(checkpoint_path).name}")
    labels = list(checkpoint.labels)
    metrics, predicted, top = score(model, extractor, clips, labels, target, cancel)
    yield Progress("evaluate", len(clips), len(clips), unit="clips", metrics={"accuracy": metrics["accuracy"]})
    wrong = []
    for i in torch.nonzero(predicted != clips.targets).flatten().tolist():
        clip = clips.clips[i]
        wrong.append((str(clip.path) if clip is not None else SILENCE_PATH, labels[int(clips.targets[i])],
                      labels[int(predicted[i])], float(top[i])))

    noisy = None
    if snr_db is not None:
        noise_files = [p for folder in noise_dirs for p in audio_files_in(Path(folder))]
        from speechrnn.data.cache import decode_noise
        from speechrnn.data.download import default_cache_dir

        noise, skipped = decode_noise(noise_files, checkpoint.feature_config.sample_rate_hz,
                                      Path(cache_dir) if cache_dir else default_cache_dir(data_dir))
        if not noise:
            raise DataError(f"{', '.join(noise_dirs)}: none of the noise recordings could be read")
        for path, problem in skipped:
            yield Message(f"skipped noise file {path}: {problem}", level="warning")
        yield Stage("evaluate-noisy", f"Scoring again with noise at {snr_db:g} dB SNR")
        mixed = mix_noise(clips.waves, noise, snr_db, seed, keep=clips.is_silence)
        noisy_clips = dataclasses.replace(clips, waves=mixed)
        noisy_metrics, _, _ = score(model, extractor, noisy_clips, labels, target, cancel)
        noisy = {"snr_db": float(snr_db), "noise_files": [str(p) for p in noise_files], **noisy_metrics}

    description = dict(prepared.description)
    description["split"] = split
    yield Finished(EvalResult(
        accuracy=metrics["accuracy"], labels=labels, per_class=metrics["per_class"],
        confusion=metrics["confusion"], wrong=wrong, per_source=metrics["per_source"],
        clips=metrics["clips"], macro_f1=metrics["macro_f1"], noisy=noisy,
        checkpoint=str(checkpoint_path), data=description,
    ))


# ------------------------------------------------------------------------------------- output
def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, atomically."""
    from speechrnn.atomic import write_text_atomic

    return write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def save_figure_atomic(figure, path: str | Path) -> Path:
    """Render a matplotlib Figure (Agg, no pyplot state) to a PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from speechrnn.atomic import atomic_path

    FigureCanvasAgg(figure)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def plot_confusion(result: EvalResult, path: str | Path) -> Path:
    """The confusion matrix as a PNG (rows: true label, columns: predicted; row-normalised colours)."""
    from matplotlib.figure import Figure

    matrix = np.array(result.confusion, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = max(4.0, 0.45 * len(result.labels) + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = range(len(result.labels))
    axes.set_xticks(ticks, result.labels, rotation=90)
    axes.set_yticks(ticks, result.labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"accuracy {100 * result.accuracy:.1f} % on {result.clips} clips")
    if len(result.labels) <= 40:
        for i in ticks:
            for j in ticks:
                if matrix[i, j]:
                    axes.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7,
                              color="white" if shares[i, j] > 0.5 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true label")
    return save_figure_atomic(figure, path)


# ------------------------------------------------------------------------------------ predict
@dataclass(frozen=True)
class Prediction:
    """Top-k labels of one file, best first: ``top`` = [(label, probability), ...]."""

    path: str
    top: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "top": [{"label": label, "probability": p} for label, p in self.top]}


@torch.no_grad()
def predict_files(model: torch.nn.Module, checkpoint, paths: Sequence[str | Path],
                  top_k: int = DEFAULT_TOP_K, device: torch.device | None = None) -> list[Prediction]:
    """Top-k labels for each audio file (padded/cropped to the model's clip length).

    Every file is read first: an unreadable one raises :class:`AudioError` before anything is scored.
    """
    predictions, unreadable = predict_readable_files(model, checkpoint, paths, top_k, device)
    if unreadable:
        raise unreadable[0]
    return predictions


@torch.no_grad()
def predict_readable_files(model: torch.nn.Module, checkpoint, paths: Sequence[str | Path],
                           top_k: int = DEFAULT_TOP_K, device: torch.device | None = None,
                           ) -> tuple[list[Prediction], list[AudioError]]:
    """Top-k labels of each readable file (in the given order), and an :class:`AudioError` per other file."""
    from speechrnn.audio.io import load_audio, pad_or_crop
    from speechrnn.features import FeatureExtractor

    if top_k < 1:
        raise SpeechRNNError("--top-k must be at least 1")
    if not paths:
        raise SpeechRNNError("no audio files given")
    features = checkpoint.feature_config
    readable, clips, unreadable = [], [], []
    for path in paths:
        try:
            clips.append(pad_or_crop(load_audio(path, features.sample_rate_hz), features.clip_samples))
            readable.append(path)
        except AudioError as exc:
            unreadable.append(exc)
    if not readable:
        return [], unreadable
    paths = readable
    waves = np.stack(clips)
    device = device or next(model.parameters()).device
    extractor = FeatureExtractor(features).to(device)
    probabilities = clip_logits(model, extractor, torch.from_numpy(waves), device).softmax(dim=1)
    k = min(top_k, probabilities.shape[1])
    values, indices = probabilities.topk(k, dim=1)
    return [Prediction(str(path), [(checkpoint.labels[int(i)], float(v)) for v, i in zip(vs, ix)])
            for path, vs, ix in zip(paths, values, indices)], unreadable

