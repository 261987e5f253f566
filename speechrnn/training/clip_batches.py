"""Batches of one-second clips for the ``clip`` objective: epoch order, batch sizes, augmented frames."""

from __future__ import annotations

import torch

from speechrnn.training.config import TrainConfig

EPOCH_SEED_STRIDE = 1_000_003  # seed spacing between epochs (prime, > batches per epoch)
RANK_SEED_STRIDE = 7919  # seed spacing between ranks of a distributed run
MIN_BATCH = 16  # smallest batch that min_steps may choose


def batch_seed(seed: int, epoch: int, batch: int, rank: int = 0) -> int:
    """The seed of one batch's random choices (augmentation, dropout)."""
    return seed * 7 + epoch * EPOCH_SEED_STRIDE + batch * 13 + rank * RANK_SEED_STRIDE


def epoch_order(count: int, seed: int, epoch: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The example order of ``epoch`` (the same on every rank): a shuffle, or with ``weights`` a
    weighted draw (with replacement) of ``count`` examples."""
    generator = torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + epoch)
    if weights is not None:
        return torch.multinomial(weights, count, replacement=True, generator=generator)
    return torch.randperm(count, generator=generator)


def effective_batch_size(config: TrainConfig, clips: int) -> int:
    """``config.batch_size``, made smaller when the data would give fewer than ``min_steps`` per epoch.

    With 1,000 clips a batch of 256 gives 4 steps per epoch and 120 in a 30-epoch run: too few
    updates to learn. The batch never shrinks below :data:`MIN_BATCH`.
    """
    if not config.min_steps:
        return config.batch_size
    return max(min(config.batch_size, MIN_BATCH), min(config.batch_size, clips // config.min_steps))


def epoch_batches(order: torch.Tensor, batch_size: int, world: int) -> list[torch.Tensor]:
    """Global batches of an epoch; a short last batch is dropped unless it is the only one."""
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return [b for b in batches if len(b) >= world]


class BatchMaker:
    """Turns example indices into model-ready (B, T, F) frames on the training device."""

    def __init__(self, waves: torch.Tensor, is_silence: torch.Tensor, extractor: torch.nn.Module,
                 augment, noise: list[torch.Tensor], sample_rate_hz: int, device: torch.device,
                 cached: torch.Tensor | None = None):
        from speechrnn.data.augment import WaveAugmenter

        self.waves = waves
        self.is_silence = is_silence
        self.extractor = extractor
        self.augment = augment
        self.device = device
        self.cached = cached
        self.augmenter = WaveAugmenter(augment, noise, sample_rate_hz, clip_samples=waves.shape[-1])

    @torch.no_grad()
    def frames(self, indices: torch.Tensor, generator: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
        from speechrnn.data.augment import spec_augment

        silence = self.is_silence[indices]
        if self.cached is not None:
            frames = self.cached[indices].to(self.device, torch.float32)
            if silence.any():  # training silence is new random noise every batch
                quiet = torch.zeros(int(silence.sum()), self.waves.shape[-1], device=self.device)
                filled = self.augmenter(quiet, torch.ones(len(quiet), dtype=torch.bool), generator)
                frames[silence.to(self.device)] = self.extractor(filled)
        else:
            waves = self.waves[indices].to(self.device)
            waves = self.augmenter(waves, silence, generator)
            frames = self.extractor(waves, self.augment.draw_warps(len(waves), generator),
                                    self.augment.draw_band_masks(len(waves), self.extractor.config.n_mels, generator))
        return spec_augment(frames, self.augment, generator, fill=fill)

