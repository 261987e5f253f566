"""Other speakers' recording chains (speechrnn.data.channel): a transplanted clip takes the other
speaker's long-term spectrum and keeps its own power; unchosen and unspoken rows stay as they were."""

import numpy as np
import pytest
import torch

from speechrnn.data.augment import AugmentConfig
from speechrnn.data.channel import ChannelBank, long_term_spectrum_db

RATE_HZ = 16000


def _noise(rows: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy((0.1 * rng.standard_normal((rows, RATE_HZ))).astype(np.float32))


def _dull(waves: torch.Tensor) -> torch.Tensor:
    """A microphone that loses the top: a first-order low-pass at 1 kHz (-15 dB at 6 kHz)."""
    hz = torch.fft.rfftfreq(waves.shape[-1], 1 / RATE_HZ)
    return torch.fft.irfft(torch.fft.rfft(waves) / torch.sqrt(1 + (hz / 1000.0) ** 2), n=waves.shape[-1])


def _band(spectrum_db: torch.Tensor, low_hz: float, high_hz: float) -> torch.Tensor:
    hz = torch.linspace(0.0, RATE_HZ / 2, spectrum_db.shape[-1])
    return spectrum_db[..., (hz >= low_hz) & (hz < high_hz)].mean(-1)


def test_a_clip_takes_the_other_speakers_spectrum_and_keeps_its_power():
    bright, dull = _noise(8, 0), _dull(_noise(8, 1))
    waves = torch.cat([bright, dull])
    bank = ChannelBank(waves, ["bright"] * 8 + ["dull"] * 8, ["noise"] * 16, limit_db=40.0)
    assert bank.speakers == 2
    generator = torch.Generator().manual_seed(0)
    out = bank.rows(waves, torch.arange(16), torch.ones(16, dtype=torch.bool), generator)
    torch.testing.assert_close(out.square().mean(-1), waves.square().mean(-1), rtol=1e-3, atol=1e-9)
    tilt = lambda w: _band(long_term_spectrum_db(w), 5000, 7000) - _band(long_term_spectrum_db(w), 200, 2000)
    before, after = tilt(waves), tilt(out)
    assert (before[:8] - before[8:].mean()).min() > 10  # the dull microphone loses more than 10 dB up top
    # whichever speaker each clip drew, it now sounds like that speaker's microphone
    bright_tilt, dull_tilt = before[:8].mean(), before[8:].mean()
    for row in range(16):
        own, other = (bright_tilt, dull_tilt) if row < 8 else (dull_tilt, bright_tilt)
        expected = own if torch.allclose(out[row], waves[row], atol=1e-5) else other
        assert abs(float(after[row] - expected)) < 3.0, (row, float(after[row]), float(expected))
    # and some of each speaker's clips drew the other microphone
    assert (after[:8] < before[:8] - 10).any() and (after[8:] > before[8:] + 10).any()


def test_a_speaker_who_said_one_word_brings_a_chain_not_the_words_spectrum():
    # two words of different spectra (bright "ess", dull "oo"); every speaker has the same microphone,
    # but "solo" said only "ess" (as a user's takes say one word): nothing to transplant
    ess, oo = _noise(12, 0), _dull(_noise(12, 1))
    waves = torch.cat([ess[:4], ess[4:8], oo[:4], ess[8:], oo[4:8]])
    speakers = ["solo"] * 4 + ["pair1"] * 4 + ["pair1"] * 4 + ["pair2"] * 4 + ["pair2"] * 4
    words = ["ess"] * 8 + ["oo"] * 4 + ["ess"] * 4 + ["oo"] * 4
    bank = ChannelBank(waves, speakers, words, limit_db=40.0)
    assert bank.deviation_db.abs().max() < 2.0
    # the same speakers with their own microphones: the dull one's chain is found whatever they said
    dulled = torch.cat([waves[:4], _dull(waves[4:12]), waves[12:]])
    chains = ChannelBank(dulled, speakers, words, limit_db=40.0).deviation_db  # speakers in name order
    top = lambda curve: float(_band(curve, 5000, 7000) - _band(curve, 200, 2000))
    assert top(chains[0]) < -5 and top(chains[1]) > 2 and top(chains[2]) > 2  # pair1, pair2, solo


def test_unchosen_and_unspoken_rows_stay_as_they_were():
    waves = torch.cat([_noise(3, 0), _dull(_noise(3, 1)), torch.zeros(2, RATE_HZ)])
    bank = ChannelBank(waves, ["a"] * 3 + ["b"] * 3 + [None, None], ["noise"] * 6 + [None, None])
    generator = torch.Generator().manual_seed(0)
    chosen = torch.tensor([True, False, True, False, True, False, True, True])
    out = bank.rows(waves, torch.arange(8), chosen, generator)
    torch.testing.assert_close(out[~chosen], waves[~chosen])
    assert torch.equal(out[6:], waves[6:])  # generated silence has no speaker: nothing to transplant
    assert not torch.allclose(out[chosen][:3], waves[chosen][:3])
    # one speaker only: there is no other chain to hear
    lonely = ChannelBank(waves[:3], ["a"] * 3, ["noise"] * 3)
    assert torch.equal(lonely.rows(waves[:3], torch.arange(3), torch.ones(3, dtype=torch.bool), generator), waves[:3])


def test_transplants_are_limited_and_relative_to_the_speakers_level():
    loud, quiet = _noise(2, 0), 0.01 * _noise(2, 1)  # same spectrum, 40 dB apart
    bank = ChannelBank(torch.cat([loud, quiet]), ["loud", "loud", "quiet", "quiet"], ["w"] * 4, limit_db=6.0)
    assert bank.deviation_db.abs().max() < 1.5  # the level is not a recording chain's shape
    dull = ChannelBank(torch.cat([_noise(2, 0), _dull(_noise(2, 1))]), ["a", "a", "b", "b"], ["w"] * 4, limit_db=6.0)
    gains = dull.gains_db(torch.arange(4), torch.Generator().manual_seed(0))
    assert gains.abs().max() <= 6.0 + 1e-6
    with pytest.raises(ValueError, match="speakers"):
        ChannelBank(torch.zeros(3, RATE_HZ), ["a", "b"], ["w"] * 3)


def test_channel_prob_draws_nothing_when_off():
    assert AugmentConfig(channel_prob=0.0).draw_channels(5, torch.Generator().manual_seed(0)) is None
    drawn = AugmentConfig(channel_prob=0.5).draw_channels(1000, torch.Generator().manual_seed(0))
    assert 400 < int(drawn.sum()) < 600
    assert AugmentConfig(noise=False, shift=False, room=False, gain=False, spec_augment=False,
                         channel_prob=0.5).wave_augmentation  # features cannot be cached
    with pytest.raises(ValueError, match="channel_prob"):
        AugmentConfig(channel_prob=-0.1)


def test_stream_words_are_heard_through_other_speakers_chains():
    from speechrnn.features import FeatureConfig, FeatureExtractor
    from speechrnn.training.stream_batches import StreamBatches

    features = FeatureConfig()
    waves = torch.cat([_noise(3, 0), _dull(_noise(3, 1))]).half()
    noise = [0.01 * _noise(1, 2)[0].repeat(5)]

    def words(prob: float, speakers) -> torch.Tensor:
        augment = AugmentConfig(room=False, spec_augment=False, channel_prob=prob)
        batches = StreamBatches(waves, torch.tensor([1, 2, 3, 1, 2, 3]), torch.zeros(6, dtype=torch.bool),
                                FeatureExtractor(features), features, augment, noise, torch.device("cpu"),
                                segment_s=3.0, target_ms=200.0, target_lead_ms=100.0, background_class=0,
                                other_word_classes=(), hum_prob=0.0, hum_level_db=(0.0, 0.0), speakers=speakers,
                                words=["noise"] * 6)
        generator = torch.Generator().manual_seed(0)
        plan = batches.plan_epoch(torch.arange(6), lanes=6, generator=generator)
        return batches._words(plan[0], generator)

    speakers = ["bright"] * 3 + ["dull"] * 3
    plain, transplanted = words(0.0, speakers), words(1.0, speakers)
    top = lambda speech: _band(long_term_spectrum_db(speech), 5000, 7000)
    assert (top(transplanted) - top(plain)).abs().max() > 10  # some words took the other microphone
    with pytest.raises(ValueError, match="speaker"):
        words(0.5, None)
