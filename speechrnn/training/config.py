"""Training settings (:class:`TrainConfig`), the result of a run and the names of a run folder's files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechrnn.events import TRAIN_ON_CLIPS

BEST_NAME = "best.pt"
LAST_NAME = "last.pt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
PLOT_NAME = "curves.png"
RESULTS_NAME = "results.json"
RUN_FILES = (CONFIG_NAME, LAST_NAME, BEST_NAME, METRICS_NAME)  # the files of a run
PROGRESS_FILES = (LAST_NAME, BEST_NAME, METRICS_NAME)  # any of these means "a run with progress lives here"
STALE_FILES = RUN_FILES + (PLOT_NAME, RESULTS_NAME)  # replaced by a --force run
PRECISIONS = ("float32", "bfloat16", "auto")
GATE_INITS = ("auto", "pytorch", "chrono")
OBJECTIVES = ("stream", "clip")
KEEP_RULES = ("auto", "best", "final")
# Below this many validation clips "auto" keeps the final weights: one clip is 1/n of the accuracy
# and its sampling error about sqrt(p (1 - p) / n) (4 points at 90 % on a custom word's 56 clips), far
# more than late epochs differ by, so the "best" epoch is chosen by chance. Measured on a custom word
# (bench.custom_word --split validation, "lights", training seeds 0 and 1, 56 validation clips): the
# best validation accuracy kept epochs 87 and 73 of 150 (hits 85.8 / 80.7 %, false accepts 0.4 / 4.4
# per 100 real other words); the final weights gave 88.1 / 85.3 % and 2.2 / 1.0.
FEW_VALIDATION_CLIPS = 300
STREAM_LOSSES = ("ce", "max")


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
    fast_rnn: bool = True  # fused CPU GRU training kernel where measured faster here (speechrnn.training.rnn_kernel)
    # CPU matrix products: float32, bfloat16 (mixed precision) or auto (bfloat16 where the CPU has
    # AMX bfloat16 units). Measured on such a CPU, 2x128 GRU on the digits: 1,042 vs 921 samples/s
    # end to end, held-out accuracy 85.8 % vs 86.0 % (FSDD, 500 clips), the same on Speech Commands.
    precision: str = "auto"
    min_steps: int = 20  # small data: the batch shrinks so that an epoch has at least this many steps
    # draw the sources of each class equally often (speechrnn.data.sampling.label_source_weights)
    balance_sources: bool = False
    # with balance_sources: _unknown_'s draws are shared by its words (each other word of each source
    # as often as any other) instead of by its sources, so the few words of a large source (Speech
    # Commands v1's bed / cat / happy) do not crowd out the many words of the small ones
    balance_other_words: bool = False
    # "chrono": gate biases for long memory (see chrono_init); "auto": chrono when the decision is
    # read from the last frame only (measured, LSTM 2x128 "last" on the digits: 36 % -> 78 %)
    gate_init: str = "auto"
    # "stream": continuous audio, a target at every frame, state carried between segments
    # (speechrnn.training.stream_batches); "clip": one label per 1 s clip from a zero state.
    objective: str = "stream"
    stream_segment_s: float = 3.0  # audio per lane and optimizer step (truncated BPTT length)
    stream_target_ms: float = 200.0  # length of a word's target window ...
    stream_target_lead_ms: float = 100.0  # ... which starts this long before the word's end
    stream_loss: str = "ce"  # "ce" at every frame, or "max": each word's best frame in its window
    stream_reset_prob: float = 0.05  # chance per lane and step that its carried state is zeroed
    # lanes whose background includes a steady hum or tone, at a level drawn from
    # [stream_hum_min_db, stream_hum_max_db] relative to the lane's noise (before the SNR scaling);
    # the digits and commands models' last stage hears more and louder hum (assets/README.md)
    stream_hum_prob: float = 0.3
    stream_hum_min_db: float = -12.0
    stream_hum_max_db: float = 6.0
    # stream objective: > 0 trains a source adversary beside the network, whose reversed gradient
    # (up to this strength) teaches the network to hide which source folder a word came from
    # (speechrnn.training.source_adversary; experimental, off by default)
    source_adversary_weight: float = 0.0
    # stream objective: a stream-trained model (one network or an ensemble) on the same labels and
    # features whose per-frame posteriors at temperature distill_temperature the network also learns
    # to match, weighted distill_weight (speechrnn.training.distillation); "" = none
    distill_from: str = ""
    distill_weight: float = 1.0
    distill_temperature: float = 2.0
    # a checkpoint whose weights the run starts from instead of a fresh initialisation, with a new
    # learning-rate schedule (same network and features): on its labels, more epochs for a finished
    # run; on other labels, its network and a new head (speechrnn.training.base_network)
    init_from: str = ""
    # with init_from: this many of the network's lowest recurrent layers keep the weights they start
    # with (only the layers above them and the head learn). 0: every layer learns
    frozen_layers: int = 0
    # which weights best.pt keeps: "best" the epoch of the highest validation accuracy (ties: the lower
    # validation loss), "final" the last epoch's, "auto" final with fewer than FEW_VALIDATION_CLIPS
    # validation clips, else best
    keep: str = "auto"
    # the detection threshold recorded in the model, used by Listen and `speechrnn listen` unless the
    # user sets one (DetectorConfig.threshold None); None = the recognizer's default. Chosen for a kind
    # of training on its validation streams (custom words: speechrnn.custom_word.DETECTION_THRESHOLD)
    detection_threshold: float | None = None

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
        if self.keep not in KEEP_RULES:
            raise ValueError(f"keep must be one of {', '.join(KEEP_RULES)}, not {self.keep!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.stream_loss not in STREAM_LOSSES:
            raise ValueError(f"stream_loss must be one of {', '.join(STREAM_LOSSES)}, not {self.stream_loss!r}")
        if not self.stream_segment_s > 0 or not self.stream_target_ms > 0 or self.stream_target_lead_ms < 0:
            raise ValueError("stream_segment_s and stream_target_ms must be positive, stream_target_lead_ms not negative")
        if not 0 <= self.stream_reset_prob <= 1:
            raise ValueError("stream_reset_prob must be within [0, 1]")
        if not 0 <= self.stream_hum_prob <= 1:
            raise ValueError("stream_hum_prob must be within [0, 1]")
        if self.stream_hum_min_db > self.stream_hum_max_db:
            raise ValueError("stream_hum_min_db must not exceed stream_hum_max_db")
        if self.source_adversary_weight < 0:
            raise ValueError("source_adversary_weight must not be negative")
        if self.source_adversary_weight and self.objective != "stream":
            raise ValueError("source_adversary_weight reads the word frames of the stream objective: use objective stream")
        if self.distill_from and self.objective != "stream":
            raise ValueError("distill_from matches a teacher frame by frame on the stream objective: use objective stream")
        if self.distill_weight < 0 or not self.distill_temperature > 0:
            raise ValueError("distill_weight must not be negative and distill_temperature must be positive")
        if self.detection_threshold is not None and not 0 < self.detection_threshold <= 1:
            raise ValueError("detection_threshold must be within (0, 1]")
        if self.frozen_layers < 0:
            raise ValueError("frozen_layers must not be negative")
        if self.frozen_layers and not self.init_from:
            raise ValueError("frozen_layers keeps the weights a run starts from: it needs init_from")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")


@dataclass
class TrainResult:
    """Where the run is and how it went (``metrics``: best/last/test numbers, samples/s)."""

    out_dir: Path
    best_path: Path
    last_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    train_scored_on: str = TRAIN_ON_CLIPS  # what samples_per_s counts: clips, or the stream objective's frames

