"""Self-describing checkpoints (nanoGPT style): one file holds everything needed to use a model.

Contents: weights (normalisation statistics included), model config, feature config, labels,
training config, metrics, data sources and licenses, recipe, package version, creation time.
Files are written to a temporary name and renamed, so an existing checkpoint is never half-written.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from speechrnn import __version__
from speechrnn.atomic import atomic_path
from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig
from speechrnn.model import ModelConfig, RNNClassifier

FORMAT_NAME = "speechrnn-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    model_config: ModelConfig
    feature_config: FeatureConfig
    labels: list[str]
    state_dict: dict[str, torch.Tensor]
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # sources, licenses, split description
    recipe: str = ""
    package_version: str = __version__
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. optimizer state for --resume
    path: Path | None = None

    def build_model(self, device: str | torch.device = "cpu") -> RNNClassifier:
        model = RNNClassifier(self.model_config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            where = self.path or "checkpoint"
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{where}: weights do not match the model config ({first})") from None
        return model.to(device).eval()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "package_version": self.package_version,
            "created": self.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "model_config": dataclasses.asdict(self.model_config),
            "feature_config": dataclasses.asdict(self.feature_config),
            "labels": list(self.labels),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "train_config": self.train_config,
            "metrics": self.metrics,
            "data": self.data,
            "recipe": self.recipe,
            "extra": self.extra,
        }

    def summary(self) -> dict[str, Any]:
        """Everything but the tensors, for `speechrnn info` and the GUI's model panel."""
        info = self.to_dict()
        info.pop("state_dict")
        info.pop("extra")
        info["parameters"] = int(
            sum(v.numel() for k, v in self.state_dict.items() if not k.startswith("feature_"))
        )
        return info


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Atomically write ``checkpoint`` to ``path`` (temp file in the same folder, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(checkpoint.to_dict(), tmp)
    checkpoint.path = path
    return path


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's file format is a zip archive
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"  # torch.load(weights_only=True) met Python objects


def _unreadable_reason(path: Path, error: Exception) -> str:
    """What the file is, in the user's terms, instead of torch's internals."""
    if WEIGHTS_ONLY_REFUSAL in str(error):
        return ("a PyTorch file that holds Python objects; speechrnn reads only checkpoints of plain tensors "
                "and settings, as speechrnn train writes them, and never runs code from a file")
    with open(path, "rb") as handle:
        head = handle.read(len(ZIP_MAGIC))
    if head == ZIP_MAGIC:
        return "a zip archive but not a complete PyTorch file: cut short, damaged or another kind of archive"
    return "not a PyTorch file at all"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint; any problem is a one-line :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file (try {path / 'best.pt'})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch.load raises many types on foreign/corrupt bytes; all mean the same
        raise CheckpointError(f"{path}: not a readable speechrnn checkpoint ({_unreadable_reason(path, exc)})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a speechrnn checkpoint")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this speechrnn understands ({FORMAT_VERSION})"
        )
    try:
        model_config = ModelConfig(**raw["model_config"])
        feature_config = FeatureConfig(**raw["feature_config"])
        labels = [str(x) for x in raw["labels"]]
        state_dict = dict(raw["state_dict"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint is incomplete or malformed ({exc})") from None
    if len(labels) != model_config.num_classes:
        raise CheckpointError(f"{path}: {len(labels)} labels but the model has {model_config.num_classes} outputs")
    if model_config.input_dim != feature_config.feature_dim:
        raise CheckpointError(
            f"{path}: model expects {model_config.input_dim} features per frame, "
            f"its feature config gives {feature_config.feature_dim}"
        )
    return Checkpoint(
        model_config=model_config,
        feature_config=feature_config,
        labels=labels,
        state_dict=state_dict,
        train_config=raw.get("train_config", {}),
        metrics=raw.get("metrics", {}),
        data=raw.get("data", {}),
        recipe=raw.get("recipe", ""),
        package_version=raw.get("package_version", "?"),
        created=raw.get("created", ""),
        extra=raw.get("extra", {}),
        path=path,
    )


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[RNNClassifier, Checkpoint]:
    checkpoint = load_checkpoint(path)
    return checkpoint.build_model(device), checkpoint


def require_feature_config(checkpoint: Checkpoint, expected: FeatureConfig, what: str) -> None:
    """Refuse to combine a checkpoint with data prepared for other features."""
    if checkpoint.feature_config != expected:
        mine = dataclasses.asdict(checkpoint.feature_config)
        theirs = dataclasses.asdict(expected)
        diff = ", ".join(f"{k}={mine[k]!r} vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k])
        raise CheckpointError(f"{checkpoint.path}: feature config differs from {what} ({diff})")
