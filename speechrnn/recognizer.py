"""Streaming recognition: push audio in, get word detections out (openWakeWord style, no audio I/O).

``Recognizer.push(samples) -> list[Detection]`` takes 16 kHz float32 audio in chunks of any size
and returns the words detected in it. The result does not depend on how the stream is chunked.

Per pushed chunk:

1. MFCC / log-mel frames are computed incrementally (:class:`~speechrnn.features.StreamingFeatures`:
   each sample is framed once).
2. Unidirectional models step the RNN with its carried hidden state: all new frames of the chunk go
   through ``model.forward_frames`` in one call (no Python per frame), so the cost per 10 ms is
   about one cell step. Bidirectional models cannot carry state; they fall back to re-running a
   1 s window every ``window_stride_ms`` (``mode="window"`` forces that for any model, which is
   also the baseline the speed benchmark compares with).
3. Clip-trained models (``objective == "clip"``; stream-trained ones: see below) learn on 1 s clips
   that start from a zero state, so a state carried
   for hours drifts out of what the model has seen. The state has ``lanes`` (K) rows stepped
   together in the same call; lane k is zeroed at absolute frames ``f`` with
   ``(f - k*S) % (K*S) == 0`` (S = ``lane_stride_ms`` in frames), and the posterior at each frame
   is read from the lane whose age is in ``[K*S - S, K*S)`` frames - with K=4, S=250 ms that is
   0.75-1 s of context, like a training clip ending now. Resets fall on absolute frame indices,
   so the output does not depend on the push size. ``lanes=1, lane_stride_ms=None`` is the plain
   carried state; ``silence_reset_ms`` additionally zeroes every lane after that much silence.

   Why K=4, S=250 ms by default - ``speechrnn stream-eval``, 20 min, 10 dB SNR, seed 1, a 2x128 GRU
   digits model trained on FSDD + Speech Commands samples (held-out speaker), threshold 0.6:

   ======================  ========  ==============  =================
   state handling          hit rate  false acc. / h  latency median/p95
   ======================  ========  ==============  =================
   1 carried state         37.8 %    174             84 / 370 ms
   1 state, silence reset  47.5 %    87              52 / 254 ms
   1 lane reset every 1 s  53.1 %    18              35 / 276 ms
   K=2, S=500 ms           65.6 %    60              38 / 275 ms
   K=3, S=300 ms           67.8 %    54              44 / 420 ms
   K=4, S=200 ms           67.8 %    51              44 / 441 ms
   K=4, S=250 ms           69.1 %    96              45 / 572 ms
   K=5, S=200 ms           69.7 %    108             45 / 664 ms
   1 s window every 100ms  70.3 %    165             88 / 869 ms
   ======================  ========  ==============  =================

   A carried state drifts (most misses, most false accepts); staggered lanes recover nearly all
   of the full-window accuracy at a fraction of its cost. More context (K*S) buys hits and costs
   false accepts: K=4, S=250 ms (0.75-1 s, one training clip) has the best hit rate of the lane
   settings; ``lane_stride_ms=200`` (0.6-0.8 s) halves false accepts for about one point of hit
   rate with short words, at the risk of cutting long words.
   (That table was measured with the first digits model and 100 ms smoothing.)
4. Clip-trained models: posteriors (softmax) are smoothed by a moving average over ``smoothing_ms`` (300 ms: early,
   half-heard guesses of the wrong word no longer cross the threshold). A word (any label
   not starting with "_", so not ``_silence_`` / ``_unknown_``) is detected when its smoothed
   score reaches its threshold, at most once per stretch above the threshold, not within
   ``suppression_ms`` of the previous detection, and - with ``min_count`` > 1 - only if it was the
   top raw label in at least that many frames of the smoothing window (TensorFlow's
   RecognizeCommands rules).

Stream-trained models (``ModelConfig.objective == "stream"``, the default for new models, see
:mod:`speechrnn.training.stream_batches`) learned on endless audio with the state carried and a
target at every frame, so they run exactly so: one state, never reset (no lanes, no cold starts).
Their detection is at the peak: a word's smoothed score (``STREAM_SMOOTHING_MS``) rising above its
threshold opens a stretch; the word is reported once per stretch, with the stretch's peak score,
when the score has not risen for ``peak_hold_ms`` (or the stretch has ended: the score fell
below ``release_ratio`` of the threshold, so a brief dip within one word does not count). The model
learned to hold a word's class only for a short window at the word's end, so the stretch ends with
the word and a word said again is a new stretch: one spoken word, one detection, by construction.
Another word peaking within ``refractory_ms`` of a detection is the same utterance and is dropped.
:meth:`Recognizer.flush` pushes the silence that decides a word at the very end of a file
(``speechrnn.model.STREAM_TAIL_MS``, the same tail that clip evaluation appends).

Read-only views for a GUI (thread-safe copies): latest smoothed / raw posteriors and their
histories, recent hidden-state vectors of the top RNN layer (the "memory"), recent feature
frames, frame levels, stream time.

The RNN runs in torch, or - ``engine="onnx"``/``"auto"`` - in onnxruntime on a graph traced from
the same ``forward_frames`` (checked against torch when built), which has far less overhead per
step on CPU; see :func:`speechrnn.stream_eval.measure_recognizer_speed`.
"""

