"""Batch augmentation on torch tensors (CPU or GPU): room, gain, noise mixing, time shift, SpecAugment.

Everything works on whole batches with tensor ops (no Python loop over clips), so it costs a few
milliseconds per batch of 256 one-second clips and runs wherever the batch lives. Randomness comes
only from the ``torch.Generator`` passed in (drawn on the generator's device, then moved), so a
seeded generator gives the same augmentation on CPU and GPU.

Defaults, and why:

* noise: with probability 0.8 a random stretch of a background-noise recording is mixed in at a
  signal-to-noise ratio drawn uniformly from 0..20 dB (0 dB: speech and noise equally loud; above
  20 dB noise is barely audible). The TensorFlow example mixes the same way, at a random volume.
* silence examples (zero waves) become a random noise stretch at a random volume (0..1), the
  TensorFlow example's ``_silence_`` recipe.
* shift: the clip moves by up to +-100 ms, zero filled (the TensorFlow example's time shift).
* room: with probability 0.5 the clip is played into a simulated room and microphone: convolved
  with a synthetic impulse response (a direct path plus exponentially decaying noise, reverberation
  time 0.1..0.6 s, direct-to-reverberant ratio 0..15 dB) and tilted by a random microphone/channel
  response of -3..+3 dB per octave around 1 kHz, then brought back to its original power. Close-
  talk clean corpora (FSDD, synthetic voices) otherwise never show the model a room or a laptop
  microphone, which is what it hears live (the Kaldi/ESPnet reverberation recipes, simplified).
* gain: every clip (speech and noise together) is scaled by a random -12..+12 dB, so loudness
  is not a cue: a quiet speaker or a low microphone level must still be recognized.
* speed (off by default): every spoken clip is played 0.9..1.1 times as fast (resampled: pitch,
  formants and pace move together), the speed perturbation of Ko et al. (2015). It imitates other
  vocal tracts and speaking rates, which a few speakers (or a user's own takes) do not cover.
* vocal-tract length perturbation (off by default; VTLP, Jaitly & Hinton 2013): each clip or stream
  lane is heard through a mel filterbank whose frequency axis is warped by a factor drawn from
  0.9..1.1 (``speechrnn.features.warped_mel_filterbank``): formants move as for a shorter or longer
  vocal tract, while pitch and pace stay (unlike speed). Training only; features cannot be cached.
* narrowband (off by default): each spoken clip, with probability ``band_limit_prob``, through a
  low-pass at ``band_limit_hz`` (4 kHz: an 8 kHz corpus such as FSDD, a telephone), so that an empty
  upper band is not a source's label when such a corpus trains beside wideband ones.
* other speakers' recording chains (off by default; stream objective): each spoken clip, with
  probability ``channel_prob``, filtered from its speaker's long-term spectrum to another training
  speaker's (``speechrnn.data.channel``), so that the few speakers of a word do not bring the only
  microphones it is heard through.
* SpecAugment: 2 time masks of up to 10 frames (100 ms at a 10 ms hop) and 2 frequency masks of up
  to 5 of 40 bins, on the feature frames. Masked values are set to ``fill`` (pass the model's
  feature mean: that is zero after its normalisation, as in the paper), else to each clip's
  per-coefficient mean over time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

DB_PER_POWER_DECADE = 10.0  # snr_db = 10 * log10(P_signal / P_noise)
MIN_POWER = 1e-10  # power floor so silent clips and silent noise stretches never divide by zero
GENERATED_NOISE_SECONDS = 10.0  # length of the fallback noise when no recordings are given
GENERATED_NOISE_RMS = 0.05  # about -26 dBFS: a quiet room / microphone self-noise level
SPEED_STEPS_PER_UNIT = 100  # speed factors are drawn in steps of 0.01: one resampling kernel per step


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run, and how strong. Each family can be switched off."""

    noise: bool = True
    noise_prob: float = 0.8
    snr_db_min: float = 0.0
    snr_db_max: float = 20.0
    silence_volume_max: float = 1.0
    shift: bool = True
    shift_ms: float = 100.0
    room: bool = True
    room_prob: float = 0.5
    rt60_s_min: float = 0.1
    rt60_s_max: float = 0.6
    drr_db_min: float = 0.0
    drr_db_max: float = 15.0
    tilt_db_per_octave_max: float = 3.0
    gain: bool = True
    gain_db_max: float = 12.0
    # off by default: on a custom word (bench.custom_word) it did not help (see README, "speed")
    speed: bool = False
    speed_min: float = 0.9
    speed_max: float = 1.1
    vtlp: bool = False
    vtlp_min: float = 0.9
    vtlp_max: float = 1.1
    # microphones that miss parts of the band: each lane / clip heard with this many stretches of up
    # to mel_mask_bands mel bands flattened to the frame's mean level before the DCT (SpecAugment's
    # frequency masks where they mean something physical; spec_augment's act on the coefficients)
    mel_masks: int = 0
    mel_mask_bands: int = 6
    # narrowband recordings (off by default): each spoken clip, with this probability, heard through
    # a low-pass at band_limit_hz, as an 8 kHz corpus (FSDD) or a telephone would give it, so that
    # a clip's empty upper band does not name its source; on the digits at 20-7600 Hz it did not
    # pay (assets/README, "The band above 4 kHz")
    band_limit_prob: float = 0.0
    band_limit_hz: float = 4000.0
    # other speakers' recording chains (off by default; stream objective): each spoken clip, with
    # this probability, heard through another training speaker's long-term spectrum
    # (speechrnn.data.channel.ChannelBank); at 0.5 it cost the digits and the Commands model hits
    # (assets/README, "Other speakers' recording chains")
    channel_prob: float = 0.0
    spec_augment: bool = True
    time_masks: int = 2
    time_mask_frames: int = 10
    freq_masks: int = 2
    freq_mask_bins: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.noise_prob <= 1:
            raise ValueError("noise_prob must be within 0..1")
        if not 0 <= self.room_prob <= 1:
            raise ValueError("room_prob must be within 0..1")
        if not 0 < self.rt60_s_min <= self.rt60_s_max:
            raise ValueError("rt60_s_min must be positive and not exceed rt60_s_max")
        if self.drr_db_min > self.drr_db_max:
            raise ValueError("drr_db_min must not exceed drr_db_max")
        if self.tilt_db_per_octave_max < 0 or self.gain_db_max < 0:
            raise ValueError("tilt_db_per_octave_max and gain_db_max must not be negative")
        if self.snr_db_min > self.snr_db_max:
            raise ValueError("snr_db_min must not exceed snr_db_max")
        if not 0 < self.speed_min <= self.speed_max:
            raise ValueError("speed_min must be positive and not exceed speed_max")
        if not 0 < self.vtlp_min <= self.vtlp_max:
            raise ValueError("vtlp_min must be positive and not exceed vtlp_max")
        if self.shift_ms < 0 or self.time_mask_frames < 0 or self.freq_mask_bins < 0:
            raise ValueError("shift_ms and mask sizes must not be negative")
        if self.mel_masks < 0 or self.mel_mask_bands < 0:
            raise ValueError("mel_masks and mel_mask_bands must not be negative")
        if not 0 <= self.band_limit_prob <= 1:
            raise ValueError("band_limit_prob must be within 0..1")
        if self.band_limit_hz <= 0:
            raise ValueError("band_limit_hz must be positive")
        if not 0 <= self.channel_prob <= 1:
            raise ValueError("channel_prob must be within 0..1")

    @property
    def wave_augmentation(self) -> bool:
        """True when something must happen on the waveform (features cannot be cached then)."""
        return (self.noise or self.shift or self.room or self.gain or self.speed or self.vtlp or self.mel_masks > 0
                or self.band_limit_prob > 0 or self.channel_prob > 0)

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(noise=False, shift=False, room=False, gain=False, speed=False, spec_augment=False)

    def draw_warps(self, count: int, generator: torch.Generator) -> torch.Tensor | None:
        """``count`` vocal-tract warps for the feature extractor (``None`` when vtlp is off; then
        nothing is drawn, so the other augmentations' draws stay as they were)."""
        if not self.vtlp:
            return None
        return _uniform(generator, count, self.vtlp_min, self.vtlp_max, torch.device("cpu"))

    def draw_band_masks(self, count: int, n_mels: int, generator: torch.Generator) -> torch.Tensor | None:
        """``(count, n_mels)`` bool: the mel bands each row hears flattened (``None`` when mel_masks
        is 0; then nothing is drawn, so the other augmentations' draws stay as they were)."""
        if self.mel_masks == 0 or self.mel_mask_bands == 0:
            return None
        return _band_mask(generator, count, self.mel_masks, self.mel_mask_bands, n_mels, torch.device("cpu"))

    def draw_band_limited(self, count: int, generator: torch.Generator) -> torch.Tensor | None:
        """``(count,)`` bool: the clips heard through the low-pass (``None`` when band_limit_prob is
        0; then nothing is drawn, so the other augmentations' draws stay as they were)."""
        if self.band_limit_prob == 0:
            return None
        return _uniform(generator, count, 0.0, 1.0, torch.device("cpu")) < self.band_limit_prob

    def draw_channels(self, count: int, generator: torch.Generator) -> torch.Tensor | None:
        """``(count,)`` bool: the clips heard through another speaker's recording chain (``None``
        when channel_prob is 0; then nothing is drawn)."""
        if self.channel_prob == 0:
            return None
        return _uniform(generator, count, 0.0, 1.0, torch.device("cpu")) < self.channel_prob

    def draw_speed(self, rng: np.random.Generator) -> float:
        """A speed factor from ``rng``, in steps of 1 / SPEED_STEPS_PER_UNIT (1.0 when speed is off)."""
        if not self.speed:
            return 1.0
        return round(rng.uniform(self.speed_min, self.speed_max) * SPEED_STEPS_PER_UNIT) / SPEED_STEPS_PER_UNIT


