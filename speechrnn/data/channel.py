"""Other speakers' microphones: each spoken clip heard through the long-term spectrum of another
training speaker (``AugmentConfig.channel_prob``).

Why: a speaker's recordings share one microphone, room and voice; their long-term average spectrum
(LTAS) is that recording chain's fingerprint. With few speakers of a word, the network can learn
the fingerprint as part of the word (issue 10's "microphone as a label"). The thousand-odd speakers
of other words (Speech Commands v1's bed / cat / happy) bring a thousand recording chains that the
words themselves never pass through.

How: at the start of training every speaker's LTAS is measured (the mean, over that speaker's
clips, of how each clip's power spectrum in dB differs from the mean of its word's clips: the
chain, not the words said), smoothed across frequency, and taken relative to the
mean over speakers (each speaker counts once) and to its own mean over frequency (the shape, not
the recording level). A chosen clip of speaker A is then filtered, zero
phase, by ``deviation[B] - deviation[A]`` for a random speaker B (limited to +-``limit_db``): its
long-term spectrum becomes B's, its words and timing stay A's. Clips without a speaker (generated
silence) are never chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from speechrnn.data.augment import DB_PER_POWER_DECADE, _power

FFT_SIZE = 512  # 32 ms at 16 kHz: 31.25 Hz per bin, enough for a spectral envelope
HOP_SIZE = 256
SMOOTHING_BINS = 9  # moving average over about 280 Hz: the envelope, not single harmonics
LIMIT_DB = 12.0  # no transplant moves a band by more than this
FLOOR_DB = -100.0  # power floor of the spectra (silent clips)
CLIPS_PER_CHUNK = 512  # clips measured at once (bounds memory: 512 x 62 frames x 257 bins)


class ChannelBank:
    """``ChannelBank(waves (N, S), speakers, words)``; ``bank.rows(waves, clips, chosen, generator)``."""

    def __init__(self, waves: torch.Tensor, speakers: Sequence[str | None], words: Sequence[str | None],
                 limit_db: float = LIMIT_DB):
        if not len(speakers) == len(words) == len(waves):
            raise ValueError(f"{len(waves)} clips but {len(speakers)} speakers and {len(words)} words")
        names = sorted({s for s in speakers if s is not None})
        index = {name: i for i, name in enumerate(names)}
        self.speaker = torch.tensor([index[s] if s is not None else -1 for s in speakers], dtype=torch.long)
        self.limit_db = limit_db
        rows = torch.nonzero(self.speaker >= 0).flatten()
        chunks = [long_term_spectrum_db(waves[rows[start : start + CLIPS_PER_CHUNK]].float())
                  for start in range(0, len(rows), CLIPS_PER_CHUNK)]
        spectra = torch.cat(chunks) if chunks else torch.zeros(0, FFT_SIZE // 2 + 1)
        # a clip's spectrum is its word's as much as its speaker's: each clip counts by how it differs
        # from the mean of its word, so that a speaker who said one word (a user's takes) brings a
        # recording chain, not that word's spectrum
        word_index: dict[str | None, int] = {}
        word_of = torch.tensor([word_index.setdefault(words[r], len(word_index)) for r in rows.tolist()],
                               dtype=torch.long)
        word_mean = _group_mean(spectra, word_of, len(word_index))
        chain = _group_mean(spectra - word_mean[word_of], self.speaker[rows], len(names))
        smoothed = F.avg_pool1d(chain.unsqueeze(1), SMOOTHING_BINS, stride=1, padding=SMOOTHING_BINS // 2,
                                count_include_pad=False).squeeze(1)
        deviation = smoothed - smoothed.mean(0, keepdim=True)
        # the shape only: a speaker's recording level is the gain augmentation's business
        self.deviation_db = deviation - deviation.mean(-1, keepdim=True)  # (speakers, bins)

    @property
    def speakers(self) -> int:
        return self.deviation_db.shape[0]

    def gains_db(self, clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(len(clips), bins) dB: each clip's speaker's spectrum replaced by a random speaker's."""
        others = torch.randint(0, self.speakers, (len(clips),), generator=generator, device=generator.device).cpu()
        own = self.speaker[clips]
        gains = self.deviation_db[others] - self.deviation_db[own.clamp_min(0)]
        return torch.where((own >= 0).unsqueeze(-1), gains, torch.zeros_like(gains)).clamp(-self.limit_db, self.limit_db)

    def rows(self, waves: torch.Tensor, clips: torch.Tensor, chosen: torch.Tensor,
             generator: torch.Generator) -> torch.Tensor:
        """``waves`` (B, N) of training rows ``clips`` (B,), the rows where ``chosen`` (B,) holds
        heard through another speaker's recording chain (at their own power), the others as they were."""
        rows = torch.nonzero(chosen).flatten()
        if not len(rows) or self.speakers < 2:
            return waves
        gains = self.gains_db(clips[rows], generator)
        before = waves[rows].float()
        after = apply_gain_db(before, gains)
        after *= torch.sqrt(_power(before) / _power(after)).unsqueeze(-1)  # as the room does: same power
        return waves.float().index_copy(0, rows.to(waves.device), after)


def _group_mean(values: torch.Tensor, groups: torch.Tensor, count: int) -> torch.Tensor:
    """(count, bins): the mean of the rows of ``values`` (N, bins) in each group (0 for an empty one)."""
    sums = torch.zeros(count, values.shape[-1], dtype=torch.float64).index_add_(0, groups, values.double())
    return (sums / torch.bincount(groups, minlength=count).clamp_min(1).unsqueeze(-1)).float()


def long_term_spectrum_db(waves: torch.Tensor) -> torch.Tensor:
    """(B, FFT_SIZE // 2 + 1): each row's mean power spectrum over its frames, in dB. Loud frames
    dominate the mean, so it is the speech's spectrum rather than the pauses'."""
    window = torch.hann_window(FFT_SIZE, device=waves.device)
    spectra = torch.stft(waves, FFT_SIZE, HOP_SIZE, window=window, center=False, return_complex=True)
    power = spectra.abs().square().mean(-1)
    return DB_PER_POWER_DECADE * torch.log10(power.clamp_min(10 ** (FLOOR_DB / DB_PER_POWER_DECADE)))


def apply_gain_db(waves: torch.Tensor, gains_db: torch.Tensor) -> torch.Tensor:
    """Zero-phase filtering: row b of ``waves`` (B, N) through the magnitude response ``gains_db[b]``
    (bins 0..FFT_SIZE/2, linearly interpolated to the row's FFT). Smooth responses have short
    impulse responses, so the circular wrap of a whole-row FFT stays within a few milliseconds."""
    length = waves.shape[-1]
    bins = length // 2 + 1
    response = F.interpolate(gains_db.unsqueeze(1), size=bins, mode="linear", align_corners=True).squeeze(1)
    amplitude = torch.pow(10.0, response.to(waves.device) / (2 * DB_PER_POWER_DECADE))
    spectrum = torch.fft.rfft(waves) * amplitude
    return torch.fft.irfft(spectrum, n=length)