from __future__ import annotations

import io
import warnings
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from speechrnn.audio.capture import RingBuffer
from speechrnn.bundled import DEFAULT_BUNDLED, bundled_model_path, resolve_model
from speechrnn.checkpoint import Checkpoint, load_model
from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig, FeatureExtractor, StreamingFeatures
from speechrnn.model import RNNClassifier
from speechrnn.record import SILENCE_DB, TrimConfig, speech_bounds

BACKGROUND_PREFIX = "_"  # labels like _silence_ and _unknown_ are never detected
MODES = ("auto", "stream", "window")
ENGINES = ("auto", "torch", "onnx")
CLIP_SMOOTHING_MS = 300.0  # see DetectorConfig.smoothing_ms
STREAM_SMOOTHING_MS = 100.0  # see DetectorConfig.smoothing_ms
RECENT_DETECTIONS = 100  # detections kept for the GUI's list
ONNX_CHECK_TOLERANCE = 1e-4  # max |logit difference| between onnxruntime and torch to trust the export
ONNX_CHECK_FRAMES = (1, 13)  # frame counts the exported graph is checked on
DEFAULT_THRESHOLD = 0.6  # DetectorConfig.threshold of a model that recorded none (the bundled models' choice)
HEARD_MARGIN_S = 0.25  # audio kept either side of a detected word's estimated span (Recognizer.heard_audio)
LEVEL_SMOOTH_MS = 100.0  # frame levels are averaged over this before a word's prominence is measured


@dataclass(frozen=True)
class DetectorConfig:
    """How posteriors become detections, and how the stream is run."""

    # smoothed posterior a word must reach; None = the model's own (the threshold its training chose
    # and recorded, TrainConfig.detection_threshold), else DEFAULT_THRESHOLD. A Recognizer's config
    # always holds the number in effect.
    threshold: float | None = None
    label_thresholds: Mapping[str, float] = field(default_factory=dict)  # per-word overrides
    # moving-average window over per-frame posteriors; None = the model's kind decides:
    # clip-trained models 300 ms (chosen on the digits recipe's validation speakers, 10-min stream,
    # 10 dB SNR: 100 -> 300 ms kept the hit rate (81 %) and cut false accepts per hour 426 -> 156),
    # stream-trained models STREAM_SMOOTHING_MS (their posteriors are already frame targets).
    smoothing_ms: float | None = None
    suppression_ms: float = 750.0  # clip-trained models: no new detection this soon after one
    # stream-trained models: a word fires at the peak of its smoothed score, once the score has not
    # risen for peak_hold_ms (or has fallen below the threshold); another word within refractory_ms
    # of a detection is the same utterance heard twice and is dropped.
    peak_hold_ms: float = 60.0
    refractory_ms: float = 300.0
    # stream-trained models: an open stretch ends only when the word's score falls below this
    # fraction of its threshold (hysteresis: 0.4 at 0.6), so a score that dips under the threshold
    # and rises again within one word is not a second detection. 1 = no hysteresis. Chosen on the
    # validation streams (running tap, 10 dB): duplicates of the commands model 8 -> 2 (5 at 0.83),
    # the same hits, 2 fewer false accepts; the digits model's figures did not change
    release_ratio: float = 2.0 / 3.0
    min_count: int = 1  # frames of the smoothing window in which the word must be the raw top label
    lanes: int = 4  # staggered state lanes (K); 1 = a single carried state
    lane_stride_ms: float | None = 250.0  # lane reset stagger (S); None = never reset lanes
    silence_reset_ms: float | None = None  # zero the state after this much silence (None = off)
    silence_db: float = -60.0  # frame level (dBFS) below which a frame counts as silence
    mode: str = "auto"  # "stream" (carried state), "window" (re-run a clip window), "auto"
    window_stride_ms: float = 100.0  # window mode: how often the window is re-run
    engine: str = "auto"  # "torch", "onnx" (onnxruntime), "auto" (onnx if it works)
    history_s: float = 10.0  # how much the GUI views keep
    # A word is reported only if its loudest LEVEL_SMOOTH_MS stands at least min_prominence_db above
    # the room's level (0 = no gate): the floor_percentile-th percentile of the LEVEL_SMOOTH_MS levels
    # of the floor_window_ms up to the detection. Hum, a fan or a room full of talk cannot say a word;
    # a word said to the microphone rises above them. Chosen on the recipes' validation speakers
    # (10-min streams over babble, hum and a running tap at 10, 5 and 0 dB SNR; 1 h of each noise
    # alone, babble of four renderings; words 0.15-0.8 s apart): the median of 4 s at 10 dB removed
    # every false accept on babble and hum alone (7-21 per 2-min loop of babble before) and kept 99 % of the
    # hits at 10 dB SNR, 96 % at 5 dB and every word said 0.15 s apart in a quiet room; at 0 dB SNR
    # it keeps only 9 % (speak up, or lower it). The quietest 100 ms of 2 s at 3 dB (the previous
    # rule) stopped hum only: babble dips between syllables.
    min_prominence_db: float = 10.0
    floor_window_ms: float = 4000.0
    floor_percentile: float = 50.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.lanes < 1:
            raise ValueError("lanes must be at least 1")
        if self.lanes > 1 and self.lane_stride_ms is None:
            raise ValueError("several lanes need a lane_stride_ms")
        if self.min_count < 1:
            raise ValueError("min_count must be at least 1")
        if self.peak_hold_ms < 0 or self.refractory_ms < 0 or self.suppression_ms < 0:
            raise ValueError("peak_hold_ms, refractory_ms and suppression_ms must not be negative")
        if not 0.0 < self.release_ratio <= 1.0:
            raise ValueError("release_ratio must be in (0, 1]")
        if self.smoothing_ms is not None and not self.smoothing_ms > 0:
            raise ValueError("smoothing_ms must be positive")
        if self.min_prominence_db < 0:
            raise ValueError("min_prominence_db must not be negative")
        if self.floor_window_ms < 2 * LEVEL_SMOOTH_MS:
            raise ValueError(f"floor_window_ms must be at least {2 * LEVEL_SMOOTH_MS:g} ms")
        if not 0.0 <= self.floor_percentile <= 100.0:
            raise ValueError("floor_percentile must be in [0, 100]")
        if self.history_s < 2.0:
            raise ValueError("history_s must be at least 2 s (detections look back one clip)")

    def threshold_for(self, label: str) -> float:
        return float(self.label_thresholds.get(label, DEFAULT_THRESHOLD if self.threshold is None else self.threshold))