def sped_length(samples: int, speed: float) -> int:
    """How many samples ``samples`` of audio last when played ``speed`` times as fast."""
    return round(samples / speed)


class SpeedChanger:
    """Plays waves faster or slower: ``changer(waves (..., N), speed) -> (..., sped_length(N, speed))``.

    A band-limited resampling (torchaudio's windowed sinc), so a faster clip does not alias; one
    kernel is kept per speed step.
    """

    def __init__(self, device: torch.device = torch.device("cpu")):
        self.device = device
        self._resamplers: dict[int, torch.nn.Module] = {}

    def __call__(self, waves: torch.Tensor, speed: float) -> torch.Tensor:
        length = sped_length(waves.shape[-1], speed)
        step = round(speed * SPEED_STEPS_PER_UNIT)
        if step == SPEED_STEPS_PER_UNIT:
            return waves
        if step not in self._resamplers:
            from torchaudio.transforms import Resample

            self._resamplers[step] = Resample(step, SPEED_STEPS_PER_UNIT).to(self.device)
        out = self._resamplers[step](waves.float())
        if out.shape[-1] >= length:
            return out[..., :length]
        return F.pad(out, (0, length - out.shape[-1]))


def _power(x: torch.Tensor) -> torch.Tensor:
    """Mean square per row over the last axis (one fused pass, no temporary)."""
    norm = torch.linalg.vector_norm(x, dim=-1, dtype=torch.float32)
    return (norm.square() / x.shape[-1]).clamp_min(MIN_POWER)


