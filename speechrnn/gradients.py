"""Why gates matter: how much gradient reaches each input frame from the output.

For a trained model and some clips we take the logit of the clip's class after the last frame
and differentiate it with respect to every input frame. Plotting the gradient's size against the
frame's distance from the output (frames back) shows how far back the network can learn from: in
a vanilla RNN the gradient shrinks geometrically with distance (the vanishing gradient); the gated
cells (LSTM, GRU) carry it much further. Gradients are taken with respect to the *normalised*
frames (what the recurrent layer sees), so models with different feature statistics compare.

:func:`gradient_curve` returns the curve (the GUI's model panel draws it); :func:`plot_curves`
draws several models on a log axis; ``speechrnn gradients`` wraps both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from speechrnn.audio.io import load_audio, pad_or_crop
from speechrnn.errors import AudioError, DataError
from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.model import RNNClassifier

DEFAULT_MAX_CLIPS = 64  # clips averaged per curve: enough for a smooth curve, a few seconds on CPU
REACH_THRESHOLD = 0.01  # "reach" = distance where the gradient falls below 1 % of the last frame's
PLOT_SIZE_IN = (7.0, 4.5)


@dataclass
class GradientCurve:
    """Mean gradient norm per input frame, indexed by distance from the output (0 = last frame)."""

    name: str
    magnitude: np.ndarray  # (T,) mean over clips of ||d logit / d frame||_2
    hop_ms: float
    clips: int
    info: dict = field(default_factory=dict)  # cell, hidden, layers, ...

    @property
    def relative(self) -> np.ndarray:
        """The curve divided by its value at distance 0 (1.0 at the last frame)."""
        return self.magnitude / self.magnitude[0]

    def reach_frames(self, threshold: float = REACH_THRESHOLD) -> int | None:
        """First distance (frames) where the relative gradient drops below ``threshold``; None if never."""
        below = np.flatnonzero(self.relative < threshold)
        return int(below[0]) if below.size else None

    def to_dict(self) -> dict:
        reach = self.reach_frames()
        return {
            "name": self.name,
            "clips": self.clips,
            "hop_ms": self.hop_ms,
            "reach_frames": reach,
            "reach_ms": None if reach is None else reach * self.hop_ms,
            "magnitude": [float(x) for x in self.magnitude],
            "relative": [float(x) for x in self.relative],
            **self.info,
        }


def gradient_by_distance(model: RNNClassifier, frames: torch.Tensor, targets: torch.Tensor | None = None) -> np.ndarray:
    """(B, T, F) raw frames -> (T,) mean over clips of the gradient norm of the target logit after
    the last frame with respect to the normalised frame ``T - 1 - d``, for distance ``d``.

    ``targets`` are class indices; where None or negative, the predicted class is used. The
    model's mode and its parameters' gradients are left as they were.
    """
    was_training = model.training
    model.eval()
    try:
        x = frames.detach().float().clone().requires_grad_(True)
        with torch.enable_grad():
            logits, _ = model(x)
            predicted = logits.argmax(dim=1)
            targets = predicted if targets is None else torch.where(targets >= 0, targets.to(predicted), predicted)
            chosen = logits.gather(1, targets.view(-1, 1).to(logits.device)).sum()
            (grad,) = torch.autograd.grad(chosen, x)
    finally:
        model.train(was_training)
    # d/d(normalised) = d/d(raw) * std, since normalised = (raw - mean) / std.
    per_frame = (grad * model.feature_std).norm(dim=2)  # (B, T)
    return per_frame.mean(dim=0).flip(0).cpu().numpy().astype(np.float64)


def load_clips(folder: str | Path, labels: list[str], feature_config: FeatureConfig,
               max_clips: int = DEFAULT_MAX_CLIPS, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Up to ``max_clips`` clips of ``folder`` (dataset layout), seeded choice -> (waves, targets, skipped).

    A clip whose label the model does not know gets target -1 (its predicted class is used).
    Digit folders ("0".."9", FSDD) count as the words "zero".."nine". An unreadable file is left
    out, as training and evaluation do: ``skipped`` says which and why ("PATH: problem").
    """
    from speechrnn.data.layout import scan_folder
    from speechrnn.data.spec import DIGIT_ALIASES

    clips = scan_folder(Path(folder))
    chosen = np.random.default_rng(seed).permutation(len(clips))[:max_clips]
    aliases = dict(DIGIT_ALIASES)
    index = {label: i for i, label in enumerate(labels)}
    waves, targets, skipped = [], [], []
    for i in sorted(chosen):
        clip = clips[i]
        try:
            samples = load_audio(clip.path, feature_config.sample_rate_hz)
        except AudioError as exc:
            skipped.append(str(exc))
            continue
        waves.append(pad_or_crop(samples, feature_config.clip_samples))
        targets.append(index.get(clip.label, index.get(aliases.get(clip.label, ""), -1)))
    if not waves:
        raise DataError(f"{folder}: no readable clips to measure gradients on" + (f" ({skipped[0]})" if skipped else ""))
    return torch.from_numpy(np.stack(waves)), torch.tensor(targets), skipped


