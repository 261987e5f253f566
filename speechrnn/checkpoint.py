"""Self-describing checkpoints (nanoGPT style): one file holds everything needed to use a model.

Contents: weights (normalisation statistics included), model config, feature config, labels,
training config, metrics, data sources and licenses, recipe, package version, creation time; for an
ensemble (``speechrnn ensemble``), the other networks' configs, weights and provenance in ``members``
(the main fields describe the first network, so every reader of one network reads it unchanged).
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
from speechrnn.ensemble import EnsembleClassifier, check_members
from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig
from speechrnn.model import ModelConfig, RNNClassifier

FORMAT_NAME = "speechrnn-checkpoint"
FORMAT_VERSION = 1
PROVENANCE_KEYS = ("sources", "licenses", "started_from", "recipe")  # of data: what an ensemble keeps per network


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
    # an ensemble's other networks: {"model_config": ModelConfig, "state_dict": ..., "about": {...}}
    members: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None

    @property
    def network_configs(self) -> list[ModelConfig]:
        """Every network's config, the first network's first (one entry for a plain model)."""
        return [self.model_config, *(m["model_config"] for m in self.members)]

    def architecture(self) -> str:
        """The networks' shapes: ``GRU 2x128``, or ``GRU 2x128 + GRU 2x192`` for an ensemble; ``spectral
        conv 16 > GRU 2x128`` with a spectral front-end."""
        return " + ".join(config.shape for config in self.network_configs)

    def build_network(self, config: ModelConfig | None = None, state_dict: dict | None = None,
                      device: str | torch.device = "cpu") -> RNNClassifier:
        """One network: the first (the main fields), or the one of ``config`` and ``state_dict``."""
        model = RNNClassifier(config or self.model_config)
        try:
            model.load_state_dict(self.state_dict if state_dict is None else state_dict)
        except RuntimeError as exc:
            where = self.path or "checkpoint"
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{where}: weights do not match the model config ({first})") from None
        return model.to(device).eval()

    def build_model(self, device: str | torch.device = "cpu") -> RNNClassifier | EnsembleClassifier:
        """The model to run: the network, or the ensemble of all of them."""
        first = self.build_network(device=device)
        if not self.members:
            return first
        others = [self.build_network(m["model_config"], m["state_dict"], device) for m in self.members]
        return EnsembleClassifier([first, *others]).to(device).eval()

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
            **({"members": [{**m, "model_config": dataclasses.asdict(m["model_config"]),
                             "state_dict": {k: v.detach().cpu() for k, v in m["state_dict"].items()}}
                            for m in self.members]} if self.members else {}),
        }

    def summary(self) -> dict[str, Any]:
        """Everything but the tensors, for `speechrnn info` and the GUI's model panel."""
        info = self.to_dict()
        info.pop("state_dict")
        info.pop("extra")
        for member in info.get("members", []):
            member.pop("state_dict")
        info["parameters"] = int(
            sum(v.numel() for weights in [self.state_dict, *(m["state_dict"] for m in self.members)]
                for k, v in weights.items() if not k.startswith("feature_"))
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
PICKLE_PROTO = b"\x80"  # the first byte of a pickle of protocol 2 or later (torch.save's legacy format)
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"  # torch.load(weights_only=True) met Python objects


def _unreadable_reason(path: Path, error: Exception) -> str:
    """What the file is, in the user's terms, instead of torch's internals."""
    with open(path, "rb") as handle:
        head = handle.read(len(ZIP_MAGIC))
    # torch.save writes a zip archive (or, long ago, a pickle: protocol 2+ starts with 0x80); torch.load
    # tries any other bytes as a legacy pickle too, and its weights-only refusal would then misname them
    if WEIGHTS_ONLY_REFUSAL in str(error) and (head == ZIP_MAGIC or head[:1] == PICKLE_PROTO):
        return ("a PyTorch file that holds Python objects; speechrnn reads only checkpoints of plain tensors "
                "and settings, as speechrnn train writes them, and never runs code from a file")
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
        members = [{**m, "model_config": ModelConfig(**m["model_config"]), "state_dict": dict(m["state_dict"])}
                   for m in raw.get("members", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint is incomplete or malformed ({exc})") from None
    if members:
        try:
            check_members([model_config, *(m["model_config"] for m in members)])
        except ValueError as exc:
            raise CheckpointError(f"{path}: its networks cannot be combined ({exc})") from None
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
        members=members,
        path=path,
    )


def load_model(path: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[RNNClassifier | EnsembleClassifier, Checkpoint]:
    checkpoint = load_checkpoint(path)
    return checkpoint.build_model(device), checkpoint


def require_feature_config(checkpoint: Checkpoint, expected: FeatureConfig, what: str) -> None:
    """Refuse to combine a checkpoint with data prepared for other features."""
    if checkpoint.feature_config != expected:
        mine = dataclasses.asdict(checkpoint.feature_config)
        theirs = dataclasses.asdict(expected)
        diff = ", ".join(f"{k}={mine[k]!r} vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k])
        raise CheckpointError(f"{checkpoint.path}: feature config differs from {what} ({diff})")


def combine_checkpoints(paths: list[str | Path]) -> Checkpoint:
    """One ensemble checkpoint of the networks of ``paths`` (an ensemble among them gives all of
    its networks), in order. They must be stream-trained on the same labels and features.

    The first file's fields describe the result (its recipe, data, training settings), but not its
    metrics: they are not the ensemble's, which has none until it is measured. Every other network
    keeps its provenance (file, creation time, training settings, data and licenses) in
    ``members``. Any mismatch is a one-line :class:`CheckpointError`.
    """
    if len(paths) < 2:
        raise CheckpointError("an ensemble needs at least two models")
    checkpoints = [load_checkpoint(path) for path in paths]
    first = checkpoints[0]
    members: list[dict[str, Any]] = []
    for checkpoint in checkpoints:
        if checkpoint.labels != first.labels:
            raise CheckpointError(f"{checkpoint.path}: labels {', '.join(checkpoint.labels)} differ from "
                                  f"{first.path}'s {', '.join(first.labels)}")
        if checkpoint.feature_config != first.feature_config:
            require_feature_config(checkpoint, first.feature_config, f"{first.path}'s")
        about = {"path": str(checkpoint.path), "created": checkpoint.created, "recipe": checkpoint.recipe,
                 "train_config": checkpoint.train_config,
                 "data": {k: v for k, v in checkpoint.data.items() if k in PROVENANCE_KEYS}}
        networks = [{"model_config": checkpoint.model_config, "state_dict": checkpoint.state_dict}, *checkpoint.members]
        members += [{**network, "about": network.get("about", about)} for network in networks]
    try:
        check_members([m["model_config"] for m in members])
    except ValueError as exc:
        raise CheckpointError(f"{', '.join(str(p) for p in paths)}: cannot be combined ({exc})") from None
    return dataclasses.replace(
        first, state_dict=members[0]["state_dict"], model_config=members[0]["model_config"],
        members=members[1:], metrics={},
        data={**first.data, "ensemble": [{k: m["about"].get(k) for k in ("path", "created", "recipe")}
                                          for m in members]},
        created="", extra={}, path=None)


def network_of(checkpoint: Checkpoint, number: int) -> Checkpoint:
    """Network ``number`` (1 = the first) of an ensemble as a model of its own, with the provenance the
    ensemble recorded for it (file, training settings, recipe, data and licenses): to train one
    network further (a final build, ``--init-from``) or to measure it alone. No metrics: the
    ensemble's are not the network's. A number it does not have is a one-line :class:`CheckpointError`."""
    count = 1 + len(checkpoint.members)
    if not 1 <= number <= count:
        raise CheckpointError(f"{checkpoint.path}: has {count} network{'s' if count > 1 else ''}, "
                              f"not a network {number}")
    own_data = {k: v for k, v in checkpoint.data.items() if k != "ensemble"}
    if number == 1:
        return dataclasses.replace(checkpoint, members=[], metrics={}, data=own_data, created="", extra={},
                                   path=None)
    member = checkpoint.members[number - 2]
    about = member.get("about", {})
    data = {**{k: v for k, v in own_data.items() if k not in PROVENANCE_KEYS}, **about.get("data", {})}
    return dataclasses.replace(checkpoint, model_config=member["model_config"], state_dict=member["state_dict"],
                               members=[], metrics={}, train_config=about.get("train_config", {}),
                               recipe=about.get("recipe", ""), data=data, created="", extra={}, path=None)