def noise_gain(clean_power: torch.Tensor, noise_power: torch.Tensor, snr_db: float | torch.Tensor) -> torch.Tensor:
    """Factor for the noise so that clean_power / (factor^2 * noise_power) is ``snr_db``."""
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=clean_power.device)
    return torch.sqrt(clean_power / (noise_power * torch.pow(10.0, snr / DB_PER_POWER_DECADE)))


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: float | torch.Tensor) -> torch.Tensor:
    """``clean + g * noise`` with ``g`` chosen so that power(clean) / power(g * noise) is ``snr_db``.

    Works on (N,) or (B, N) (power per row over the last axis); ``snr_db`` is a number or a (B,)
    tensor. A silent clip stays silent (its power is floored, so the noise gain is ~0).
    """
    gain = noise_gain(_power(clean), _power(noise), snr_db)
    return torch.addcmul(clean, gain.unsqueeze(-1).to(clean.dtype), noise.to(clean.dtype))


def generated_noise(sample_rate_hz: int, seconds: float = GENERATED_NOISE_SECONDS, seed: int = 0) -> list[torch.Tensor]:
    """White and pink noise at a quiet-room level: the fallback when no noise recordings exist."""
    rng = np.random.default_rng(seed)
    length = int(sample_rate_hz * seconds)
    white = rng.standard_normal(length)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))  # 1/f power: pink
    spectrum[0] = 0.0
    pink = np.fft.irfft(spectrum, n=length)
    out = []
    for wave in (white, pink):
        wave = wave * (GENERATED_NOISE_RMS / np.sqrt(np.mean(wave**2)))
        out.append(torch.from_numpy(wave.astype(np.float32)))
    return out


