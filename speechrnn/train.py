"""Training: a generator of progress events that ends with ``Finished(TrainResult)``.

Per batch: float16 waves from the in-memory cache -> waveform augmentation (noise, silence fill,
shift) -> features (the one :class:`~speechrnn.features.FeatureExtractor`) -> SpecAugment ->
model -> cross-entropy (optional label smoothing) -> AdamW with linear warmup + cosine decay and
gradient-norm clipping. Without waveform augmentation the clean features are computed once and
cached (:func:`speechrnn.data.cache.cached_features`).

The run folder (``out_dir``) holds ``config.json`` (every setting), ``metrics.jsonl`` (one line per
epoch), ``curves.png``, ``best.pt`` (best validation accuracy; with test metrics at the end),
``last.pt`` (resumable: optimizer, schedule and position in ``extra["resume"]``) and
``results.json``. Checkpoints are self-describing (:mod:`speechrnn.checkpoint`), normalisation
statistics of the training set included.

Determinism: every random choice of a batch (augmentation, dropout) is seeded from
``(seed, epoch, batch, rank)``, and the epoch's shuffle from ``(seed, epoch)``. A run resumed after
an interruption therefore continues exactly as it would have, and the same seed on the same
machine and thread count gives the same model.

Distributed: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel (gloo on CPU, nccl on CUDA). Every rank walks the same global batches and
takes its own shard of each, so the hyperparameters mean the same at any N; rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from speechrnn import __version__
from speechrnn.atomic import write_text_atomic
from speechrnn.errors import SpeechRNNError
from speechrnn.events import Cancelled, CancelToken, EpochEnd, EventStream, Finished, Message, Progress, Stage

BEST_NAME = "best.pt"
LAST_NAME = "last.pt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
PLOT_NAME = "curves.png"
RESULTS_NAME = "results.json"
RUN_FILES = (CONFIG_NAME, LAST_NAME, BEST_NAME, METRICS_NAME)  # any of these means "a run lives here"
STALE_FILES = RUN_FILES + (PLOT_NAME, RESULTS_NAME)  # replaced by a --force run
NORM_STATS_MAX_CLIPS = 8192  # clips sampled for the feature mean/std (plenty for 40 numbers)
EPOCH_SEED_STRIDE = 1_000_003  # seed spacing between epochs (prime, > batches per epoch)
RANK_SEED_STRIDE = 7919  # seed spacing between ranks of a distributed run
SPEECH_COMMANDS_LICENSE = "CC BY 4.0 (Speech Commands, Pete Warden, Google, arXiv:1804.03209)"
PRECISIONS = ("float32", "bfloat16", "auto")
MIN_BATCH = 16  # smallest batch that min_steps may choose
GATE_INITS = ("auto", "pytorch", "chrono")
KEEP_FREED_BYTES = 1 << 30  # glibc: freed blocks up to this size stay mapped for reuse
LICENSE_FILE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "ATTRIBUTION.txt", "ATTRIBUTION.md", "README.md")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. ``lr`` is the peak learning rate reached after warmup."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.02  # cosine decays to lr * min_lr_ratio at the last step
    label_smoothing: float = 0.0
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = all cores (divided among ranks of a distributed run)
    fast_rnn: bool = True  # fused CPU training kernel for GRU (same weights; see speechrnn.fused_rnn)
    # CPU matrix products: float32, bfloat16 (mixed precision) or auto (bfloat16 where the CPU has
    # AMX bfloat16 units). Measured on such a CPU, 2x128 GRU on the digits: 1,042 vs 921 samples/s
    # end to end, held-out accuracy 85.8 % vs 86.0 % (FSDD, 500 clips), the same on Speech Commands.
    precision: str = "auto"
    min_steps: int = 20  # small data: the batch shrinks so that an epoch has at least this many steps
    balance_sources: bool = False  # draw each source's clips equally often (see source_balance_weights)
    # "chrono": gate biases for long memory (see chrono_init); "auto": chrono when the decision is
    # read from the last frame only (measured, LSTM 2x128 "last" on the digits: 36 % -> 78 %)
    gate_init: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not self.lr > 0:
            raise ValueError("lr must be positive")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.grad_clip < 0:
            raise ValueError("weight_decay, warmup_epochs and grad_clip must not be negative")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError("label_smoothing must be within [0, 1)")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("min_lr_ratio must be within [0, 1]")
        if self.threads < 0 or self.min_steps < 0:
            raise ValueError("threads and min_steps must not be negative")
        if self.gate_init not in GATE_INITS:
            raise ValueError(f"gate_init must be one of {', '.join(GATE_INITS)}, not {self.gate_init!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")


@dataclass
class TrainResult:
    """Where the run is and how it went (``metrics``: best/last/test numbers, samples/s)."""

    out_dir: Path
    best_path: Path
    last_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ distributed
@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def _distributed_env() -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    return _Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def _init_distributed(dist_env: _Dist, device: torch.device) -> None:
    import torch.distributed as dist

    if dist_env.active and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def _barrier(dist_env: _Dist) -> None:
    if dist_env.active:
        import torch.distributed as dist

        dist.barrier()


def _all_sum(values: list[float], dist_env: _Dist) -> list[float]:
    if not dist_env.active:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def _any_rank(flag: bool, dist_env: _Dist) -> bool:
    return bool(_all_sum([float(flag)], dist_env)[0]) if dist_env.active else flag


# --------------------------------------------------------------------------------- run folder
def check_out_dir(out_dir: Path, resume: bool, force: bool) -> None:
    """Refuse to start where a run already lives (unless resuming or forced), before any work."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SpeechRNNError(f"{out_dir}: is a file, not a run folder")
    if resume:
        if not (out_dir / LAST_NAME).is_file():
            raise SpeechRNNError(f"{out_dir}: no run to resume (no {LAST_NAME} in it)")
        return
    existing = [name for name in RUN_FILES if (out_dir / name).exists()]
    if existing and not force:
        raise SpeechRNNError(f"{out_dir}: already holds a training run ({', '.join(existing)}); "
                             "use --resume to continue it or --force to replace it")