def gradient_curve(model: RNNClassifier, feature_config: FeatureConfig, waves: torch.Tensor,
                   targets: torch.Tensor | None = None, name: str = "") -> GradientCurve:
    """The curve of ``model`` over ``waves`` (B, N) at the model's sample rate."""
    with torch.no_grad():
        frames = FeatureExtractor(feature_config)(waves.float())
    cfg = model.config
    return GradientCurve(
        name=name or f"{cfg.cell} {cfg.layers}x{cfg.hidden}",
        magnitude=gradient_by_distance(model, frames, targets),
        hop_ms=feature_config.hop_ms,
        clips=int(waves.shape[0]),
        info={"cell": cfg.cell, "hidden": cfg.hidden, "layers": cfg.layers, "pooling": cfg.pooling,
              "parameters": model.num_parameters()},
    )


def checkpoint_curve(path: str | Path, data: str | Path, max_clips: int = DEFAULT_MAX_CLIPS,
                     seed: int = 0, name: str = "") -> GradientCurve:
    """Load a checkpoint and measure its curve on clips of the folder ``data``."""
    from speechrnn.checkpoint import load_model

    model, ckpt = load_model(path)
    waves, targets, skipped = load_clips(data, ckpt.labels, ckpt.feature_config, max_clips, seed)
    # an ensemble's curve is the gradient through all of its networks: named after all of them
    label = name or f"{ckpt.architecture()} ({Path(path).parent.name or Path(path).stem})"
    curve = gradient_curve(model, ckpt.feature_config, waves, targets, name=label)
    curve.info["checkpoint"] = str(path)
    curve.info["skipped"] = skipped
    return curve


PLOT_FLOOR = 1e-12  # a gradient this far below the last frame's has vanished; drawn here, not at 1e-308


def plot_curves(curves: list[GradientCurve], out_path: str | Path, relative: bool = True) -> Path:
    """PNG of the curves against distance in ms, log y axis; written atomically."""
    from matplotlib.figure import Figure

    from speechrnn.evaluate import save_figure_atomic

    fig = Figure(figsize=PLOT_SIZE_IN)
    ax = fig.add_subplot()
    for curve in curves:
        values = curve.relative if relative else curve.magnitude
        distance_ms = np.arange(values.size) * curve.hop_ms
        ax.semilogy(distance_ms, np.maximum(values, PLOT_FLOOR), label=curve.name)
    ax.set_xlabel("distance of the input frame from the output (ms back)")
    ax.set_ylabel("gradient norm, relative to the last frame" if relative else "gradient norm")
    ax.set_ylim(bottom=PLOT_FLOOR / 10)
    ax.set_title(f"How far back the gradient reaches (drawn at {PLOT_FLOOR:g} once it has vanished)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure_atomic(fig, out_path)


def save_curves_json(curves: list[GradientCurve], path: str | Path) -> Path:
    """``{"curves": [...]}`` with one entry per model (see :meth:`GradientCurve.to_dict`), atomically."""
    from speechrnn.evaluate import write_json_atomic

    return write_json_atomic(path, {"curves": [c.to_dict() for c in curves]})