def _uniform(generator: torch.Generator, size: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    values = torch.rand(size, generator=generator, device=generator.device)
    return (low + (high - low) * values).to(device)


def _randint(generator: torch.Generator, size: int, high: torch.Tensor | int, device: torch.device) -> torch.Tensor:
    """Integers in [0, high) per row; ``high`` may be a (size,) tensor."""
    values = torch.rand(size, generator=generator, device=generator.device).to(device)
    high = torch.as_tensor(high, device=device)
    return torch.minimum((values * high).long(), (high - 1).clamp_min(0))


class NoiseBank:
    """Noise recordings joined end to end, so random stretches of all of them are one gather."""

    def __init__(self, noise: list[torch.Tensor], length: int):
        pieces = []
        for wave in noise:
            wave = wave.reshape(-1).float()
            if wave.numel() == 0:
                continue
            if wave.numel() < length:  # a short recording repeats to cover one clip
                wave = wave.repeat(-(-length // wave.numel()))
            pieces.append(wave)
        if not pieces:
            raise ValueError("NoiseBank needs at least one non-empty noise recording")
        self.length = length
        self.sizes = torch.tensor([p.numel() for p in pieces], dtype=torch.long)
        self.starts = torch.cumsum(self.sizes, 0) - self.sizes
        self.bank = torch.cat(pieces)
        # Running sum of squares: the power of any stretch is one subtraction, no pass over it.
        self.energy = F.pad(torch.cumsum(self.bank.double().square(), 0), (1, 0))
        self._on_device: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def __len__(self) -> int:
        return len(self.sizes)

    def _tensors(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if device not in self._on_device:
            energy = self.energy.to(device, torch.float32 if device.type == "mps" else torch.float64)
            self._on_device[device] = (self.bank.to(device), self.starts.to(device), self.sizes.to(device), energy)
        return self._on_device[device]

    def sample_with_power(self, batch: int, generator: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, length) random stretches (random recording, random offset) and their (batch,) powers."""
        bank, starts, sizes, energy = self._tensors(device)
        which = _randint(generator, batch, len(self), device)
        first = starts[which] + _randint(generator, batch, sizes[which] - self.length + 1, device)
        windows = bank.unfold(0, self.length, 1)  # a view: row i = bank[i : i + length]
        power = ((energy[first + self.length] - energy[first]) / self.length).float().clamp_min(MIN_POWER)
        return windows[first], power

    def sample(self, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """(batch, length) random stretches (random recording, random offset)."""
        return self.sample_with_power(batch, generator, device)[0]


RT60_DECAY = math.log(1e3)  # reverberation time: the energy falls by 60 dB (amplitude by 1e3)
ROOM_TAIL_S = 0.25  # impulse-response length kept: a 0.6 s RT60 tail is -36 dB by then
TILT_PIVOT_HZ = 1000.0  # the channel tilt turns around this frequency
TILT_FLOOR_HZ = 50.0  # below it the tilt stays constant (no boost toward DC)
ROOM_BANK_SIZE = 256  # rooms per WaveAugmenter (20,000-point FFT: 20 MB of filters for 1 s clips)


def _fft_size(minimum: int) -> int:
    """The smallest 2^a * 3^b * 5^c >= ``minimum``: FFTs of such sizes are fast (20,480, not 32,768)."""
    best = 1 << max(0, minimum - 1).bit_length()
    threes = 1
    while threes < best:
        fives = threes
        while fives < best:
            size = fives
            while size < minimum:
                size *= 2
            best = min(best, size)
            fives *= 5
        threes *= 3
    return best


def room_filters(config: AugmentConfig, sample_rate_hz: int, length: int, count: int,
                 generator: torch.Generator) -> torch.Tensor:
    """``count`` random rooms and microphones as frequency responses (count, n_fft // 2 + 1), complex,
    for clips of ``length`` samples (``n_fft`` = :func:`room_fft_size`).

    Impulse response: 1 at t = 0 (the direct sound, so the word does not move) plus Gaussian noise
    under an exponential decay of the drawn RT60, scaled to the drawn direct-to-reverberant ratio;
    the microphone: a spectral tilt in dB per octave. Both are one multiplication in the frequency
    domain (FFT convolution).
    """
    device = generator.device
    tail = max(1, round(ROOM_TAIL_S * sample_rate_hz))
    n_fft = room_fft_size(length, sample_rate_hz)
    rt60 = _uniform(generator, count, config.rt60_s_min, config.rt60_s_max, device)
    drr_db = _uniform(generator, count, config.drr_db_min, config.drr_db_max, device)
    tilt = _uniform(generator, count, -config.tilt_db_per_octave_max, config.tilt_db_per_octave_max, device)
    noise = torch.randn(count, tail, generator=generator, device=device)
    t = torch.arange(tail, device=device) / sample_rate_hz
    reverb = noise * torch.exp(-RT60_DECAY * t / rt60.unsqueeze(-1))
    reverb[:, 0] = 0.0
    reverb_energy = reverb.square().sum(-1).clamp_min(MIN_POWER)
    reverb *= torch.sqrt(torch.pow(10.0, -drr_db / DB_PER_POWER_DECADE) / reverb_energy).unsqueeze(-1)
    reverb[:, 0] = 1.0
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz, device=device).clamp_min(TILT_FLOOR_HZ)
    octaves = torch.log2(freqs / TILT_PIVOT_HZ)
    channel = torch.pow(10.0, tilt.unsqueeze(-1) * octaves / (2 * DB_PER_POWER_DECADE))  # dB -> amplitude
    return torch.fft.rfft(reverb, n=n_fft) * channel


def room_fft_size(length: int, sample_rate_hz: int) -> int:
    """FFT size of :func:`room_filters` for clips of ``length`` samples: clip plus reverberation tail."""
    needed = length + max(1, round(ROOM_TAIL_S * sample_rate_hz)) - 1
    return 2 * _fft_size(-(-needed // 2))  # even: apply_room reads the size back from rfft's bins


def apply_room(waves: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """``waves`` (B, N) through ``filters`` (B, n_fft // 2 + 1) from :func:`room_filters`, truncated to
    N samples and brought back to each row's own power."""
    length = waves.shape[-1]
    n_fft = 2 * (filters.shape[-1] - 1)
    out = torch.fft.irfft(torch.fft.rfft(waves, n=n_fft).mul_(filters), n=n_fft)[:, :length]
    return out.mul_(torch.sqrt(_power(waves) / _power(out)).unsqueeze(-1))


def room_response(waves: torch.Tensor, config: AugmentConfig, sample_rate_hz: int,
                  generator: torch.Generator) -> torch.Tensor:
    """``waves`` (B, N) each through its own new random room and microphone (:func:`room_filters`)."""
    filters = room_filters(config, sample_rate_hz, waves.shape[-1], len(waves), generator)
    return apply_room(waves, filters.to(waves.device))


class RoomBank:
    """A fixed set of random rooms (:func:`room_filters`), drawn once from ``seed``: a batch picks
    one per clip, so each clip costs two FFTs instead of three plus the filter's making (measured
    44 -> 10 ms per 128 clips on one core). ``ROOM_BANK_SIZE`` rooms x random noise, gain and shift
    still give every example its own sound."""

    def __init__(self, config: AugmentConfig, sample_rate_hz: int, length: int, count: int, seed: int = 0):
        self.filters = room_filters(config, sample_rate_hz, length, count, torch.Generator().manual_seed(seed))
        self._on_device: dict[torch.device, torch.Tensor] = {}

    def __call__(self, waves: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        device = waves.device
        if device not in self._on_device:
            self._on_device[device] = self.filters.to(device)
        filters = self._on_device[device]
        which = _randint(generator, len(waves), len(filters), device)
        return apply_room(waves, filters[which])


LOW_PASS_TAPS = 255  # windowed-sinc low-pass: about 16 ms at 16 kHz, a transition of about 0.2 kHz


class LowPass:
    """A linear-phase low-pass at ``cutoff_hz`` (Blackman-windowed sinc, applied by FFT with no
    delay): ``LowPass(cutoff_hz, sample_rate_hz)(waves (B, N)) -> (B, N)``. The cutoff is where the
    response is -6 dB; the stop band starts about 0.2 kHz above it, attenuated by some 70 dB."""

    def __init__(self, cutoff_hz: float, sample_rate_hz: int, taps: int = LOW_PASS_TAPS):
        if not 0 < cutoff_hz < sample_rate_hz / 2:
            raise ValueError(f"the low-pass cutoff {cutoff_hz} Hz must lie between 0 and {sample_rate_hz / 2} Hz")
        centre = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
        normalised = 2.0 * cutoff_hz / sample_rate_hz
        kernel = normalised * torch.sinc(normalised * centre) * torch.blackman_window(taps, periodic=False, dtype=torch.float64)
        self.kernel = (kernel / kernel.sum()).float()
        self._spectra: dict[tuple[int, torch.device], torch.Tensor] = {}  # by FFT size and device

    def _spectrum(self, size: int, device: torch.device) -> torch.Tensor:
        if (size, device) not in self._spectra:
            self._spectra[size, device] = torch.fft.rfft(self.kernel.to(device), n=size)
        return self._spectra[size, device]

    def __call__(self, waves: torch.Tensor) -> torch.Tensor:
        taps, length = self.kernel.numel(), waves.shape[-1]
        size = _fft_size(length + taps - 1)
        spectrum = torch.fft.rfft(waves.float(), n=size) * self._spectrum(size, waves.device)
        delay = (taps - 1) // 2
        return torch.fft.irfft(spectrum, n=size)[..., delay : delay + length]

    def rows(self, waves: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """``waves`` (B, N) with the rows where ``chosen`` (B,) bool is true low-passed, the others
        as they were."""
        rows = torch.nonzero(chosen.to(waves.device)).flatten()
        return waves.float().index_copy(0, rows, self(waves[rows])) if len(rows) else waves


def time_shift(waves: torch.Tensor, shift: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Move row ``b`` right by ``shift[b]`` samples (left if negative), zero filled; |shift| <= max_shift."""
    length = waves.shape[-1]
    padded = F.pad(waves, (max_shift, max_shift))
    windows = padded.unfold(-1, length, 1)  # (B, 2 * max_shift + 1, N) view
    rows = torch.arange(waves.shape[0], device=waves.device)
    return windows[rows, max_shift - shift]


def centred(waves: torch.Tensor, length: int) -> torch.Tensor:
    """``waves`` (B, M) cut or zero padded to (B, length), keeping the middle (where a clip's word is)."""
    excess = waves.shape[-1] - length
    if excess >= 0:
        return waves[..., excess // 2 : excess // 2 + length]
    return F.pad(waves, (-excess // 2, -excess - (-excess // 2)))


class WaveAugmenter:
    """Speed, noise mixing, silence filling and time shift for a batch of waves.

    ``WaveAugmenter(config, noise, sample_rate_hz)(waves (B, N) float, is_silence (B,) bool,
    generator) -> (B, N)``. ``noise`` is a list of 1-D recordings at ``sample_rate_hz``; with none,
    generated white/pink noise is used.
    """

    def __init__(self, config: AugmentConfig, noise: list[torch.Tensor], sample_rate_hz: int, clip_samples: int | None = None):
        self.config = config
        self.sample_rate_hz = sample_rate_hz
        self.max_shift = round(sample_rate_hz * config.shift_ms / 1000)
        self._noise = [n for n in noise if n.numel() > 0] or generated_noise(sample_rate_hz)
        self._banks: dict[int, NoiseBank] = {}
        self._rooms: dict[int, RoomBank] = {}
        self._speed: SpeedChanger | None = None
        self._low_pass = LowPass(config.band_limit_hz, sample_rate_hz) if config.band_limit_prob > 0 else None
        if clip_samples is not None:
            self._bank(clip_samples)

    def _room(self, length: int) -> RoomBank:
        if length not in self._rooms:
            self._rooms[length] = RoomBank(self.config, self.sample_rate_hz, length, ROOM_BANK_SIZE)
        return self._rooms[length]

    def _bank(self, length: int) -> NoiseBank:
        if length not in self._banks:
            self._banks[length] = NoiseBank(self._noise, length)
        return self._banks[length]

    def _change_speed(self, waves: torch.Tensor, spoken: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every spoken row at a random speed, kept at its length (see ``centred``)."""
        cfg, (batch, length) = self.config, waves.shape
        draws = _uniform(generator, batch, cfg.speed_min, cfg.speed_max, waves.device)
        steps = torch.round(draws * SPEED_STEPS_PER_UNIT).long()
        steps = torch.where(spoken, steps, torch.full_like(steps, SPEED_STEPS_PER_UNIT))
        if self._speed is None:
            self._speed = SpeedChanger(waves.device)
        out = waves.float().clone()
        for step in torch.unique(steps).tolist():
            if step != SPEED_STEPS_PER_UNIT:
                rows = torch.nonzero(steps == step).flatten()
                out[rows] = centred(self._speed(out[rows], step / SPEED_STEPS_PER_UNIT), length)
        return out

    @torch.no_grad()
    def __call__(self, waves: torch.Tensor, is_silence: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented float32 copy of ``waves`` (float16 or float32, any device)."""
        cfg = self.config
        batch, length = waves.shape
        device = waves.device
        keep = (~is_silence.to(device=device, dtype=torch.bool)).float()
        clean = waves
        if cfg.speed:
            clean = self._change_speed(clean, keep > 0, generator)
        if cfg.shift and self.max_shift > 0:
            shift = _randint(generator, batch, 2 * self.max_shift + 1, device) - self.max_shift
            clean = time_shift(clean, shift, self.max_shift)
        if cfg.room and cfg.room_prob > 0:
            rows = torch.nonzero((_uniform(generator, batch, 0.0, 1.0, device) < cfg.room_prob) & (keep > 0)).flatten()
            if len(rows):
                clean = clean.float().index_copy(0, rows, self._room(length)(clean[rows].float(), generator))
        narrow = cfg.draw_band_limited(batch, generator)  # drawn only when _low_pass exists
        if narrow is not None:
            clean = self._low_pass.rows(clean, narrow.to(device) & (keep > 0))
        noise, noise_power = self._bank(length).sample_with_power(batch, generator, device)
        # One output pass: out = keep * clean + noise_scale * noise, with a per-row noise_scale of
        # a random volume for silence rows, the SNR gain for rows that get noise, else 0.
        volume = _uniform(generator, batch, 0.0, cfg.silence_volume_max, device)
        noise_scale = torch.zeros(batch, device=device)
        if cfg.noise:
            snr_db = _uniform(generator, batch, cfg.snr_db_min, cfg.snr_db_max, device)
            apply = _uniform(generator, batch, 0.0, 1.0, device) < cfg.noise_prob
            noise_scale = torch.where(apply, noise_gain(_power(clean), noise_power, snr_db), noise_scale)
        noise_scale = torch.where(keep > 0, noise_scale, volume)
        out = noise * noise_scale.unsqueeze(-1)
        out.addcmul_(clean, keep.unsqueeze(-1))
        if cfg.gain and cfg.gain_db_max > 0:
            gain_db = _uniform(generator, batch, -cfg.gain_db_max, cfg.gain_db_max, device)
            out *= torch.pow(10.0, gain_db / (2 * DB_PER_POWER_DECADE)).unsqueeze(-1)
        return out


def _band_mask(generator: torch.Generator, batch: int, count: int, max_width: int, size: int, device: torch.device) -> torch.Tensor:
    """(batch, size) bool: ``count`` bands per row, each of width 0..max_width at a random place."""
    mask = torch.zeros(batch, size, dtype=torch.bool, device=device)
    if count == 0 or max_width == 0 or size == 0:
        return mask
    positions = torch.arange(size, device=device)
    for _ in range(count):  # a couple of masks: a loop over masks, never over clips
        width = _randint(generator, batch, min(max_width, size) + 1, device)
        start = _randint(generator, batch, size - width + 1, device)
        mask |= (positions >= start.unsqueeze(-1)) & (positions < (start + width).unsqueeze(-1))
    return mask


@torch.no_grad()
def spec_augment(
    frames: torch.Tensor, config: AugmentConfig, generator: torch.Generator, fill: torch.Tensor | None = None
) -> torch.Tensor:
    """Time and frequency masks on (B, T, F) frames; returns a new tensor (input untouched).

    ``fill`` ((F,), e.g. the model's ``feature_mean``) is written into masked cells; without it
    each clip's per-coefficient mean over time is used.
    """
    if not config.spec_augment:
        return frames
    batch, steps, dims = frames.shape
    device = frames.device
    time_mask = _band_mask(generator, batch, config.time_masks, config.time_mask_frames, steps, device)
    freq_mask = _band_mask(generator, batch, config.freq_masks, config.freq_mask_bins, dims, device)
    mask = time_mask.unsqueeze(-1) | freq_mask.unsqueeze(1)
    if fill is None:
        values = frames.mean(dim=1, keepdim=True)
    else:
        values = fill.to(device=device, dtype=frames.dtype).reshape(1, 1, dims)
    return torch.where(mask, values, frames)
