"""Training throughput of the real per-batch path (the benchmarks call this)."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from speechrnn.training.clip_batches import BatchMaker
from speechrnn.training.config import TrainConfig
from speechrnn.training.runtime import resolve_precision, speed_up, tune_cpu_runtime
from speechrnn.training.schedule import make_optimizer


def measure_training_throughput(cell: str = "gru", hidden: int = 128, layers: int = 2, batch_size: int = 256,
                                seconds: float = 10.0, augment=None, feature_config=None,
                                fast_rnn: bool = True, device: str = "cpu", classes: int = 12,
                                warmup_batches: int = 2, precision: str = "auto", measure_kernel: bool = False) -> float:
    """Training samples/s of the real per-batch path on random one-second clips held in memory.

    Same code as :func:`train`: float16 waves -> augmentation (noise, shift, SpecAugment by
    default) -> features -> model -> loss -> backward -> clipping -> AdamW step. Runs for about
    ``seconds`` after ``warmup_batches`` untimed batches. ``fast_rnn``: the fused GRU kernel;
    with ``measure_kernel`` only where it is measured faster than ``nn.GRU`` (as :func:`train` does).
    """
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.features import FeatureConfig, FeatureExtractor
    from speechrnn.model import ModelConfig, RNNClassifier

    augment = augment or AugmentConfig()
    feature_config = feature_config or FeatureConfig()
    target = torch.device(device)
    torch.manual_seed(0)
    pool = 4 * batch_size
    waves = (0.1 * torch.randn(pool, feature_config.clip_samples)).half()
    targets = torch.randint(0, classes, (pool,))
    silence = torch.zeros(pool, dtype=torch.bool)
    noise = [0.05 * torch.randn(10 * feature_config.sample_rate_hz)]
    model = RNNClassifier(ModelConfig(num_classes=classes, input_dim=feature_config.feature_dim, cell=cell,
                                      hidden=hidden, layers=layers))
    autocast = speed_up(model, target, resolve_precision(precision, target), fast_rnn,
                        (batch_size, feature_config.clip_frames) if measure_kernel else None)
    if target.type == "cpu":
        tune_cpu_runtime()
    model.to(target).train()
    extractor = FeatureExtractor(feature_config).to(target)
    maker = BatchMaker(waves, silence, extractor, augment, noise, feature_config.sample_rate_hz, target)
    optimizer = make_optimizer(model, TrainConfig())
    generator = torch.Generator().manual_seed(0)
    done, batch, started = 0, 0, None
    while True:
        if batch == warmup_batches:
            if target.type == "cuda":
                torch.cuda.synchronize()
            started, done = time.perf_counter(), 0
        rows = torch.randint(0, pool, (batch_size,), generator=generator)
        frames = maker.frames(rows, generator, fill=model.feature_mean)
        with autocast():
            logits, _ = model(frames)
        loss = F.cross_entropy(logits.float(), targets[rows].to(target))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        batch += 1
        done += batch_size
        if started is not None:
            if target.type == "cuda":
                torch.cuda.synchronize()
            if time.perf_counter() - started >= seconds:
                return done / (time.perf_counter() - started)