def plot_curves(history: list[dict], path: Path) -> Path:
    """Loss and accuracy per epoch (train and validation) as a PNG, without pyplot state."""
    from matplotlib.figure import Figure

    from speechrnn.evaluate import save_figure_atomic

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4))
    loss_axes, acc_axes = figure.subplots(1, 2)
    for key, axes, scale in (("train_loss", loss_axes, 1), ("val_loss", loss_axes, 1),
                             ("train_acc", acc_axes, 100), ("val_acc", acc_axes, 100)):
        points = [(e, row[key] * scale) for e, row in zip(epochs, history) if row.get(key) is not None]
        if points:
            axes.plot(*zip(*points), marker="o", markersize=3, label=key.replace("_", " "))
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_axes.set(xlabel="epoch", ylabel="%", title="accuracy")
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
    return save_figure_atomic(figure, path)


def _source_licenses(description: dict) -> dict[str, str]:
    """A license line per source: known for Speech Commands, else the license file found in it."""
    out = {}
    for source in description.get("sources", []):
        name, root = source.get("name", ""), Path(source.get("path", ""))
        if name.startswith("speech-commands:"):
            out[name] = SPEECH_COMMANDS_LICENSE
            continue
        files = [root / n for n in LICENSE_FILE_NAMES if (root / n).is_file()]
        out[name] = f"see {files[0]}" if files else "unknown (no LICENSE or ATTRIBUTION file in the folder)"
    return out


# ----------------------------------------------------------------------------------- schedule
def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup from ~0 to 1, then cosine decay to ``min_ratio`` at ``total_steps``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (biases are left alone, as in nanoGPT)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


# ------------------------------------------------------------------------------------ batches
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


def source_balance_weights(sources: list[str]) -> torch.Tensor:
    """Sampling weights giving every source the same share of the (non-silence) examples.

    ``sources[i]`` is the source of example i ("" for generated silence, which keeps its share).
    Speaker variety often comes from the small sources: e.g. 50 Speech Commands speakers beside
    two FSDD speakers with ten times their clips.
    """
    names = [s for s in sources if s]
    counts = {name: names.count(name) for name in set(names)}
    per_source = len(names) / max(1, len(counts))
    return torch.tensor([per_source / counts[s] if s else 1.0 for s in sources], dtype=torch.float64)


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
            frames = self.extractor(self.augmenter(waves, silence, generator))
        return spec_augment(frames, self.augment, generator, fill=fill)


