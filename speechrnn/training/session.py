"""The training loop: a generator of progress events that ends with ``Finished(TrainResult)``.

Per batch: float16 waves from the in-memory cache -> waveform augmentation (noise, silence fill,
shift) -> features (the one :class:`~speechrnn.features.FeatureExtractor`) -> SpecAugment ->
model -> cross-entropy (optional label smoothing) -> AdamW with linear warmup + cosine decay and
gradient-norm clipping. Without waveform augmentation the clean features are computed once and
cached (:func:`speechrnn.data.cache.cached_features`). The stream objective may add a teacher's
posteriors to match (:mod:`speechrnn.training.distillation`) and a source adversary
(:mod:`speechrnn.training.source_adversary`; its guesses are counted on rank 0's shard only).

The run folder (``out_dir``) holds ``config.json`` (every setting), ``metrics.jsonl`` (one line per
epoch), ``curves.png``, ``best.pt`` (best validation accuracy, or the final weights: ``TrainConfig.keep``; with test metrics at the end),
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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from speechrnn import __version__
from speechrnn.atomic import write_text_atomic
from speechrnn.data.sampling import label_source_weights, other_word_keys
from speechrnn.data.spec import SILENCE as SILENCE_LABEL
from speechrnn.data.spec import UNKNOWN as UNKNOWN_LABEL
from speechrnn.errors import SpeechRNNError
from speechrnn.events import (TRAIN_ON_CLIPS, TRAIN_ON_FRAMES, Cancelled, CancelToken, EpochEnd, EventStream, Finished,
                              Message, Progress, Stage)
from speechrnn.training.clip_batches import BatchMaker, batch_seed, effective_batch_size, epoch_batches, epoch_order
from speechrnn.training.base_network import initial_weights, provenance
from speechrnn.training.config import (BEST_NAME, CONFIG_NAME, FEW_VALIDATION_CLIPS, LAST_NAME, METRICS_NAME,
                                       PLOT_NAME, RESULTS_NAME, STALE_FILES, TrainConfig, TrainResult)
from speechrnn.training.distillation import load_teacher
from speechrnn.training.distributed import DistEnv, all_sum, any_rank, barrier, distributed_env, init_distributed, set_threads
from speechrnn.training.model_init import chrono_init, freeze_lower_layers, normalization_stats
from speechrnn.training.run_folder import check_out_dir, plot_curves, source_licenses
from speechrnn.training.runtime import bfloat16_runs, resolve_precision, speed_up, tune_cpu_runtime
from speechrnn.training.schedule import lr_factor, make_optimizer
from speechrnn.training.source_adversary import SourceAdversary, reversal_scale, source_ids
from speechrnn.training.stream_batches import StreamBatches, stream_loss

VALIDATION_CHUNK_CLIPS = 512  # validation clips turned into features at a time


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
        self.dist = distributed_env()

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
        init_distributed(self.dist, self.device)
        set_threads(self.config, self.dist, self.device)

    # ---- data
    def prepare(self, prepared) -> EventStream:
        """Decode/split the data (rank 0 fills the cache first, the other ranks then read it)."""
        if prepared is None:
            from speechrnn.data.cache import prepare_data

            if not self.dist.main:
                barrier(self.dist)
            for event in prepare_data(self.data, self.feature_config, self.cache_dir, self.cancel):
                if isinstance(event, Finished):
                    prepared = event.result
                else:
                    yield event
            if self.dist.main:
                barrier(self.dist)
        if len(prepared.train) == 0:
            raise SpeechRNNError(f"{', '.join(self.data.sources)}: no training clips (all clips fell into the "
                                 "validation/testing splits; add speakers or lower the split percentages)")
        self.prepared = prepared
        self.labels = list(prepared.labels)
        if self.resumed_labels is not None and self.labels != self.resumed_labels:
            raise SpeechRNNError(f"{self.out_dir}: the data's labels changed since the run started "
                                 f"({', '.join(self.resumed_labels)} -> {', '.join(self.labels)})")
        if self.model_config.spectral_conv_channels and self.feature_config.kind != "mfcc":
            raise SpeechRNNError("a spectral front-end reads MFCC (it inverts their DCT): use --kind mfcc, or no "
                                 "--spectral-conv")
        if self.augment.channel_prob > 0 and self.config.objective != "stream":
            raise SpeechRNNError("channel_prob transplants recording chains into the stream objective's words: "
                                 "use objective stream")
        self.model_config = dataclasses.replace(self.model_config, num_classes=len(self.labels),
                                                input_dim=self.feature_config.feature_dim,
                                                spectral_bands=self.feature_config.n_mels)
        if self.config.objective == "stream":
            self.model_config = dataclasses.replace(self.model_config, pooling="last", bidirectional=False,
                                                    objective="stream", background_class=self._background_class())
        self.settings = _settings(self.data, self.feature_config, self.model_config, self.augment, self.config)

    def _background_class(self) -> int:
        """The class of every frame outside a word (stream objective): _silence_, else _unknown_."""
        for name in (SILENCE_LABEL, UNKNOWN_LABEL):
            if name in self.labels:
                return self.labels.index(name)
        raise SpeechRNNError(f"{', '.join(self.data.sources)}: the stream objective needs a {SILENCE_LABEL} or "
                             f"{UNKNOWN_LABEL} class (keep silence/unknown on) or use --objective clip")

    def _other_word_classes(self) -> tuple[int, ...]:
        """The classes of words outside the vocabulary (what babble is made of): ``_unknown_``, or each
        other word's own class when the data spec trains them apart (``unknown_by_word``)."""
        if UNKNOWN_LABEL in self.labels:
            return (self.labels.index(UNKNOWN_LABEL),)
        vocabulary = self.data.vocabulary
        if not self.data.unknown_by_word or vocabulary is None:
            return ()
        return tuple(i for i, label in enumerate(self.labels) if label not in vocabulary and label != SILENCE_LABEL)

    def _balance_keys(self) -> list[str]:
        """What balance_sources shares each class's draws by: the source, or for the other words of
        ``_unknown_`` (``balance_other_words``) the source and the word."""
        train = self.prepared.train
        if not self.config.balance_other_words or UNKNOWN_LABEL not in self.labels:
            return list(train.sources)
        return other_word_keys(train.sources, train.targets.tolist(),
                               [clip.label if clip is not None else None for clip in train.clips],
                               self.labels.index(UNKNOWN_LABEL))

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
        stream = config.objective == "stream"
        if not self.augment.wave_augmentation and not stream:
            yield Stage("features", "Computing clean features once (no waveform augmentation)")
            cached_train = cached_features(prepared.train, self.extractor, self.cache_dir)
        if self.resumed_weights is not None:
            self.model.load_state_dict(self.resumed_weights)
        elif config.init_from:
            weights, shared = self._initial_weights(Path(config.init_from))
            self.model.load_state_dict(weights)
            kept = ("its network and head" if shared == self.labels else
                    f"its network and its head for {', '.join(shared)}; new for the rest" if shared else
                    "its network; a new head")
            yield Message(f"starting from the weights of {config.init_from} ({kept})")
        else:
            self.model.set_normalization(*normalization_stats(
                prepared.train.waves, prepared.train.is_silence, self.extractor, device, config.seed, cached_train))
            if config.gate_init == "chrono" or (config.gate_init == "auto" and self.model.config.pooling == "last"):
                chrono_init(self.model, self.feature_config.clip_frames, torch.Generator().manual_seed(config.seed))
        if config.frozen_layers:
            learning = freeze_lower_layers(self.model, config.frozen_layers)
            yield Message(f"the lowest {config.frozen_layers} recurrent layer(s) keep their weights: "
                          f"{learning:,} of {self.model.num_parameters():,} parameters learn")
        self.precision = resolve_precision(config.precision, device)
        if self.precision == "bfloat16" and not bfloat16_runs(self.model, device):
            self.precision = "float32"
            yield Message("this CPU has no bfloat16 kernels for the LSTM (they need AVX-512 or AMX): "
                          "training in float32", level="warning")
        shard = max(1, effective_batch_size(config, len(prepared.train)) // self.dist.world)  # clips or lanes
        step_frames = (self.feature_config.num_frames(round(config.stream_segment_s * self.feature_config.sample_rate_hz))
                       if stream else self.feature_config.clip_frames)
        self.autocast = speed_up(self.model, device, self.precision, config.fast_rnn, batch_shape=(shard, step_frames))
        if device.type == "cpu":
            tune_cpu_runtime()
        self.model.to(device)
        self.trained = self.model
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            self.trained = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.val_frames = self._validation_frames() if len(prepared.validation) else None
        self.keep_final = config.keep == "final" or (
            config.keep == "auto" and self.val_frames is not None and len(prepared.validation) < FEW_VALIDATION_CLIPS)
        if stream:
            self.maker = StreamBatches(
                prepared.train.waves, prepared.train.targets, prepared.train.is_silence, self.extractor,
                self.feature_config, self.augment, prepared.noise, device, segment_s=config.stream_segment_s,
                target_ms=config.stream_target_ms, target_lead_ms=config.stream_target_lead_ms,
                hum_prob=config.stream_hum_prob, hum_level_db=(config.stream_hum_min_db, config.stream_hum_max_db),
                background_class=self.model_config.background_class, other_word_classes=self._other_word_classes(),
                speakers=[clip.speaker if clip is not None else None for clip in prepared.train.clips],
                words=[clip.label if clip is not None else None for clip in prepared.train.clips])
        else:
            self.maker = BatchMaker(prepared.train.waves, prepared.train.is_silence, self.extractor, self.augment,
                                    prepared.noise, self.feature_config.sample_rate_hz, device, cached_train)
        self.weights = (label_source_weights(prepared.train.targets, self._balance_keys())
                        if config.balance_sources else None)
        self.lane_state = None  # stream objective: the lanes' carried state (zero after a resume)
        self.adversary = None
        if stream and config.source_adversary_weight > 0:
            yield from self._build_adversary()
        self.teacher = None
        if stream and config.distill_from:
            self.teacher = load_teacher(config.distill_from, self.labels, self.feature_config, device,
                                        config.distill_temperature)
            yield Message(f"learning also from {config.distill_from}'s posteriors at every frame "
                          f"(weight {config.distill_weight:g}, temperature {config.distill_temperature:g})")
        yield from self._schedule()

    def _build_adversary(self) -> EventStream:
        """The source adversary (speechrnn.training.source_adversary) and the hook that hands it the
        network's output (the head's input) at every frame."""
        train = self.prepared.train
        self.clip_source, names = source_ids(list(train.sources), train.is_silence.tolist())
        if len(names) < 2:
            raise SpeechRNNError(f"{', '.join(self.data.sources)}: source_adversary_weight needs training clips from "
                                 "at least two source folders")
        self.adversary = SourceAdversary(self.model.head.in_features, len(self.labels), len(names)).to(self.device)
        self.head_input: torch.Tensor | None = None
        self.model.head.register_forward_pre_hook(self._keep_head_input)
        yield Message(f"source adversary (up to {self.config.source_adversary_weight:g}) over {len(names)} sources: "
                      + ", ".join(Path(name).name for name in names))

    def _keep_head_input(self, module, inputs) -> None:
        self.head_input = inputs[0]

    def _initial_weights(self, path: Path) -> tuple[dict, list[str]]:
        """Weights to start from and the labels whose head rows they keep (speechrnn.training.base_network)."""
        from speechrnn.checkpoint import load_checkpoint

        return initial_weights(load_checkpoint(path), self.labels, self.model_config, self.feature_config,
                               self.model.state_dict())

    @torch.no_grad()
    def _validation_frames(self) -> torch.Tensor:
        """Clean features of the validation clips; for a stream-trained model each clip is followed by
        the silence it is scored with (``ModelConfig.tail_samples``), so these are computed, not cached."""
        from speechrnn.data.cache import cached_features

        validation = self.prepared.validation
        tail = self.model_config.tail_samples(self.feature_config.sample_rate_hz)
        if not tail:
            return cached_features(validation, self.extractor, self.cache_dir)
        parts = [self.extractor(F.pad(part.to(self.device, torch.float32), (0, tail))).to(torch.float16).cpu()
                 for part in validation.waves.split(VALIDATION_CHUNK_CLIPS)]
        return torch.cat(parts)

    def _schedule(self) -> EventStream:
        config, clips = self.config, len(self.prepared.train)
        self.batch_size = effective_batch_size(config, clips)
        if self.batch_size != config.batch_size:
            yield Message(f"batch size {self.batch_size} instead of {config.batch_size}: {clips} training clips "
                          f"would give fewer than {config.min_steps} steps per epoch (min_steps)")
        batches_per_epoch = len(self._epoch_batches(1))
        if batches_per_epoch == 0:
            raise SpeechRNNError(f"{clips} training clips cannot be shared by {self.dist.world} processes")
        total_steps = batches_per_epoch * config.epochs
        warmup_steps = round(config.warmup_epochs * batches_per_epoch)
        self.total_steps = total_steps
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, warmup_steps, total_steps, config.min_lr_ratio))
        if self.adversary is not None:
            self.adversary_optimizer = torch.optim.AdamW(self.adversary.parameters(), lr=config.lr,
                                                         weight_decay=config.weight_decay)
        if self.resume_state is not None:
            self.optimizer.load_state_dict(self.resume_state["optimizer"])
            self.scheduler.load_state_dict(self.resume_state["scheduler"])
            if self.adversary is not None and "adversary" in self.resume_state:
                self.adversary.load_state_dict(self.resume_state["adversary"]["weights"])
                self.adversary_optimizer.load_state_dict(self.resume_state["adversary"]["optimizer"])

    def _epoch_batches(self, epoch: int) -> list:
        """The global batches of ``epoch`` (the same on every rank): clip indices, or for the stream
        objective the planned segments of every lane."""
        config = self.config
        order = epoch_order(len(self.prepared.train), config.seed, epoch, self.weights)
        if config.objective == "stream":
            generator = torch.Generator().manual_seed(batch_seed(config.seed, epoch, 0))
            return self.maker.plan_epoch(order, self.batch_size, generator)
        return epoch_batches(order, self.batch_size, self.dist.world)

    # ---- run folder and checkpoints
    def open_run_folder(self, replace: bool) -> None:
        self.description = dict(self.prepared.description)
        self.description["licenses"] = source_licenses(self.description)
        self.description["world_size"] = self.dist.world
        if self.config.init_from:  # a model made from another's weights says whose, and their data's licenses
            self.description["started_from"] = provenance(self.config.init_from)
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
            if self.adversary is not None:
                state["adversary"] = {"weights": self.adversary.state_dict(),
                                      "optimizer": self.adversary_optimizer.state_dict()}
            save_checkpoint(self._checkpoint(metrics, {"resume": state}), self.out_dir / LAST_NAME)

    def announce(self) -> EventStream:
        prepared, cfg = self.prepared, self.model_config
        if prepared.skipped:
            yield Message(f"training without {len(prepared.skipped)} unreadable file(s)", level="warning")
        if not len(prepared.validation):
            yield Message("no validation clips: best.pt is chosen by training accuracy", level="warning")
        elif self.keep_final and self.config.keep == "auto":
            yield Message(f"only {len(prepared.validation)} validation clips, too few to tell epochs apart: "
                          "best.pt keeps the final weights")
        yield Message(f"{len(prepared.train)} training / {len(prepared.validation)} validation / "
                      f"{len(prepared.testing)} test clips, {len(self.labels)} classes, "
                      f"{self.model.num_parameters():,} parameters, on {self.device} ("
                      + (f"{torch.cuda.get_device_name(self.device)}, " if self.device.type == "cuda" else "")
                      + f"{self.precision})"
                      + (f" x {self.dist.world} processes" if self.dist.active else ""))
        yield Stage("train", f"Training {cfg.cell.upper()} {cfg.layers}x{cfg.hidden} for {self.config.epochs} "
                             f"epochs into {self.out_dir}")
        if self.resume_state is not None and self.run.epoch < self.config.epochs:
            within = f"; epoch {self.run.epoch + 1} continues after batch {self.run.batch}" if self.run.batch else ""
            yield Message(f"resuming from {self.out_dir / LAST_NAME}: {self.run.epoch} of {self.config.epochs} "
                          f"epochs done{within}")
        if self.run.epoch >= self.config.epochs:
            yield Message(f"{self.out_dir}: the run already finished its {self.config.epochs} epochs")

    # ---- the loop
    def train_epoch(self) -> EventStream:
        run, config = self.run, self.config
        epoch = run.epoch + 1
        batches = self._epoch_batches(epoch)
        step = self._stream_step if config.objective == "stream" else self._step
        self.trained.train()
        for index in range(run.batch, len(batches)):
            if any_rank(self.cancel.cancelled, self.dist):
                self.save_last({"epoch": run.epoch, "interrupted_at_batch": run.batch})
                yield Message(f"interrupted: saved {self.out_dir / LAST_NAME}; continue with --resume", level="warning")
                raise Cancelled()
            started = time.perf_counter()
            loss_sum, correct, seen = step(batches[index][self.dist.rank :: self.dist.world], epoch, index)
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
        generator = self._seeded(epoch, index)
        frames = self.maker.frames(shard, generator, fill=self.model.feature_mean)
        targets = self.prepared.train.targets[shard].to(self.device)
        with self.autocast():
            logits, _ = self.trained(frames)
        logits = logits.float()
        loss = F.cross_entropy(logits, targets, label_smoothing=self.config.label_smoothing)
        self._optimize(loss)
        return all_sum([loss.item() * len(shard), float((logits.argmax(1) == targets).sum()), float(len(shard))],
                        self.dist)

    def _stream_step(self, lanes: list, epoch: int, index: int) -> list[float]:
        """One optimizer step on this rank's lanes of a stream segment, the state carried over from
        the lanes' previous segment (truncated BPTT); (loss sum, correct frames, frames) over all ranks."""
        config = self.config
        generator = self._seeded(epoch, index)
        frames, targets, word_ids = self.maker.render(lanes, generator, fill=self.model.feature_mean)
        state, keep = self.lane_state, None
        if state is None or state[0].shape[1] != len(lanes):
            state = self.model.initial_state(len(lanes), self.device)
        elif config.stream_reset_prob > 0:
            keep = (torch.rand(len(lanes), generator=generator) >= config.stream_reset_prob).float().to(self.device)
            state = tuple(t * keep.view(1, -1, 1) for t in state)
        soft_targets = self.teacher.soft_targets(frames, keep) if self.teacher is not None else None
        with self.autocast():
            logits, new_state = self.trained(frames, state, frame_logits=True)
        self.lane_state = tuple(t.detach() for t in new_state)
        loss = stream_loss(logits, targets, word_ids, config.stream_loss, config.label_smoothing)
        total = loss
        if self.adversary is not None:
            total = total + self._adversary_loss(lanes, targets, word_ids)
        if soft_targets is not None:
            total = total + config.distill_weight * self.teacher.loss(logits, soft_targets, word_ids)
        self._optimize(total)
        count = targets.numel()
        correct = float((logits.detach().argmax(-1) == targets).sum())
        return all_sum([loss.item() * count, correct, float(count)], self.dist)

    def _adversary_loss(self, lanes: list, targets: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        """The source adversary's loss on this step's word frames (their clips' sources, given their
        classes); counts how many sources it told apart into the run's sums (``source_acc``)."""
        inside = word_ids >= 0
        if not bool(inside.any()):
            return targets.new_zeros((), dtype=torch.float32)
        clips = torch.tensor([placement.clip for placed in lanes for placement in placed], dtype=torch.long)
        sources = self.clip_source[clips[word_ids[inside].cpu()]].to(self.device)
        scale = reversal_scale(self.scheduler.last_epoch / max(1, self.total_steps),
                               self.config.source_adversary_weight)
        loss, correct = self.adversary.loss(self.head_input[inside], targets[inside], sources, scale)
        sums = self.run.sums
        sums["source_correct"] = sums.get("source_correct", 0.0) + correct
        sums["source_seen"] = sums.get("source_seen", 0.0) + float(len(sources))
        return loss

    def _seeded(self, epoch: int, index: int) -> torch.Generator:
        """The generator of batch ``index``'s random choices; torch's global seed too (dropout)."""
        seed = batch_seed(self.config.seed, epoch, index, self.dist.rank)
        torch.manual_seed(seed)
        return torch.Generator().manual_seed(seed)

    def _optimize(self, loss: torch.Tensor) -> None:
        """Backward, gradient-norm clipping, AdamW step, schedule step (and the source adversary's step)."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.adversary is not None:
            self.adversary_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.adversary is not None:
            self.adversary_optimizer.step()
        self.scheduler.step()

    def end_epoch(self) -> EpochEnd:
        """Validate, keep the best, save last.pt, metrics.jsonl and the plot."""
        run = self.run
        epoch = run.epoch + 1
        sums = run.sums
        row = {"epoch": epoch, "train_loss": sums["loss"] / sums["seen"], "train_acc": sums["correct"] / sums["seen"],
               "val_loss": None, "val_acc": None, "lr": self.scheduler.get_last_lr()[0],
               "samples_per_s": sums["seen"] / max(sums["seconds"], 1e-9), "train_seconds": sums["seconds"],
               "batch_size": self.batch_size}
        if sums.get("source_seen"):
            row["source_acc"] = sums["source_correct"] / sums["source_seen"]  # the adversary's, on word frames
        if self.val_frames is not None:
            row["val_loss"], row["val_acc"] = _validate(self.model, self.val_frames, self.prepared.validation.targets,
                                                       self.device, self.dist)
        score = row["val_acc"] if row["val_acc"] is not None else row["train_acc"]
        loss = row["val_loss"] if row["val_loss"] is not None else row["train_loss"]
        improved = self.keep_final or score > run.best_val_acc or (score == run.best_val_acc and loss < run.best_val_loss)
        if improved:
            run.best_val_acc, run.best_val_loss, run.best_epoch = score, loss, epoch
        run.history.append(row)
        run.epoch, run.batch, run.sums = epoch, 0, _Run().sums
        if self.dist.main:
            from speechrnn.checkpoint import save_checkpoint

            metrics = {**row, **self._best_metrics()}
            if improved:
                save_checkpoint(self._checkpoint(metrics, {}), self.out_dir / BEST_NAME)
            self.save_last(metrics)
            write_text_atomic(self.out_dir / METRICS_NAME, "".join(json.dumps(r) + "\n" for r in run.history))
            plot_curves(run.history, self.out_dir / PLOT_NAME, self.train_scored_on)
        return EpochEnd(epoch, self.config.epochs, {k: v for k, v in row.items() if k != "epoch" and v is not None},
                        kept_epoch=run.best_epoch, keeps_final=self.keep_final, train_scored_on=self.train_scored_on)

    @property
    def train_scored_on(self) -> str:
        """What the training loss, accuracy and rate count: the stream objective's frames, else clips."""
        return TRAIN_ON_FRAMES if self.config.objective == "stream" else TRAIN_ON_CLIPS

    def _best_metrics(self) -> dict:
        """The best epoch's score, named for what chose it: validation, else training accuracy."""
        key = "best_val_acc" if self.val_frames is not None else "best_train_acc"
        return {key: self.run.best_val_acc, "best_epoch": self.run.best_epoch}

    def finish(self) -> EventStream:
        """Test the best model (rank 0), write results.json, end with ``Finished(TrainResult)``."""
        run, out_dir = self.run, self.out_dir
        metrics = {**self._best_metrics(), "epochs": run.epoch, "samples_per_s": _mean_rate(run.history)}
        if run.history:
            metrics.update({k: run.history[-1][k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")})
        testing = self.prepared.testing
        if self.dist.main and len(testing) and (out_dir / BEST_NAME).is_file():
            yield Stage("test", f"Testing the best model (epoch {run.best_epoch}) on {len(testing)} clips")
            metrics.update(_test_best(out_dir / BEST_NAME, self.prepared, self.extractor, self.device, self.cancel))
        if self.dist.main:
            write_text_atomic(out_dir / RESULTS_NAME, json.dumps(metrics, indent=2) + "\n")
        barrier(self.dist)
        yield Finished(TrainResult(out_dir, out_dir / BEST_NAME, out_dir / LAST_NAME, metrics, self.train_scored_on))


def _mean_rate(history: list[dict]) -> float:
    seen = sum(r["samples_per_s"] * r["train_seconds"] for r in history)
    seconds = sum(r["train_seconds"] for r in history)
    return seen / seconds if seconds else 0.0


@torch.no_grad()
def _validate(model, frames: torch.Tensor, targets: torch.Tensor, device: torch.device,
              dist_env: DistEnv) -> tuple[float, float]:
    """Validation loss and accuracy (each rank scores its share; sums are combined)."""
    from speechrnn.evaluate import frames_logits

    rows = torch.arange(dist_env.rank, len(frames), dist_env.world)
    was_training = model.training
    logits = frames_logits(model, frames[rows], device)
    model.train(was_training)
    loss = F.cross_entropy(logits, targets[rows], reduction="sum")
    correct = (logits.argmax(1) == targets[rows]).sum()
    loss_sum, correct_sum, count = all_sum([float(loss), float(correct), float(len(rows))], dist_env)
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

