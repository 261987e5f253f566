"""The recurrent classifier: vanilla RNN, LSTM or GRU over feature frames.

``forward(frames, state) -> (logits, state)`` runs any number of frames and carries the network's
memory in ``state``; feeding a clip frame by frame with the returned state gives the same logits as
feeding it whole (unidirectional models). ``forward_frames`` returns the logits after every frame,
which is what live recognition reads.

The state is a flat tuple of tensors so that it exports to ONNX/TorchScript as plain inputs and
outputs: the recurrent hidden state ``h`` (and ``c`` for LSTM; then, with ``running_mean_frames``, the
running mean of the input, or with ``pcen_frames`` the mel bands' running power mean), then the
pooling accumulators:

* ``last``: nothing more; the clip's logits are the head applied to the last output.
* ``mean``: running sum of outputs and frame count.
* ``attention``: running max score, softmax denominator and weighted sum (an online softmax).

Per-coefficient feature normalisation (statistics of the training set) is part of the model, so a
checkpoint or an export takes raw features. With ``running_mean_frames`` the model also subtracts a
causal running mean of its normalised input (streaming cepstral mean normalisation): what stays the
same for seconds -- a microphone's colouring, a room's hum -- is taken out of what the network reads,
and the mean is carried in the state like the network's memory. With ``pcen_frames`` the network
reads per-channel energy normalised mel bands (PCEN), whose running power mean is carried the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from speechrnn.features import DB_PER_LOG10

CELLS = ("rnn", "lstm", "gru")
OBJECTIVES = ("clip", "stream")
POOLINGS = ("last", "mean", "attention")
NONLINEARITIES = ("tanh", "relu")

State = tuple[torch.Tensor, ...]
# Stream-trained models decide a word just after it ends; a clip is scored with this much silence
# after it, as the live recognizer's flush() does at the end of a file.
STREAM_TAIL_MS = 600.0
# The running mean is computed as a (T, T) matrix product per block of this many frames (exact;
# bounded memory on long inputs).
RUNNING_MEAN_BLOCK_FRAMES = 512
# The spectral front-end: two convolutions along frequency (kernel widths in mel bands), each
# followed by a max-pool of this many bands; its outputs per frame: channels x bands / 4.
SPECTRAL_KERNEL_BANDS = (5, 3)
SPECTRAL_POOL_BANDS = 2
SPECTRAL_POOL_TOTAL = SPECTRAL_POOL_BANDS ** len(SPECTRAL_KERNEL_BANDS)
# Channels of the front-end the bundled Commands model uses and a new network gets (stop 44: 32
# channels measured the same on the validation speakers' streams).
SPECTRAL_CONV_CHANNELS = 16
# Per-channel energy normalisation (Wang et al., 2017, "Trainable frontend for robust and far-field
# keyword spotting"; their fixed values): each mel band's power is divided by its causal exponential
# mean raised to PCEN_ALPHA, offset by PCEN_DELTA and compressed by the root PCEN_ROOT.
PCEN_ALPHA = 0.98
PCEN_DELTA = 2.0
PCEN_ROOT = 0.5
PCEN_FLOOR_POWER = 1e-7  # the features' log-mel floor (FeatureConfig.log_floor, -70 dB): no band is quieter


def new_network_front_end(features) -> int:
    """The spectral front-end's channels of a new network on these features (a FeatureConfig), the
    default of the Train panel and ``speechrnn train``: SPECTRAL_CONV_CHANNELS on MFCC whose mel bands
    it can read, else 0 (log-mel features, or mel bands it cannot pool). Measured (stop 45, "lights"
    from a new network, validation speakers' streams, two seeds): 74.1 against 66.7 % of the word
    heard, 4.0 against 8.6 false accepts per 100 real other words; docs/custom-words.md."""
    readable = features.kind == "mfcc" and front_end_reads(features.n_mfcc, features.n_mels)
    return SPECTRAL_CONV_CHANNELS if readable else 0


def front_end_reads(n_mfcc: int, mel_bands: int) -> bool:
    """Whether the spectral front-end can read ``n_mfcc`` MFCC of ``mel_bands`` mel bands: it inverts
    their DCT over the bands, then pools them by SPECTRAL_POOL_TOTAL."""
    return n_mfcc <= mel_bands and mel_bands % SPECTRAL_POOL_TOTAL == 0


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int
    input_dim: int = 40
    cell: str = "gru"
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    bidirectional: bool = False
    pooling: str = "attention"  # a direct path from every frame to the decision: rnn and lstm train too
    nonlinearity: str = "tanh"  # vanilla RNN only
    # "clip": one decision per clip from a zero state (the pooled head after the clip's last frame).
    # "stream": trained on endless audio with a target at every frame (speechrnn.training.stream_batches):
    # the head reads every frame, the state is carried forever, and ``forward`` reads a clip out of
    # the per-frame posteriors (see :meth:`RNNClassifier.clip_readout`).
    objective: str = "clip"
    background_class: int = -1  # stream models: the class every frame outside a word's window targets
    # > 0: subtract an exponential running mean of the normalised features with this time constant
    # (frames) before the network reads them; 0: off
    running_mean_frames: int = 0
    # > 0: a convolution over the frequency axis of each frame, with this many channels (see
    # SpectralFrontEnd): the features' log-mel envelope, recovered from the MFCC by the inverse DCT
    # over ``spectral_bands`` mel bands, read by two small filters that slide along frequency; what
    # they find joins the features at the RNN's input. Per frame, so streaming is unchanged. 0: off
    spectral_conv_channels: int = 0
    spectral_bands: int = 40  # the mel bands the features' MFCC were computed from
    # > 0: the network reads per-channel energy normalised mel bands (PCEN, see PCEN_ALPHA) instead of
    # the MFCC, their power's running mean over this many frames carried in the state like h: the
    # log-mel envelope (the MFCC's inverse DCT over ``spectral_bands``) back to power, divided by what
    # each band has held for the last ``pcen_frames`` frames. A speaker's loudness, a microphone's
    # colouring and a steady hum are divided out; onsets stand out. 0: off (the MFCC)
    pcen_frames: int = 0
    # with ``pcen_frames``: the PCEN bands join the MFCC (and the spectral front-end's outputs) at the
    # RNN's input instead of replacing them
    pcen_with_mfcc: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, not {self.cell!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {self.pooling!r}")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, not {self.nonlinearity!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        if self.objective == "stream":
            if self.pooling != "last" or self.bidirectional:
                raise ValueError("a stream-trained model reads every frame: pooling 'last', one direction")
            if not 0 <= self.background_class < self.num_classes:
                raise ValueError("a stream-trained model needs a background class (_silence_ or _unknown_)")
        if self.num_classes < 2:
            raise ValueError("a classifier needs at least 2 classes")
        if self.hidden < 1 or self.layers < 1:
            raise ValueError("hidden and layers must be positive")
        if self.running_mean_frames < 0:
            raise ValueError("running_mean_frames must not be negative")
        if self.spectral_conv_channels < 0:
            raise ValueError("spectral_conv_channels must not be negative")
        if self.pcen_frames < 0:
            raise ValueError("pcen_frames must not be negative")
        if self.pcen_frames and self.input_dim > self.spectral_bands:
            raise ValueError(f"PCEN reads the mel bands of MFCC: {self.input_dim} coefficients cannot come "
                             f"from {self.spectral_bands} bands")
        if self.pcen_frames and self.running_mean_frames:
            raise ValueError("PCEN or a running mean, not both: each divides out what stays the same")
        if self.spectral_conv_channels and not front_end_reads(self.input_dim, self.spectral_bands):
            raise ValueError(f"spectral_bands ({self.spectral_bands}) must be a multiple of {SPECTRAL_POOL_TOTAL} "
                             f"and at least the {self.input_dim} features (MFCC) per frame")

    @property
    def rnn_input_dim(self) -> int:
        """What the RNN reads per frame: the features (or the PCEN bands, or both), and the spectral
        front-end's outputs if any."""
        extra = self.spectral_conv_channels * (self.spectral_bands // SPECTRAL_POOL_TOTAL)
        if not self.pcen_frames:
            return self.input_dim + extra
        return self.spectral_bands + extra + (self.input_dim if self.pcen_with_mfcc else 0)

    @property
    def shape(self) -> str:
        """"GRU 2x128"; "spectral conv 16 > GRU 2x128" with a spectral front-end; "... bidirectional"."""
        front = f"spectral conv {self.spectral_conv_channels} > " if self.spectral_conv_channels else ""
        if self.pcen_frames:
            front = f"{'MFCC + ' if self.pcen_with_mfcc else ''}PCEN {self.pcen_frames} > {front}"
        direction = " bidirectional" if self.bidirectional else ""
        return f"{front}{self.cell.upper()} {self.layers}x{self.hidden}{direction}"

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def streamable(self) -> bool:
        return not self.bidirectional

    def tail_samples(self, sample_rate_hz: int) -> int:
        """Silence appended to a clip before it is scored (:data:`STREAM_TAIL_MS`; 0 for clip models)."""
        return round(sample_rate_hz * STREAM_TAIL_MS / 1000) if self.objective == "stream" else 0


def exponential_means(x: torch.Tensor, before: torch.Tensor, decay: float) -> torch.Tensor:
    """Causal exponential means of ``x`` (B, T, F), each including its own frame: ``m_t = decay
    m_{t-1} + (1 - decay) x_t`` from ``m_{-1} = before`` (B, F). Computed in blocks of matrix
    products (as exact as the recursion whatever the chunking; exports as plain operations)."""
    count = x.shape[1]
    single = count <= RUNNING_MEAN_BLOCK_FRAMES or torch.jit.is_tracing() or torch.compiler.is_compiling()
    blocks = [x] if single else list(x.split(RUNNING_MEAN_BLOCK_FRAMES, dim=1))
    m = before
    out = []
    for block in blocks:
        steps = torch.arange(block.shape[1], device=x.device, dtype=x.dtype)
        lag = steps.unsqueeze(1) - steps.unsqueeze(0)  # t - k
        weights = torch.where(lag >= 0, (1.0 - decay) * torch.pow(decay, lag.clamp(min=0)), torch.zeros_like(lag))
        means = torch.pow(decay, steps + 1).view(1, -1, 1) * m.unsqueeze(1) + torch.matmul(weights, block)
        out.append(means)
        m = means[:, -1]
    return out[0] if single else torch.cat(out, dim=1)


def inverse_dct_matrix(coefficients: int, bands: int) -> torch.Tensor:
    """(coefficients, bands): MFCC -> the log-mel envelope they describe (the orthonormal DCT's
    transpose; smoothed along frequency where coefficients were dropped)."""
    import torchaudio.functional as AF

    return AF.create_dct(coefficients, bands, norm="ortho").T.contiguous()


class SpectralFrontEnd(nn.Module):
    """Filters that slide along the frequency axis of each frame (a CRNN's convolutional front, per
    frame: no context in time, so the carried state and chunk-independence stay as they are).

    MFCC are the orthonormal DCT of the log-mel bands, so the DCT's transpose brings back the
    band envelope (smoothed where coefficients were dropped): a spectrum in dB along a frequency
    axis. A formant that sits a few bands higher in a smaller voice moves the filters' response
    along that axis instead of changing every coefficient, and max-pooling over neighbouring bands
    lets the network read it the same.
    """

    def __init__(self, coefficients: int, bands: int, channels: int):
        super().__init__()
        self.register_buffer("inverse_dct", inverse_dct_matrix(coefficients, bands), persistent=False)
        self.bands = bands
        layers: list[nn.Module] = []
        width = 1
        for kernel in SPECTRAL_KERNEL_BANDS:
            layers += [nn.Conv1d(width, channels, kernel, padding=kernel // 2), nn.ReLU(),
                       nn.MaxPool1d(SPECTRAL_POOL_BANDS)]
            width = channels
        self.convs = nn.Sequential(*layers)

    def forward(self, centered: torch.Tensor, feature_std: torch.Tensor) -> torch.Tensor:
        """(B, T, coefficients) features minus their training mean -> (B, T, channels * bands / 4)."""
        envelope = centered @ self.inverse_dct  # dB about the training set's mean spectrum
        # the bands' typical spread: an orthonormal DCT keeps the coefficients' total variance
        return self.read(envelope / torch.sqrt((feature_std**2).sum() / self.bands))

    def read(self, envelope: torch.Tensor) -> torch.Tensor:
        """(B, T, bands) a spectrum along frequency -> (B, T, channels * bands / 4)."""
        batch, frames = envelope.shape[0], envelope.shape[1]
        out = self.convs(envelope.reshape(batch * frames, 1, self.bands))
        return out.reshape(batch, frames, -1)


class RNNClassifier(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.input_dim))
        self.register_buffer("feature_std", torch.ones(config.input_dim))
        self.spectral = (SpectralFrontEnd(config.input_dim, config.spectral_bands, config.spectral_conv_channels)
                         if config.spectral_conv_channels else None)
        if config.pcen_frames:
            self.register_buffer("pcen_inverse_dct", inverse_dct_matrix(config.input_dim, config.spectral_bands),
                                 persistent=False)
        kwargs = dict(
            input_size=config.rnn_input_dim,
            hidden_size=config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
            bidirectional=config.bidirectional,
        )
        if config.cell == "gru":
            self.rnn = nn.GRU(**kwargs)
        elif config.cell == "lstm":
            self.rnn = nn.LSTM(**kwargs)
        else:
            self.rnn = nn.RNN(nonlinearity=config.nonlinearity, **kwargs)
        width = config.hidden * config.directions
        # No bias: softmax is shift-invariant, a bias would never receive a gradient.
        self.attention = nn.Linear(width, 1, bias=False) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(width, config.num_classes)

    # ----------------------------------------------------------------------------------- state
    def initial_state(self, batch: int = 1, device: torch.device | str | None = None) -> State:
        """A zeroed memory for ``batch`` independent streams."""
        cfg = self.config
        device = device if device is not None else self.head.weight.device
        width = cfg.hidden * cfg.directions
        h = torch.zeros(cfg.layers * cfg.directions, batch, cfg.hidden, device=device)
        state: list[torch.Tensor] = [h]
        if cfg.cell == "lstm":
            state.append(torch.zeros_like(h))
        if cfg.running_mean_frames:  # (1, batch, F): batch on dim 1, as h and c
            state.append(torch.zeros(1, batch, cfg.input_dim, device=device))
        if cfg.pcen_frames:  # (1, batch, bands); zero: not started (the first frame's power starts it)
            state.append(torch.zeros(1, batch, cfg.spectral_bands, device=device))
        if cfg.pooling == "mean":
            state += [torch.zeros(batch, width, device=device), torch.zeros(batch, 1, device=device)]
        elif cfg.pooling == "attention":
            state += [
                torch.full((batch, 1), float("-inf"), device=device),
                torch.zeros(batch, 1, device=device),
                torch.zeros(batch, width, device=device),
            ]
        return tuple(state)

    @property
    def recurrent_state_size(self) -> int:
        """State tensors with the batch on dim 1 (h, c, the running mean or PCEN's power mean), before
        the pooling ones."""
        cfg = self.config
        return (2 if cfg.cell == "lstm" else 1) + (1 if cfg.running_mean_frames else 0) + (1 if cfg.pcen_frames else 0)

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames - self.feature_mean) / self.feature_std

    def encode(self, frames: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Normalised frames -> RNN outputs (B, T, width) and the new recurrent state."""
        x = self.normalize(frames)
        recurrent = None
        if state is not None:
            if self.config.bidirectional:
                raise ValueError("a bidirectional model cannot carry state between calls")
            recurrent = state[0] if self.config.cell != "lstm" else (state[0], state[1])
        running: State = ()
        if self.config.running_mean_frames:
            mean = state[self.recurrent_state_size - 1] if state is not None else x.new_zeros(1, x.shape[0], x.shape[2])
            x, new_mean = self.subtract_running_mean(x, mean)
            running = (new_mean,)
        if self.config.pcen_frames:
            power_mean = (state[self.recurrent_state_size - 1] if state is not None
                          else x.new_zeros(1, x.shape[0], self.config.spectral_bands))
            bands, new_power_mean = self.pcen(frames, power_mean)
            running = (new_power_mean,)
            if self.config.pcen_with_mfcc:
                read = [x, bands] + ([self.spectral(x * self.feature_std, self.feature_std)]
                                     if self.spectral is not None else [])
            else:
                read = [bands] + ([self.spectral.read(bands)] if self.spectral is not None else [])
            x = torch.cat(read, dim=-1)
        elif self.spectral is not None:
            x = torch.cat([x, self.spectral(x * self.feature_std, self.feature_std)], dim=-1)
        outputs, new = self.rnn(x, recurrent)
        new_state = (new,) if self.config.cell != "lstm" else tuple(new)
        return outputs, new_state + running

    def subtract_running_mean(self, x: torch.Tensor, mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, F) minus the running mean of the frames before each one, and the mean after
        the last. ``mean`` (1, B, F): the running mean before ``x``. Per frame, as a live stream
        would compute it: ``y_t = x_t - m_{t-1}``, ``m_t = a m_{t-1} + (1 - a) x_t``,
        ``a = exp(-1 / running_mean_frames)``; here in blocks of matrix products (chunking-exact)."""
        means = exponential_means(x, mean[0], math.exp(-1.0 / self.config.running_mean_frames))
        return x - torch.cat([mean[0].unsqueeze(1), means[:, :-1]], dim=1), means[:, -1].unsqueeze(0)

    def pcen(self, frames: torch.Tensor, power_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw MFCC ``frames`` (B, T, F) -> (B, T, spectral_bands) PCEN bands and the bands' running
        power mean after the last frame. ``power_mean`` (1, B, bands): the mean before ``frames``;
        zero in a fresh state, where the first frame's power stands in for it (no cold start)."""
        with torch.autocast(frames.device.type, enabled=False):
            envelope_db = frames.float() @ self.pcen_inverse_dct
            power = torch.pow(10.0, envelope_db / DB_PER_LOG10).clamp(min=PCEN_FLOOR_POWER)
            before = power_mean[0]
            before = torch.where(before > 0, before, power[:, 0])
            means = exponential_means(power, before, math.exp(-1.0 / self.config.pcen_frames))
            ratio = power / torch.pow(means, PCEN_ALPHA)
            bands = torch.pow(ratio + PCEN_DELTA, PCEN_ROOT) - PCEN_DELTA**PCEN_ROOT
        return bands, means[:, -1].unsqueeze(0)

    # ---------------------------------------------------------------------------------- forward
    def forward(self, frames: torch.Tensor, state: State | None = None,
                frame_logits: bool = False) -> tuple[torch.Tensor, State]:
        """(B, T, F) frames -> (B, num_classes) logits for everything seen since the state was zero.

        Stream-trained models: the clip read out of the per-frame posteriors (:meth:`clip_readout`).
        ``frame_logits``: (B, T, num_classes) logits after every frame instead (:meth:`forward_frames`;
        through ``forward`` so that DistributedDataParallel sees the call).
        """
        if frame_logits:
            return self.forward_frames(frames, state)
        if self.config.objective == "stream":
            logits, state = self.forward_frames(frames, state)
            return self.clip_readout(logits), state
        logits, state = self.forward_frames(frames, state, all_frames=False)
        return logits[:, -1], state

    def clip_readout(self, frame_logits: torch.Tensor) -> torch.Tensor:
        """(B, T, C) per-frame logits of a stream-trained model -> (B, C) clip scores (log-probabilities).

        A word class scores its best frame (the peak the live detector fires on); the background
        class scores its mean over the clip. A clip holding a word therefore scores the word, a clip
        of noise alone the background: argmax is what a detector would report for the clip.
        """
        log_probs = torch.log_softmax(frame_logits.float(), dim=-1)
        is_background = torch.arange(log_probs.shape[-1], device=log_probs.device) == self.config.background_class
        return torch.where(is_background, log_probs.mean(dim=1), log_probs.amax(dim=1))  # no in-place: autograd

    def forward_frames(
        self, frames: torch.Tensor, state: State | None = None, all_frames: bool = True
    ) -> tuple[torch.Tensor, State]:
        """(B, T, F) -> (B, T, num_classes): the clip logits as they stand after each frame.

        With ``all_frames=False`` only the last frame's logits are computed (T == 1 in the output).
        """
        cfg = self.config
        if state is None and not cfg.bidirectional:
            state = self.initial_state(frames.shape[0], frames.device)
        outputs, recurrent = self.encode(frames, state)
        pool_state = state[self.recurrent_state_size :] if state is not None else ()
        if cfg.pooling == "last":
            pooled = outputs if all_frames else outputs[:, -1:]
            new_pool: State = ()
        elif cfg.pooling == "mean":
            pooled, new_pool = self._mean_pool(outputs, pool_state, all_frames)
        else:
            pooled, new_pool = self._attention_pool(outputs, pool_state, all_frames)
        logits = self.head(self.dropout(pooled))
        return logits, tuple(recurrent) + tuple(new_pool)

    def _mean_pool(self, outputs: torch.Tensor, pool: State, all_frames: bool) -> tuple[torch.Tensor, State]:
        if pool:
            total, count = pool
        else:
            total = outputs.new_zeros(outputs.shape[0], outputs.shape[2])
            count = outputs.new_zeros(outputs.shape[0], 1)
        steps = torch.arange(1, outputs.shape[1] + 1, device=outputs.device, dtype=outputs.dtype).view(1, -1, 1)
        if all_frames:
            sums = total.unsqueeze(1) + outputs.cumsum(1)
            pooled = sums / (count.unsqueeze(1) + steps)
            new_total = sums[:, -1]
        else:
            new_total = total + outputs.sum(1)
            pooled = (new_total / (count + outputs.shape[1])).unsqueeze(1)
        return pooled, (new_total, count + outputs.shape[1])

    def _attention_pool(self, outputs: torch.Tensor, pool: State, all_frames: bool) -> tuple[torch.Tensor, State]:
        assert self.attention is not None
        scores = self.attention(outputs)  # (B, T, 1)
        if pool:
            prev_max, prev_den, prev_num = pool
        else:
            prev_max = outputs.new_full((outputs.shape[0], 1), float("-inf"))
            prev_den = outputs.new_zeros(outputs.shape[0], 1)
            prev_num = outputs.new_zeros(outputs.shape[0], outputs.shape[2])
        new_max = torch.maximum(prev_max, scores.amax(1))  # (B, 1)
        # exp(-inf - finite) == 0, so a fresh state contributes nothing.
        carry = torch.exp(prev_max - new_max)
        weights = torch.exp(scores - new_max.unsqueeze(1))  # (B, T, 1)
        if all_frames:
            den = prev_den.unsqueeze(1) * carry.unsqueeze(1) + weights.cumsum(1)
            num = prev_num.unsqueeze(1) * carry.unsqueeze(1) + (weights * outputs).cumsum(1)
            pooled = num / den
            new_den, new_num = den[:, -1], num[:, -1]
        else:
            new_den = prev_den * carry + weights.sum(1)
            new_num = prev_num * carry + (weights * outputs).sum(1)
            pooled = (new_num / new_den).unsqueeze(1)
        return pooled, (new_max, new_den, new_num)

    # ------------------------------------------------------------------------------------ misc
    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor, min_std: float = 1e-3) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp(min=min_std))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
