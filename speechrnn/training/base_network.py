"""Starting a run from another model's network (``TrainConfig.init_from``).

On the same labels a run takes every weight: a finished run trains further with a new schedule. On
other labels it takes the network (feature normalisation and recurrent layers) and learns a new head:
a custom word trained from a handful of takes starts from a network that has heard many real voices
(the bundled commands model heard about 1,600 speakers) instead of from random weights. Measured with
``bench.custom_word`` (docs/custom-words.md): far more of the word heard and far fewer other words taken for it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechrnn.errors import SpeechRNNError

# what two networks must share for one to start from the other's weights
BODY_FIELDS = ("input_dim", "cell", "hidden", "layers", "bidirectional", "nonlinearity", "spectral_conv_channels",
               "spectral_bands")
# weights a model on other labels or another read-out does not share: the head, attention pooling
HEAD = "head."
OWN_WEIGHT_PREFIXES = (HEAD, "attention.")


@dataclass(frozen=True)
class BaseNetwork:
    """The checkpoint a run starts from, with the features and network it fixes."""

    path: Path
    features: Any  # FeatureConfig
    model: Any  # ModelConfig
    labels: tuple[str, ...] = ()
    detection_threshold: float | None = None  # the threshold its training recorded (None: the default)
    bundled: str | None = None  # its bundled name ("digits", "commands"), or None for any other checkpoint

    def model_for(self, model: Any) -> Any:
        """``model`` (a run's ModelConfig) with this network's body: cell, size, input."""
        return dataclasses.replace(model, **{name: getattr(self.model, name) for name in BODY_FIELDS})


def base_network(model: str | Path, assets_dir: str | Path | None = None) -> BaseNetwork:
    """A bundled name ("commands") or checkpoint path -> its features and network; a one-line error
    (CheckpointError) if it is neither."""
    from speechrnn.bundled import bundled_name, resolve_model
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.recognizer import recorded_threshold

    path = resolve_model(model, assets_dir)
    checkpoint = load_checkpoint(path)
    return BaseNetwork(path, checkpoint.feature_config, checkpoint.model_config, tuple(checkpoint.labels),
                       recorded_threshold(checkpoint.train_config), bundled_name(path, assets_dir))


def describe_body(model: Any, features: Any) -> str:
    """"GRU 2x128 on 13 mfcc, 20-7600 Hz" ("spectral conv 16 > GRU 2x128 on ..." with a spectral
    front-end): what a run that starts from another model must share."""
    return f"{model.shape} on {features.feature_dim} {features.kind}, {features.f_min_hz:g}-{features.f_max_hz:g} Hz"


def initial_weights(checkpoint: Any, labels: list[str], model: Any, features: Any,
                    fresh: dict) -> tuple[dict, list[str]]:
    """The weights a run on ``labels`` with ``model`` and ``features`` starts from: the network of
    ``checkpoint``, and its head's rows for the labels it shares with the run (``_silence_`` and
    ``_unknown_`` for a custom word); ``fresh`` (the run's newly initialised weights) gives the rest.
    Returns them with the labels whose rows came from the checkpoint."""
    same_body = all(getattr(checkpoint.model_config, name) == getattr(model, name) for name in BODY_FIELDS)
    if not same_body or checkpoint.feature_config != features:
        raise SpeechRNNError(f"{checkpoint.path}: cannot start from this model: its network or features differ "
                             f"from this run's ({describe_body(checkpoint.model_config, checkpoint.feature_config)}"
                             f" vs {describe_body(model, features)})")
    weights = {name: value.clone() for name, value in fresh.items()}
    for name, value in checkpoint.state_dict.items():
        if name in weights and not name.startswith(OWN_WEIGHT_PREFIXES):
            weights[name] = value
    shared = [label for label in labels if label in checkpoint.labels]
    for name in (HEAD + "weight", HEAD + "bias"):
        for label in shared:
            weights[name][labels.index(label)] = checkpoint.state_dict[name][list(checkpoint.labels).index(label)]
    return weights, shared


def provenance(path: str | Path) -> dict:
    """What a model that starts from the weights at ``path`` owes them, for its checkpoint (its data
    description's ``started_from``, shown by ``speechrnn info``): the file, its labels and the data
    sources that trained it, with their licenses. Just the file when it can no longer be read."""
    from speechrnn.checkpoint import load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
    except SpeechRNNError:
        return {"path": str(path)}
    data = checkpoint.data or {}
    return {"path": str(path), "labels": list(checkpoint.labels),
            "sources": [source.get("name") for source in data.get("sources", [])],
            "licenses": dict(data.get("licenses") or {})}