def _normalization_stats(waves: torch.Tensor, is_silence: torch.Tensor, extractor: torch.nn.Module,
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


def _set_threads(config: TrainConfig, dist_env: _Dist, device: torch.device) -> None:
    if device.type != "cpu":
        return
    if config.threads:
        torch.set_num_threads(config.threads)
    elif dist_env.active:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", dist_env.world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))


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


def tune_cpu_runtime() -> None:
    """Process-wide CPU settings for training: flush denormals, keep freed memory for reuse.

    Denormal floats (below ~1e-38) cost ~100x a normal multiply on x86; a vanilla RNN's gradients
    drift into that range after a few hundred steps and training became 4.5x slower (measured:
    280 -> 1,240 samples/s on one core). Flushing them to zero changes results only below 1e-38.
    """
    torch.set_flush_denormal(True)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed large blocks for reuse instead of unmapping them (Linux only).

    A training step frees and reallocates the same tens of megabytes of activations; by default
    glibc returns such blocks to the OS and every new step page-faults them in again (measured:
    ~20,000 faults and ~25 % of a GRU step on CPU). Process-wide; memory stays reserved for reuse.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mmap_threshold, trim_threshold = -3, -1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD from <malloc.h>
    return bool(libc.mallopt(mmap_threshold, KEEP_FREED_BYTES)) and bool(libc.mallopt(trim_threshold, KEEP_FREED_BYTES))


def resolve_precision(precision: str, device: torch.device) -> str:
    """``float32`` or ``bfloat16``: ``auto`` means bfloat16 on CPUs with bfloat16 matrix units."""
    if precision != "auto":
        return precision
    if device.type != "cpu":
        return "float32"
    from speechrnn.fused_rnn import fast_matmul_dtype

    return fast_matmul_dtype()


def speed_up(model: torch.nn.Module, device: torch.device, precision: str, fast_rnn: bool):
    """Apply the training fast paths; returns the autocast context to run forward passes in.

    GRU on CPU: the fused kernel (:mod:`speechrnn.fused_rnn`), in ``precision``. Anything else in
    bfloat16: ``torch.autocast`` (the LSTM then runs oneDNN's bfloat16 kernel).
    """
    import contextlib

    fused = fast_rnn and device.type == "cpu" and _use_fused(model, precision)
    if precision == "bfloat16" and not fused:
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _use_fused(model: torch.nn.Module, precision: str) -> bool:
    from speechrnn.fused_rnn import use_fused_rnn

    return use_fused_rnn(model, precision)


# -------------------------------------------------------------------------------------- state
@dataclass
class _Run:
    """Everything that changes while training and must survive an interruption."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done of epoch ``epoch + 1`` (0 at an epoch boundary)
    step: int = 0  # optimizer steps so far
    sums: dict[str, float] = field(default_factory=lambda: {"loss": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0})
    history: list[dict] = field(default_factory=list)
    best_val_acc: float = -1.0
    best_val_loss: float = math.inf  # breaks ties of accuracy (small validation sets tie often)
    best_epoch: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _settings(data, feature_config, model_config, augment, config) -> dict[str, Any]:
    return {
        "data": data.to_dict(),
        "features": asdict(feature_config),
        "model": asdict(model_config),
        "augment": asdict(augment),
        "train": asdict(config),
        "package_version": __version__,
    }


def _resume_state(out_dir: Path):
    from speechrnn.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(out_dir / LAST_NAME)
    resume = checkpoint.extra.get("resume")
    if not isinstance(resume, dict) or "settings" not in resume:
        raise SpeechRNNError(f"{out_dir / LAST_NAME}: has no resume state (was it written by speechrnn train?)")
    return checkpoint, resume


def _configs_from(settings: dict, device: str, threads: int):
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.data.spec import DataSpec
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig

    train_config = dataclasses.replace(TrainConfig(**settings["train"]), device=device, threads=threads)
    return (DataSpec.from_dict(settings["data"]), FeatureConfig(**settings["features"]),
            ModelConfig(**settings["model"]), AugmentConfig(**settings["augment"]), train_config)


# -------------------------------------------------------------------------------------- train
def train(
    data,
    feature_config,
    model_config,
    augment,
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    force: bool = False,
    cancel: CancelToken | None = None,
    prepared=None,
    cache_dir: str | Path | None = None,
    recipe: str = "",
) -> EventStream:
    """Train a classifier on ``data`` (a DataSpec) into ``out_dir``; ``Finished(TrainResult)``.

    ``model_config.num_classes`` and ``input_dim`` are set from the data's labels and the features.
    ``resume`` continues the run in ``out_dir`` with its saved settings (only ``config.device`` and
    ``config.threads`` are taken from the arguments); ``force`` replaces a run there. ``prepared``
    skips data preparation (it must match ``data``). Cancelling (``cancel``) saves a resumable
    ``last.pt`` at the current batch and raises :class:`~speechrnn.events.Cancelled`.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume, force)
    session = _Session(out_dir, cancel or CancelToken(), Path(cache_dir) if cache_dir else None, recipe)
    if resume:
        session.restore(config)
    else:
        session.configure(data, feature_config, model_config, augment, config)
    session.start_distributed()
    yield from session.prepare(prepared)
    yield from session.build()
    session.open_run_folder(force and not resume)
    yield from session.announce()
    while session.run.epoch < session.config.epochs:
        yield from session.train_epoch()
        yield session.end_epoch()
    yield from session.finish()