@dataclass(frozen=True)
class Detection:
    """A detected word. Times are seconds from the start of the stream.

    ``time_s`` is when the detection fired (the end of the audio that triggered it);
    ``start_s`` / ``end_s`` estimate the word itself from the energy of the last clip's audio.
    """

    label: str
    score: float
    start_s: float
    end_s: float
    time_s: float
    # how far the word's loudest 100 ms stands above the room's level (DetectorConfig.floor_percentile
    # of the floor window): a word said to the microphone stands out; babble and hum around it do not
    prominence_db: float = 0.0


def is_background(label: str) -> bool:
    return label.startswith(BACKGROUND_PREFIX)


def default_model_path() -> Path:
    """The bundled default model (``digits``: see :mod:`speechrnn.bundled`)."""
    return bundled_model_path(DEFAULT_BUNDLED)


def resolve_model_path(path: str | Path | None) -> Path:
    """``path`` (a checkpoint file or a bundled model's name), or the bundled default model when None."""
    if path is not None:
        return resolve_model(path)
    default = default_model_path()
    if not default.is_file():
        raise CheckpointError(f"{default}: no model given and the bundled default model is missing; "
                              "pass a checkpoint (train one with `speechrnn train`)")
    return default


# ------------------------------------------------------------------------------------ engines
def _reset_rows(state: list, init: Sequence, recurrent: int, lanes: slice | int) -> None:
    """Zero (re-initialise) some batch rows of a state in place; h/c have batch on dim 1."""
    for i, (tensor, fresh) in enumerate(zip(state, init)):
        if i < recurrent:
            tensor[:, lanes] = fresh[:, lanes]
        else:
            tensor[lanes] = fresh[lanes]


class _OutputCapture:
    """Records the RNN's per-frame outputs (top layer) while the model runs; no model change."""

    def __init__(self, model: RNNClassifier):
        self.model = model
        self.outputs: torch.Tensor | None = None

    def _hook(self, module, inputs, output) -> None:  # noqa: ARG002
        self.outputs = output[0]

    def __enter__(self) -> "_OutputCapture":
        self._handle = self.model.rnn.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc_info) -> None:
        self._handle.remove()


