"""A new model's starting point: feature normalisation statistics and gate initialisation."""

from __future__ import annotations

import torch

from speechrnn.errors import SpeechRNNError

NORM_STATS_MAX_CLIPS = 8192  # clips sampled for the feature mean/std (plenty for 40 numbers)


def normalization_stats(waves: torch.Tensor, is_silence: torch.Tensor, extractor: torch.nn.Module,
                         device: torch.device, seed: int, cached: torch.Tensor | None = None):
    """Per-coefficient mean and std of clean training features (silence examples left out)."""
    rows = torch.nonzero(~is_silence).flatten()
    if len(rows) == 0:
        rows = torch.arange(len(waves))
    if len(rows) > NORM_STATS_MAX_CLIPS:
        generator = torch.Generator().manual_seed(seed)
        rows = rows[torch.randperm(len(rows), generator=generator)[:NORM_STATS_MAX_CLIPS]].sort().values
    total = sum_sq = None
    count = 0
    with torch.no_grad():
        for part in rows.split(1024):
            if cached is not None:
                frames = cached[part].to(device, torch.float32)
            else:
                frames = extractor(waves[part].to(device, torch.float32))
            flat = frames.reshape(-1, frames.shape[-1]).double()
            total = flat.sum(0) if total is None else total + flat.sum(0)
            sum_sq = flat.square().sum(0) if sum_sq is None else sum_sq + flat.square().sum(0)
            count += flat.shape[0]
    mean = total / count
    std = (sum_sq / count - mean.square()).clamp_min(0).sqrt()
    return mean.float().cpu(), std.float().cpu()


@torch.no_grad()
def chrono_init(model: torch.nn.Module, max_frames: int, generator: torch.Generator | None = None) -> bool:
    """Chrono initialisation (Tallec & Ollivier, ICLR 2018) of an LSTM's forget / a GRU's update gate.

    Their biases become ``log(U(1, max_frames - 1))``, so at the start of training the units keep
    their state for 1 .. max_frames steps instead of about one. A word in the middle of a clip must
    be remembered for tens of frames until the clip's last frame ("last" pooling); with PyTorch's
    default initialisation an LSTM then spends most of a short run at chance. True if applied.
    """
    cfg = model.config
    if cfg.cell not in ("lstm", "gru"):
        return False
    hidden = cfg.hidden
    gate = slice(hidden, 2 * hidden)  # LSTM gates i|f|g|o, GRU gates r|z|n: the second one keeps state
    for name, parameter in model.rnn.named_parameters():
        if name.startswith("bias_ih"):
            parameter[gate] = torch.log(torch.empty(hidden).uniform_(1, max(2, max_frames - 1), generator=generator))
        elif name.startswith("bias_hh"):
            parameter[gate] = 0.0
    return True


def freeze_lower_layers(model: torch.nn.Module, count: int) -> int:
    """Keep the weights of ``model``'s ``count`` lowest recurrent layers as they are (no gradient, so
    the optimizer never sees them); returns how many parameters still learn. A network that heard many
    speakers keeps what its lower layers learned of their voices while a few new clips teach the rest."""
    layers = model.config.layers
    if not 0 <= count <= layers:
        raise SpeechRNNError(f"frozen_layers is {count}, but the network has {layers} recurrent layers")
    frozen = {f"_l{layer}{suffix}" for layer in range(count) for suffix in ("", "_reverse")}
    for name, parameter in model.rnn.named_parameters():
        if any(name.endswith(tail) for tail in frozen):
            parameter.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