class _Session:
    """One training run: its settings, data, model, optimizer and progress (:class:`_Run`)."""

    def __init__(self, out_dir: Path, cancel: CancelToken, cache_dir: Path | None, recipe: str):
        self.out_dir, self.cancel, self.cache_dir, self.recipe = out_dir, cancel, cache_dir, recipe
        self.run = _Run()
        self.resume_state: dict | None = None
        self.resumed_labels: list[str] | None = None
        self.resumed_weights: dict | None = None
        self.dist = _distributed_env()

    # ---- settings
    def configure(self, data, feature_config, model_config, augment, config: TrainConfig) -> None:
        self.data, self.feature_config, self.model_config = data, feature_config, model_config
        self.augment, self.config = augment, config

    def restore(self, config: TrainConfig) -> None:
        checkpoint, state = _resume_state(self.out_dir)
        self.configure(*_configs_from(state["settings"], config.device, config.threads))
        self.run = _Run(**state["run"])
        self.resume_state = state
        self.resumed_labels = list(checkpoint.labels)
        self.resumed_weights = checkpoint.state_dict

    def start_distributed(self) -> None:
        from speechrnn.evaluate import resolve_device

        self.device = resolve_device(self.config.device)
        if self.dist.active and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        _init_distributed(self.dist, self.device)
        _set_threads(self.config, self.dist, self.device)

    # ---- data
    def prepare(self, prepared) -> EventStream:
        """Decode/split the data (rank 0 fills the cache first, the other ranks then read it)."""
        if prepared is None:
            from speechrnn.data.cache import prepare_data

            if not self.dist.main:
                _barrier(self.dist)
            for event in prepare_data(self.data, self.feature_config, self.cache_dir, self.cancel):
                if isinstance(event, Finished):
                    prepared = event.result
                else:
                    yield event
            if self.dist.main:
                _barrier(self.dist)
        if len(prepared.train) == 0:
            raise SpeechRNNError(f"{', '.join(self.data.sources)}: no training clips (all clips fell into the "
                                 "validation/testing splits; add speakers or lower the split percentages)")
        self.prepared = prepared
        self.labels = list(prepared.labels)
        if self.resumed_labels is not None and self.labels != self.resumed_labels:
            raise SpeechRNNError(f"{self.out_dir}: the data's labels changed since the run started "
                                 f"({', '.join(self.resumed_labels)} -> {', '.join(self.labels)})")
        self.model_config = dataclasses.replace(self.model_config, num_classes=len(self.labels),
                                                input_dim=self.feature_config.feature_dim)
        self.settings = _settings(self.data, self.feature_config, self.model_config, self.augment, self.config)

    # ---- model, optimizer, schedule
    def build(self) -> EventStream:
        from speechrnn.data.cache import cached_features
        from speechrnn.features import FeatureExtractor
        from speechrnn.model import RNNClassifier

        config, prepared, device = self.config, self.prepared, self.device
        torch.manual_seed(config.seed)
        self.model = RNNClassifier(self.model_config)
        self.extractor = FeatureExtractor(self.feature_config).to(device)
        cached_train = None
        if not self.augment.wave_augmentation:
            yield Stage("features", "Computing clean features once (no waveform augmentation)")
            cached_train = cached_features(prepared.train, self.extractor, self.cache_dir)
        if self.resumed_weights is not None:
            self.model.load_state_dict(self.resumed_weights)
        else:
            self.model.set_normalization(*_normalization_stats(
                prepared.train.waves, prepared.train.is_silence, self.extractor, device, config.seed, cached_train))
            if config.gate_init == "chrono" or (config.gate_init == "auto" and self.model.config.pooling == "last"):
                chrono_init(self.model, self.feature_config.clip_frames, torch.Generator().manual_seed(config.seed))
        self.precision = resolve_precision(config.precision, device)
        self.autocast = speed_up(self.model, device, self.precision, config.fast_rnn)
        if device.type == "cpu":
            tune_cpu_runtime()
        self.model.to(device)
        self.trained = self.model
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            self.trained = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.val_frames = (cached_features(prepared.validation, self.extractor, self.cache_dir)
                           if len(prepared.validation) else None)
        self.maker = BatchMaker(prepared.train.waves, prepared.train.is_silence, self.extractor, self.augment,
                                prepared.noise, self.feature_config.sample_rate_hz, device, cached_train)
        self.weights = source_balance_weights(prepared.train.sources) if config.balance_sources else None
        yield from self._schedule()

    def _schedule(self) -> EventStream:
        config, clips = self.config, len(self.prepared.train)
        self.batch_size = effective_batch_size(config, clips)
        if self.batch_size != config.batch_size:
            yield Message(f"batch size {self.batch_size} instead of {config.batch_size}: {clips} training clips "
                          f"would give fewer than {config.min_steps} steps per epoch (min_steps)")
        batches_per_epoch = len(epoch_batches(torch.arange(clips), self.batch_size, self.dist.world))
        if batches_per_epoch == 0:
            raise SpeechRNNError(f"{clips} training clips cannot be shared by {self.dist.world} processes")
        total_steps = batches_per_epoch * config.epochs
        warmup_steps = round(config.warmup_epochs * batches_per_epoch)
        self.optimizer = _optimizer(self.model, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, warmup_steps, total_steps, config.min_lr_ratio))
        if self.resume_state is not None:
            self.optimizer.load_state_dict(self.resume_state["optimizer"])
            self.scheduler.load_state_dict(self.resume_state["scheduler"])

    # ---- run folder and checkpoints
    def open_run_folder(self, replace: bool) -> None:
        self.description = dict(self.prepared.description)
        self.description["licenses"] = _source_licenses(self.description)
        self.description["world_size"] = self.dist.world
        if not self.dist.main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if replace:
            for name in STALE_FILES:
                (self.out_dir / name).unlink(missing_ok=True)
        write_text_atomic(self.out_dir / CONFIG_NAME, json.dumps(self.settings, indent=2) + "\n")

    def _checkpoint(self, metrics: dict, extra: dict):
        from speechrnn.checkpoint import Checkpoint

        weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        return Checkpoint(model_config=self.model_config, feature_config=self.feature_config, labels=self.labels,
                          state_dict=weights, train_config=self.settings, metrics=metrics, data=self.description,
                          recipe=self.recipe, extra=extra)

    def save_last(self, metrics: dict) -> None:
        from speechrnn.checkpoint import save_checkpoint

        if self.dist.main:
            state = {"settings": self.settings, "run": self.run.to_dict(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict()}
            save_checkpoint(self._checkpoint(metrics, {"resume": state}), self.out_dir / LAST_NAME)

    def announce(self) -> EventStream:
        prepared, cfg = self.prepared, self.model_config
        if prepared.skipped:
            yield Message(f"training without {len(prepared.skipped)} unreadable file(s)", level="warning")
        if not len(prepared.validation):
            yield Message("no validation clips: best.pt is chosen by training accuracy", level="warning")
        yield Message(f"{len(prepared.train)} training / {len(prepared.validation)} validation / "
                      f"{len(prepared.testing)} test clips, {len(self.labels)} classes, "
                      f"{self.model.num_parameters():,} parameters, on {self.device} ({self.precision})"
                      + (f" x {self.dist.world} processes" if self.dist.active else ""))
        yield Stage("train", f"Training {cfg.cell.upper()} {cfg.layers}x{cfg.hidden} for {self.config.epochs} "
                             f"epochs into {self.out_dir}")
        if self.run.epoch >= self.config.epochs:
            yield Message(f"{self.out_dir}: the run already finished its {self.config.epochs} epochs")

    # ---- the loop
    def train_epoch(self) -> EventStream:
        run, config = self.run, self.config
        epoch = run.epoch + 1
        order = epoch_order(len(self.prepared.train), config.seed, epoch, self.weights)
        batches = epoch_batches(order, self.batch_size, self.dist.world)
        self.trained.train()
        for index in range(run.batch, len(batches)):
            if _any_rank(self.cancel.cancelled, self.dist):
                self.save_last({"epoch": run.epoch, "interrupted_at_batch": run.batch})
                yield Message(f"interrupted: saved {self.out_dir / LAST_NAME}; continue with --resume", level="warning")
                raise Cancelled()
            started = time.perf_counter()
            loss_sum, correct, seen = self._step(batches[index][self.dist.rank :: self.dist.world], epoch, index)
            run.step += 1
            run.batch = index + 1
            for key, value in (("loss", loss_sum), ("correct", correct), ("seen", seen),
                               ("seconds", time.perf_counter() - started)):
                run.sums[key] += value
            yield Progress("train", index + 1, len(batches), unit="batch", metrics={
                "loss": run.sums["loss"] / run.sums["seen"], "acc": run.sums["correct"] / run.sums["seen"],
                "samples/s": run.sums["seen"] / max(run.sums["seconds"], 1e-9), "epoch": epoch})

    def _step(self, shard: torch.Tensor, epoch: int, index: int) -> list[float]:
        """One optimizer step on this rank's ``shard``; (loss sum, correct, count) over all ranks."""
        config = self.config
        seed = batch_seed(config.seed, epoch, index, self.dist.rank)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # dropout
        frames = self.maker.frames(shard, generator, fill=self.model.feature_mean)
        targets = self.prepared.train.targets[shard].to(self.device)
        with self.autocast():
            logits, _ = self.trained(frames)
        logits = logits.float()
        loss = F.cross_entropy(logits, targets, label_smoothing=config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return _all_sum([loss.item() * len(shard), float((logits.argmax(1) == targets).sum()), float(len(shard))],
                        self.dist)

    def end_epoch(self) -> EpochEnd:
        """Validate, keep the best, save last.pt, metrics.jsonl and the plot."""
        run = self.run
        epoch = run.epoch + 1
        sums = run.sums
        row = {"epoch": epoch, "train_loss": sums["loss"] / sums["seen"], "train_acc": sums["correct"] / sums["seen"],
               "val_loss": None, "val_acc": None, "lr": self.scheduler.get_last_lr()[0],
               "samples_per_s": sums["seen"] / max(sums["seconds"], 1e-9), "train_seconds": sums["seconds"],
               "batch_size": self.batch_size}
        if self.val_frames is not None:
            row["val_loss"], row["val_acc"] = _validate(self.model, self.val_frames, self.prepared.validation.targets,
                                                       self.device, self.dist)
        score = row["val_acc"] if row["val_acc"] is not None else row["train_acc"]
        loss = row["val_loss"] if row["val_loss"] is not None else row["train_loss"]
        improved = score > run.best_val_acc or (score == run.best_val_acc and loss < run.best_val_loss)
        if improved:
            run.best_val_acc, run.best_val_loss, run.best_epoch = score, loss, epoch
        run.history.append(row)
        run.epoch, run.batch, run.sums = epoch, 0, _Run().sums
        if self.dist.main:
            from speechrnn.checkpoint import save_checkpoint

            metrics = {**row, "best_val_acc": run.best_val_acc, "best_epoch": run.best_epoch}
            if improved:
                save_checkpoint(self._checkpoint(metrics, {}), self.out_dir / BEST_NAME)
            self.save_last(metrics)
            write_text_atomic(self.out_dir / METRICS_NAME, "".join(json.dumps(r) + "\n" for r in run.history))
            plot_curves(run.history, self.out_dir / PLOT_NAME)
        return EpochEnd(epoch, self.config.epochs, {k: v for k, v in row.items() if k != "epoch" and v is not None})

    def finish(self) -> EventStream:
        """Test the best model (rank 0), write results.json, end with ``Finished(TrainResult)``."""
        run, out_dir = self.run, self.out_dir
        metrics = {"best_val_acc": run.best_val_acc, "best_epoch": run.best_epoch, "epochs": run.epoch,
                   "samples_per_s": _mean_rate(run.history)}
        if run.history:
            metrics.update({k: run.history[-1][k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")})
        testing = self.prepared.testing
        if self.dist.main and len(testing) and (out_dir / BEST_NAME).is_file():
            yield Stage("test", f"Testing the best model (epoch {run.best_epoch}) on {len(testing)} clips")
            metrics.update(_test_best(out_dir / BEST_NAME, self.prepared, self.extractor, self.device, self.cancel))
        if self.dist.main:
            write_text_atomic(out_dir / RESULTS_NAME, json.dumps(metrics, indent=2) + "\n")
        _barrier(self.dist)
        yield Finished(TrainResult(out_dir, out_dir / BEST_NAME, out_dir / LAST_NAME, metrics))


def _mean_rate(history: list[dict]) -> float:
    seen = sum(r["samples_per_s"] * r["train_seconds"] for r in history)
    seconds = sum(r["train_seconds"] for r in history)
    return seen / seconds if seconds else 0.0


@torch.no_grad()
def _validate(model, frames: torch.Tensor, targets: torch.Tensor, device: torch.device,
              dist_env: _Dist) -> tuple[float, float]:
    """Validation loss and accuracy (each rank scores its share; sums are combined)."""
    from speechrnn.evaluate import frames_logits

    rows = torch.arange(dist_env.rank, len(frames), dist_env.world)
    was_training = model.training
    logits = frames_logits(model, frames[rows], device)
    model.train(was_training)
    loss = F.cross_entropy(logits, targets[rows], reduction="sum")
    correct = (logits.argmax(1) == targets[rows]).sum()
    loss_sum, correct_sum, count = _all_sum([float(loss), float(correct), float(len(rows))], dist_env)
    return loss_sum / count, correct_sum / count


def _test_best(path: Path, prepared, extractor, device: torch.device, cancel: CancelToken) -> dict[str, Any]:
    """Accuracy of the saved best model on the test split, overall and per source; stored in best.pt."""
    from speechrnn.checkpoint import load_model, save_checkpoint
    from speechrnn.evaluate import score

    model, ckpt = load_model(path, device)
    metrics, _, _ = score(model, extractor, prepared.testing, list(ckpt.labels), device, cancel)
    test = {"test_accuracy": metrics["accuracy"], "test_clips": metrics["clips"],
            "test_macro_f1": metrics["macro_f1"], "test_per_source": metrics["per_source"]}
    ckpt.metrics = {**ckpt.metrics, **test}
    save_checkpoint(ckpt, path)
    return test


# --------------------------------------------------------------------------------- throughput
def measure_training_throughput(cell: str = "gru", hidden: int = 128, layers: int = 2, batch_size: int = 256,
                                seconds: float = 10.0, augment=None, feature_config=None,
                                fast_rnn: bool = True, device: str = "cpu", classes: int = 12,
                                warmup_batches: int = 2, precision: str = "auto") -> float:
    """Training samples/s of the real per-batch path on random one-second clips held in memory.

    Same code as :func:`train`: float16 waves -> augmentation (noise, shift, SpecAugment by
    default) -> features -> model -> loss -> backward -> clipping -> AdamW step. Runs for about
    ``seconds`` after ``warmup_batches`` untimed batches.
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
    autocast = speed_up(model, target, resolve_precision(precision, target), fast_rnn)
    if target.type == "cpu":
        tune_cpu_runtime()
    model.to(target).train()
    extractor = FeatureExtractor(feature_config).to(target)
    maker = BatchMaker(waves, silence, extractor, augment, noise, feature_config.sample_rate_hz, target)
    optimizer = _optimizer(model, TrainConfig())
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