class TorchEngine:
    """Runs ``model.forward_frames`` for K lanes with a carried state, in torch."""

    name = "torch"

    def __init__(self, model: RNNClassifier, batch: int):
        self.model = model
        self.batch = batch
        self.recurrent = model.recurrent_state_size
        with torch.inference_mode():
            self._init = tuple(model.initial_state(batch))

    def initial_state(self) -> list:
        return [t.clone() for t in self._init]

    @torch.inference_mode()
    def reset(self, state: list, lanes: slice | int) -> None:
        _reset_rows(state, self._init, self.recurrent, lanes)

    @torch.inference_mode()
    def run(self, frames: np.ndarray, state: list) -> tuple[np.ndarray, np.ndarray, list]:
        """(T, F) frames, fed to every lane -> logits (K, T, C), top outputs (K, T, W), new state."""
        x = torch.from_numpy(frames).unsqueeze(0).expand(self.batch, -1, -1)
        with _OutputCapture(self.model) as capture:
            logits, new_state = self.model.forward_frames(x, tuple(state))
        return logits.numpy(), capture.outputs.numpy(), list(new_state)

    @torch.inference_mode()
    def run_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, T, F) independent clips -> clip logits (B, C), last top-layer output (B, W)."""
        with _OutputCapture(self.model) as capture:
            logits, _ = self.model(torch.from_numpy(windows))
        return logits.numpy(), capture.outputs[:, -1].numpy()


class _StepGraph(torch.nn.Module):
    """``forward_frames`` with the state as separate tensors and the top-layer outputs exposed."""

    def __init__(self, model: RNNClassifier):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, *state: torch.Tensor):
        with _OutputCapture(self.model) as capture:
            logits, new_state = self.model.forward_frames(frames, tuple(state))
        return (logits, capture.outputs, *new_state)


class OnnxEngine(TorchEngine):
    """The same step as :class:`TorchEngine`, traced to ONNX and run by onnxruntime on one thread.

    Built in memory when the recognizer starts (~0.1 s) and checked against torch on random
    frames; raises ``RuntimeError`` if export or check fail (callers fall back to torch).
    """

    name = "onnx"

    def __init__(self, model: RNNClassifier, batch: int):
        super().__init__(model, batch)
        import onnxruntime as ort

        self._init = tuple(t.numpy().copy() for t in self._init)
        names = [f"state{i}" for i in range(len(self._init))]
        self._input_names = ["frames", *names]
        example = torch.zeros(batch, ONNX_CHECK_FRAMES[-1], model.config.input_dim)
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _StepGraph(model).eval(),
                    (example, *(torch.from_numpy(t) for t in self._init)),
                    buffer,
                    input_names=self._input_names,
                    output_names=["logits", "outputs", *[f"new_{n}" for n in names]],
                    dynamic_axes={"frames": {1: "frames"}},
                    dynamo=False,
                )
        except Exception as exc:  # noqa: BLE001 - any exporter failure means "use torch"
            raise RuntimeError(f"ONNX export failed: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        self._check(model)

    def _check(self, model: RNNClassifier) -> None:
        torch_engine = TorchEngine(model, self.batch)
        generator = torch.Generator().manual_seed(0)
        for count in ONNX_CHECK_FRAMES:
            frames = torch.randn(count, model.config.input_dim, generator=generator).numpy()
            frames = frames * model.feature_std.numpy() + model.feature_mean.numpy()
            want, _, _ = torch_engine.run(frames, torch_engine.initial_state())
            got, _, _ = self.run(frames, self.initial_state())
            error = float(np.max(np.abs(want - got)))
            if not error <= ONNX_CHECK_TOLERANCE:
                raise RuntimeError(f"onnxruntime differs from torch by {error:.2g}")

    def initial_state(self) -> list:
        return [t.copy() for t in self._init]

    def reset(self, state: list, lanes: slice | int) -> None:
        _reset_rows(state, self._init, self.recurrent, lanes)

    def run(self, frames: np.ndarray, state: list) -> tuple[np.ndarray, np.ndarray, list]:
        if self.batch == 1 and frames.dtype == np.float32 and frames.flags.c_contiguous:
            x = frames[None]  # one carried state: the frames as they are, no copy
        else:
            x = np.ascontiguousarray(np.broadcast_to(frames, (self.batch, *frames.shape)), dtype=np.float32)
        feeds = dict(zip(self._input_names, [x, *state]))
        logits, outputs, *new_state = self._session.run(None, feeds)
        return logits, outputs, new_state


def make_engine(model: RNNClassifier, batch: int, engine: str) -> tuple[TorchEngine, str]:
    """The engine asked for; ``"auto"`` tries onnxruntime and falls back to torch. ``(engine, note)``."""
    if engine == "torch":
        return TorchEngine(model, batch), ""
    try:
        return OnnxEngine(model, batch), ""
    except (ImportError, RuntimeError) as exc:
        if engine == "onnx":
            raise CheckpointError(f"cannot run this model in onnxruntime: {exc}") from None
        return TorchEngine(model, batch), f"onnxruntime unavailable ({exc}); using torch"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def recorded_threshold(train_config: dict) -> float | None:
    """The detection threshold a checkpoint's training recorded (``TrainConfig.detection_threshold``,
    in its ``train_config["train"]``), or None."""
    value = (train_config.get("train") or {}).get("detection_threshold")
    return float(value) if value is not None else None


# --------------------------------------------------------------------------------- recognizer
class Recognizer:
    """Push audio, get :class:`Detection` s. See the module docstring for how it works."""

    def __init__(
        self,
        model: RNNClassifier,
        labels: Sequence[str],
        feature_config: FeatureConfig | None = None,
        config: DetectorConfig | None = None,
        checkpoint: Checkpoint | None = None,
    ):
        self.model = model.eval()
        self.labels = [str(label) for label in labels]
        if len(self.labels) != model.config.num_classes:
            raise ValueError(f"{len(self.labels)} labels for a model with {model.config.num_classes} outputs")
        self.feature_config = feature_config or FeatureConfig()
        self.config = config or DetectorConfig()
        if self.config.threshold is None:  # the model's own threshold, else the default
            recorded = recorded_threshold(checkpoint.train_config) if checkpoint is not None else None
            self.config = replace(self.config, threshold=recorded or DEFAULT_THRESHOLD)
        self.checkpoint = checkpoint
        fc, cfg = self.feature_config, self.config
        self.sample_rate_hz = fc.sample_rate_hz
        self.frame_rate_hz = 1000.0 / fc.hop_ms
        self._hop, self._window = fc.hop_samples, fc.window_samples
        self._clip_frames = fc.clip_frames
        self._level_smooth = self._frames(LEVEL_SMOOTH_MS)
        self._floor_frames = self._frames(cfg.floor_window_ms)
        self._level_context = max(self._clip_frames, self._floor_frames)  # level frames a detection looks back

        self.mode = cfg.mode
        if self.mode == "auto":
            self.mode = "stream" if model.config.streamable else "window"
        if self.mode == "stream" and not model.config.streamable:
            raise CheckpointError("a bidirectional model cannot carry its state: use mode='window'")
        # A stream-trained model runs as it learned: one state, carried forever, never reset.
        self.stream_trained = model.config.objective == "stream"
        carried = self.stream_trained and self.mode == "stream"
        self.lanes = 1 if carried or self.mode != "stream" else cfg.lanes
        self._lane_stride = self._frames(cfg.lane_stride_ms) if cfg.lane_stride_ms is not None and not carried else None
        self._silence_frames = (self._frames(cfg.silence_reset_ms)
                                if cfg.silence_reset_ms is not None and not carried else None)
        self._window_stride = self._frames(cfg.window_stride_ms)
        smoothing_ms = cfg.smoothing_ms
        if smoothing_ms is None:
            smoothing_ms = STREAM_SMOOTHING_MS if self.stream_trained else CLIP_SMOOTHING_MS
        self._smooth = self._frames(smoothing_ms)
        self._suppress = cfg.suppression_ms / fc.hop_ms  # frames (may be fractional)
        self._hold = self._frames(cfg.peak_hold_ms)
        self._refractory = cfg.refractory_ms / fc.hop_ms
        self._thresholds = np.array(
            [np.inf if is_background(label) else cfg.threshold_for(label) for label in self.labels]
        )
        self._release = self._thresholds * cfg.release_ratio  # where an open stretch ends
        if self.mode == "stream":
            self.engine, self.engine_note = make_engine(model, self.lanes, cfg.engine)
        else:
            self.engine, self.engine_note = TorchEngine(model, 1), ""
        self._extractor = FeatureExtractor(fc)
        with torch.no_grad():
            self._zero_frame = self._extractor.numpy(np.zeros(self._window, dtype=np.float32))[0, 0]
        self.hidden_size = model.config.hidden * model.config.directions
        self.reset()

    @classmethod
    def from_checkpoint(cls, path: str | Path | None, config: DetectorConfig | None = None) -> "Recognizer":
        """Load a checkpoint (None = the bundled default model) and build a recognizer for it."""
        model, checkpoint = load_model(resolve_model_path(path))
        return cls(model, checkpoint.labels, checkpoint.feature_config, config, checkpoint)

    def _frames(self, ms: float) -> int:
        return max(1, round(ms / self.feature_config.hop_ms))

    # ------------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget everything: a fresh stream starts at time 0."""
        count, width = len(self.labels), self.hidden_size
        history = max(round(self.config.history_s * self.frame_rate_hz), self._level_context + 1)
        self._features = StreamingFeatures(self._extractor)
        self._state = self.engine.initial_state() if self.mode == "stream" else []
        self._silent_run = 0
        self._samples_seen = 0
        self._frames_seen = 0
        self._raw_tail = np.zeros((0, count), dtype=np.float32)
        self._top_tail = np.zeros(0, dtype=np.int64)
        self._held = (np.zeros(count, dtype=np.float32), np.zeros(width, dtype=np.float32))
        self._prev_above = np.zeros(count, dtype=bool)
        self._armed = np.ones(count, dtype=bool)
        self._last_fire = -np.inf
        self._last_label = -1
        self._open = np.zeros(count, dtype=bool)  # stream-trained: the word's score is above its threshold
        self._peak = np.zeros(count, dtype=np.float32)  # ... its highest smoothed score in this stretch
        self._peak_frame = np.zeros(count, dtype=np.int64)  # ... and where it was
        self._fired = np.zeros(count, dtype=bool)  # ... and whether this stretch was reported
        self._posteriors = RingBuffer(history, (count,))
        self._raw = RingBuffer(history, (count,))
        self._hidden = RingBuffer(history, (width,))
        self._feature_frames = RingBuffer(history, (self.feature_config.feature_dim,))
        self._levels = RingBuffer(history)
        self._audio = RingBuffer(round(self.config.history_s * self.sample_rate_hz))  # for heard_audio
        self.detections: deque[Detection] = deque(maxlen=RECENT_DETECTIONS)

    # -------------------------------------------------------------------------------- push
    def push(self, samples: np.ndarray) -> list[Detection]:
        """Feed audio (mono float32 at ``sample_rate_hz``, any length); detections it completed."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return []
        self._samples_seen += x.size
        self._audio.write(x)
        frames, levels = self._features.push_with_levels(x)
        if len(frames) == 0:
            return []
        start = self._frames_seen
        if self.mode == "stream":
            raw, hidden = self._run_stream(frames, levels, start)
        else:
            raw, hidden = self._run_windows(frames, start)
        smoothed, tops = self._smoothed(raw)
        if self.stream_trained:
            found = self._detect_peaks(smoothed, levels, start)
        else:
            found = self._detect(smoothed, tops, levels, start)  # before the histories take this chunk
        self._posteriors.write(smoothed)
        self._raw.write(raw)
        self._hidden.write(hidden)
        self._feature_frames.write(frames)
        self._levels.write(levels)
        self._frames_seen += len(frames)
        self.detections.extend(found)
        return found

    def flush(self) -> list[Detection]:
        """End of the audio (a file, or the microphone closed): push enough silence for the last
        word to be decided and return what that completes. The stream can go on afterwards."""
        tail = self.model.config.tail_samples(self.sample_rate_hz) or self.feature_config.clip_samples
        return self.push(np.zeros(tail, dtype=np.float32))

    def _boundaries(self, levels: np.ndarray, start: int) -> tuple[list[int], list[int]]:
        """Frame offsets in this chunk where a lane resets (periodic) and where silence resets all."""
        count = len(levels)
        stride = self._lane_stride
        periodic = list(range((-start) % stride, count, stride)) if stride is not None else []
        if self._silence_frames is None:
            return periodic, []
        silent = levels < self.config.silence_db
        index = np.arange(count)
        last_loud = np.maximum.accumulate(np.where(silent, -1 - self._silent_run, index))
        run = index - last_loud  # consecutive silent frames ending at each frame
        self._silent_run = int(run[-1])
        # zero the state before the frame that completes the silent stretch (once per stretch)
        return periodic, np.flatnonzero(run == self._silence_frames).tolist()

    def _run_stream(self, frames: np.ndarray, levels: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Carried-state lanes: one engine call per stretch between reset boundaries."""
        if self._lane_stride is None and self._silence_frames is None:  # one state, never reset
            logits, outputs, self._state = self.engine.run(frames, self._state)
            return softmax(logits[0]), outputs[0]
        periodic, silence = self._boundaries(levels, start)
        edges = sorted({0, len(frames), *periodic, *silence})
        stride, lanes = self._lane_stride, self.lanes
        parts, hidden_parts = [], []
        for begin, end in zip(edges[:-1], edges[1:]):
            frame = start + begin
            if begin in silence:
                self.engine.reset(self._state, slice(None))
            if begin in periodic:
                self.engine.reset(self._state, (frame // stride) % lanes)
            logits, outputs, self._state = self.engine.run(frames[begin:end], self._state)
            lane = (frame // stride + 1) % lanes if stride is not None else 0
            parts.append(logits[lane])
            hidden_parts.append(outputs[lane])
        if len(parts) == 1:
            return softmax(parts[0]), hidden_parts[0]
        return softmax(np.concatenate(parts)), np.concatenate(hidden_parts)

    def _run_windows(self, frames: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Sliding window: re-run the last clip of frames at every ``window_stride`` frame."""
        count, clip, stride = len(frames), self._clip_frames, self._window_stride
        ends = np.arange((-(start + 1)) % stride, count, stride)  # offsets where (frame + 1) % stride == 0
        posteriors = np.empty((count, len(self.labels)), dtype=np.float32)
        hidden = np.empty((count, self.hidden_size), dtype=np.float32)
        if ends.size:
            before = self._feature_frames.latest(clip - 1)
            padding = np.repeat(self._zero_frame[None], clip - 1 - len(before), axis=0)  # silence before t=0
            context = np.concatenate([padding, before, frames]).astype(np.float32)
            windows = np.lib.stride_tricks.sliding_window_view(context, clip, axis=0)[ends]  # (B, F, clip)
            logits, last = self.engine.run_windows(np.ascontiguousarray(windows.transpose(0, 2, 1)))
            evaluated = softmax(logits)
        held_until = 0
        for i, end in enumerate(ends.tolist()):  # one entry per window (every stride frames)
            posteriors[held_until:end], hidden[held_until:end] = self._held
            self._held = (evaluated[i], last[i])
            held_until = end
        posteriors[held_until:], hidden[held_until:] = self._held
        return posteriors, hidden

    def _smoothed(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Moving average of the posteriors over the smoothing window; also the raw top label of
        every frame, with the ``width - 1`` frames before this chunk in front (only for ``min_count`` > 1)."""
        width, keep = self._smooth, self._smooth - 1
        real = np.concatenate([self._raw_tail, raw])
        missing = keep - len(self._raw_tail)  # at the stream's start the window is shorter
        sums = np.zeros((len(real) + 1, raw.shape[1]))
        np.cumsum(real, axis=0, dtype=np.float64, out=sums[1:])
        if missing == 0:  # the usual case: every frame's window is whole
            smoothed = ((sums[width:] - sums[: len(raw)]) / width).astype(np.float32)
        else:
            ends = np.arange(len(self._raw_tail) + 1, len(real) + 1)
            window = sums[ends] - sums[np.maximum(ends - width, 0)]
            counts = np.minimum(np.arange(self._frames_seen + 1, self._frames_seen + 1 + len(raw)), width)
            smoothed = (window / counts[:, None]).astype(np.float32)
        self._raw_tail = real[max(0, len(real) - keep) :] if keep else real[:0]
        if self.config.min_count == 1:
            return smoothed, None  # the raw top labels are only needed for min_count
        tops = np.concatenate([np.full(missing, -1), self._top_tail, raw.argmax(axis=1)])
        self._top_tail = tops[len(tops) - len(self._raw_tail) :] if keep else tops[:0]
        return smoothed, tops

    # ---------------------------------------------------------------------------- detection
    def _detect(self, smoothed: np.ndarray, tops: np.ndarray | None, levels: np.ndarray,
                start: int) -> list[Detection]:
        above = smoothed >= self._thresholds
        if not above.any():  # the usual case: nothing near a threshold
            self._prev_above[:] = False
            return []
        rising = above & ~np.vstack([self._prev_above[None], above[:-1]])
        self._prev_above = above[-1].copy()
        levels = np.concatenate([self._levels.latest(self._level_context), levels])  # what each frame looks back on
        found = []
        for i in np.flatnonzero(above.any(axis=1)).tolist():  # only frames where some word is high
            frame = start + i
            self._armed |= rising[i]
            candidates = np.flatnonzero(above[i] & self._armed)
            if candidates.size == 0 or frame - self._last_fire < self._suppress:
                continue
            for label in candidates[np.argsort(-smoothed[i, candidates])].tolist():
                if tops is not None and int(np.sum(tops[i : i + self._smooth] == label)) < self.config.min_count:
                    continue  # not the raw top label in enough frames of this frame's window
                offset = len(levels) - len(smoothed) + i  # this frame's index in ``levels``
                detection = self._detection(label, float(smoothed[i, label]), frame, levels, offset)
                if detection is None:
                    break  # not above the background (yet; the gate is the same for every label)
                self._armed[label] = False
                self._last_fire = frame
                found.append(detection)
                break
        return found

    def _detect_peaks(self, smoothed: np.ndarray, levels: np.ndarray, start: int) -> list[Detection]:
        """Stream-trained models: one detection per stretch of a word's score above its threshold,
        at the stretch's peak. The stretch ends when the word's target window has passed, so a word
        said again ("up, up, up") is a new stretch and a new detection."""
        above = smoothed >= self._thresholds  # opens a stretch
        held = smoothed >= self._release  # keeps an open stretch open (hysteresis)
        if not above.any() and not self._open.any():
            return []
        levels = np.concatenate([self._levels.latest(self._level_context), levels])  # what each frame looks back on
        found = []
        falling = ~held & np.vstack([self._open[None], held[:-1]])  # frames where a stretch may end
        busy = held.any(axis=1) | falling.any(axis=1)
        for i in np.flatnonzero(busy).tolist():
            frame = start + i
            for label in np.flatnonzero(above[i] | self._open).tolist():
                score = float(smoothed[i, label])
                if held[i, label] if self._open[label] else above[i, label]:
                    if not self._open[label]:
                        self._open[label], self._fired[label] = True, False
                        self._peak[label], self._peak_frame[label] = score, frame
                    elif score > self._peak[label]:
                        self._peak[label], self._peak_frame[label] = score, frame
                    settled = frame - self._peak_frame[label] >= self._hold
                else:
                    self._open[label] = False
                    settled = True
                if settled and not self._fired[label]:
                    self._fired[label] = True
                    if self._last_label != label and frame - self._last_fire < self._refractory:
                        continue  # the same utterance already gave another word
                    offset = len(levels) - len(smoothed) + i
                    detection = self._detection(label, float(self._peak[label]), frame, levels, offset)
                    if detection is None:
                        continue  # not above the background: babble or hum, not a word said to us
                    self._last_fire, self._last_label = frame, label
                    found.append(detection)
        return found

    def _prominence_db(self, levels: np.ndarray, offset: int) -> float:
        """How far the loudest ``LEVEL_SMOOTH_MS`` of the clip before frame ``offset`` of ``levels``
        stands above the room's level: the ``floor_percentile``-th percentile of the
        ``LEVEL_SMOOTH_MS`` levels of the floor window up to it (a one-word file is heard against
        the quiet before its word)."""
        width = self._level_smooth
        window = levels[max(0, offset + 1 - self._floor_frames) : offset + 1].astype(np.float64)
        if len(window) < width:
            average = window  # the stream is younger than one level stretch
        else:
            sums = np.concatenate([[0.0], np.cumsum(window)])
            average = (sums[width:] - sums[:-width]) / width  # the level of every LEVEL_SMOOTH_MS stretch
        if not len(average):
            return 0.0
        recent = average[max(0, len(average) - (self._clip_frames - width + 1)) :]
        unheard = self._floor_frames - len(window)  # the stream is younger than the floor window:
        if unheard > 0:  # the room before it is taken to be as quiet as the quietest moment heard
            average = np.concatenate([np.full(unheard, np.min(average)), average])
        return float(np.max(recent) - np.percentile(average, self.config.floor_percentile))

    def _detection(self, label: int, score: float, frame: int, levels: np.ndarray, offset: int) -> Detection | None:
        """Build a detection (None when the word does not stand ``min_prominence_db`` above the
        background); the word's span is the loudest speech in the clip before ``frame``."""
        prominence = self._prominence_db(levels, offset)
        if prominence < self.config.min_prominence_db:
            return None
        clip = self._clip_frames
        context = levels[max(0, offset + 1 - clip) : offset + 1]
        first_frame = frame + 1 - len(context)
        bounds = speech_bounds(context, self.feature_config.hop_ms, TrimConfig())
        begin, end = bounds if bounds is not None else (0, len(context))
        hop, rate = self._hop, self.sample_rate_hz
        return Detection(
            label=self.labels[label],
            score=score,
            start_s=(first_frame + begin) * hop / rate,
            end_s=((first_frame + end - 1) * hop + self._window) / rate,
            time_s=self.frame_time_s(frame),
            prominence_db=prominence,
        )

    # --------------------------------------------------------------------------- GUI views
    def frame_time_s(self, frame: int) -> float:
        """Stream time at which frame ``frame`` is complete (its last sample)."""
        return (frame * self._hop + self._window) / self.sample_rate_hz

    @property
    def time_s(self) -> float:
        """Seconds of audio pushed so far."""
        return self._samples_seen / self.sample_rate_hz

    @property
    def frames_seen(self) -> int:
        return self._frames_seen

    @property
    def posteriors(self) -> np.ndarray:
        """Latest smoothed posteriors, one per label (zeros before the first frame)."""
        latest = self._posteriors.latest(1)
        return latest[0] if len(latest) else np.zeros(len(self.labels), dtype=np.float32)

    @property
    def raw_posteriors(self) -> np.ndarray:
        latest = self._raw.latest(1)
        return latest[0] if len(latest) else np.zeros(len(self.labels), dtype=np.float32)

    @property
    def level_db(self) -> float:
        """Level of the latest frame in dBFS."""
        latest = self._levels.latest(1)
        return float(latest[0]) if len(latest) else SILENCE_DB

    def posterior_history(self, frames: int) -> np.ndarray:
        """Last ``frames`` smoothed posteriors, oldest first: (n, labels)."""
        return self._posteriors.latest(frames)

    def raw_history(self, frames: int) -> np.ndarray:
        return self._raw.latest(frames)

    def hidden_history(self, frames: int) -> np.ndarray:
        """Top-layer RNN outputs of the lane being read, per frame: (n, hidden) - the memory."""
        return self._hidden.latest(frames)

    def feature_history(self, frames: int) -> np.ndarray:
        """Last ``frames`` feature frames (MFCC / log-mel): (n, feature_dim)."""
        return self._feature_frames.latest(frames)

    def level_history(self, frames: int) -> np.ndarray:
        """Per-frame levels in dBFS: (n,)."""
        return self._levels.latest(frames)

    def heard_audio(self, detection: Detection, margin_s: float = HEARD_MARGIN_S) -> np.ndarray:
        """The audio a detection heard: its word's span with ``margin_s`` either side, never past what
        was pushed (empty once it has left the last ``history_s``). What ``listen --save-heard`` and
        the app's "keep this word" save, so that a user can train on what the room really says."""
        rate = self.sample_rate_hz
        start = max(0, round((detection.start_s - margin_s) * rate))
        return self._audio.span(start, round((detection.end_s + margin_s) * rate))

    def describe(self) -> dict[str, Any]:
        """Settings in effect (for logs, the GUI and benchmarks)."""
        return {
            "mode": self.mode,
            "engine": self.engine.name,
            "engine_note": self.engine_note,
            "lanes": self.lanes,
            "lane_stride_frames": self._lane_stride,
            "smoothing_frames": self._smooth,
            "labels": list(self.labels),
        }
