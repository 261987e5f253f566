"""RNNClassifier: carried state is the network's memory, so chunked == whole."""

import math

import pytest
import torch

from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.model import CELLS, POOLINGS, SPECTRAL_CONV_CHANNELS, ModelConfig, RNNClassifier, new_network_front_end

# float32 recurrences over 98 steps: differences are rounding only.
STATE_ATOL = 1e-5


def _model(**kwargs) -> RNNClassifier:
    torch.manual_seed(0)
    return RNNClassifier(ModelConfig(num_classes=5, input_dim=40, **kwargs)).eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("running_mean_frames", [0, 20])
def test_frame_by_frame_with_carried_state_equals_whole_clip(cell, pooling, running_mean_frames):
    model = _model(cell=cell, pooling=pooling, running_mean_frames=running_mean_frames)
    frames = torch.randn(3, 98, 40) * 5 + 2
    with torch.no_grad():
        whole, _ = model(frames)
        state = model.initial_state(3)
        for t in range(frames.shape[1]):
            stepped, state = model(frames[:, t : t + 1], state)
    torch.testing.assert_close(stepped, whole, atol=STATE_ATOL, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("running_mean_frames", [0, 20])
def test_per_frame_logits_match_prefix_clips_across_uneven_chunks(cell, pooling, running_mean_frames):
    model = _model(cell=cell, pooling=pooling, running_mean_frames=running_mean_frames)
    frames = torch.randn(2, 30, 40)
    with torch.no_grad():
        pieces, state = [], None
        for start, stop in [(0, 7), (7, 8), (8, 30)]:
            out, state = model.forward_frames(frames[:, start:stop], state)
            pieces.append(out)
        per_frame = torch.cat(pieces, dim=1)
        for t in (0, 6, 7, 29):
            prefix, _ = model(frames[:, : t + 1])
            torch.testing.assert_close(per_frame[:, t], prefix, atol=STATE_ATOL, rtol=0)


def test_the_running_mean_is_the_per_frame_recursion_and_blocks_change_nothing():
    """y_t = x_t - m_{t-1}, m_t = a m_{t-1} + (1 - a) x_t, computed frame by frame in float64, equals
    the model's block computation, also over more frames than one block."""
    import math

    from speechrnn.model import RUNNING_MEAN_BLOCK_FRAMES

    model = _model(running_mean_frames=30)
    frames = torch.randn(2, RUNNING_MEAN_BLOCK_FRAMES + 77, 40) * 2 + 1
    start = torch.randn(1, 2, 40)
    got, end = model.subtract_running_mean(frames, start)
    decay, m = math.exp(-1 / 30), start[0].double()
    want = torch.empty_like(frames, dtype=torch.float64)
    for t in range(frames.shape[1]):
        want[:, t] = frames[:, t].double() - m
        m = decay * m + (1 - decay) * frames[:, t].double()
    torch.testing.assert_close(got.double(), want, atol=1e-4, rtol=0)
    torch.testing.assert_close(end[0].double(), m, atol=1e-4, rtol=0)


def test_a_steady_colouring_of_the_input_is_forgotten_with_a_running_mean():
    """A microphone that adds a tilt to the coefficients: with the running mean the network's output
    for the coloured input comes back to that of the plain input once the mean has caught up (what
    is left is the network's own memory of the first frames); without it, it never does."""
    frames = torch.randn(1, 400, 40, generator=torch.Generator().manual_seed(1))
    coloured = frames + torch.linspace(-3, 3, 40)  # a tilt, as a microphone's frequency response
    gaps = {}
    for running_mean_frames in (25, 0):
        model = _model(running_mean_frames=running_mean_frames)
        with torch.no_grad():
            plain, _ = model.forward_frames(frames)
            tilted, _ = model.forward_frames(coloured)
        gaps[running_mean_frames] = (plain[:, -50:] - tilted[:, -50:]).abs().max().item()
    assert gaps[25] < 0.2 * gaps[0], gaps


def _pcen_bands(model: RNNClassifier, waves: torch.Tensor) -> torch.Tensor:
    """The PCEN bands ``model`` reads for ``waves`` (B, N) heard through the default features."""
    features = FeatureExtractor(FeatureConfig())(waves)
    with torch.no_grad():
        bands, _ = model.pcen(features, model.initial_state(waves.shape[0])[model.recurrent_state_size - 1])
    return bands


@pytest.mark.parametrize("spectral_conv_channels, pcen_with_mfcc", [(0, False), (4, False), (4, True)])
def test_pcen_carried_frame_by_frame_equals_the_whole_clip(spectral_conv_channels, pcen_with_mfcc):
    model = _model(pcen_frames=20, spectral_conv_channels=spectral_conv_channels, pcen_with_mfcc=pcen_with_mfcc,
                   pooling="last")
    frames = torch.randn(2, 60, 40) * 5 - 20
    with torch.no_grad():
        whole, _ = model.forward_frames(frames)
        pieces, state = [], None
        for start, stop in [(0, 1), (1, 13), (13, 14), (14, 60)]:
            out, state = model.forward_frames(frames[:, start:stop], state)
            pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=STATE_ATOL, rtol=0)


def test_pcen_divides_out_the_speaker_s_loudness_and_a_steady_hum():
    """The same noisy sweep 20 dB louder: the MFCC move by 20 dB, the PCEN bands hardly (alpha 0.98);
    a steady hum reads the same from its first frame (a fresh state starts from it: no cold start)."""
    model = _model(pcen_frames=40)
    rng = torch.Generator().manual_seed(0)
    t = torch.arange(16000) / 16000
    sweep = 0.01 * torch.sin(2 * math.pi * (200 + 1500 * t) * t) + 0.001 * torch.randn(16000, generator=rng)
    quiet, loud = _pcen_bands(model, torch.stack([sweep, 10 * sweep]))
    assert (loud - quiet).abs().max() < 0.1 * quiet.abs().max()
    hum = 0.05 * torch.sin(2 * math.pi * 100 * torch.arange(32000) / 16000)
    bands = _pcen_bands(model, hum[None])[0]
    assert (bands - bands[-1]).abs().max() < 0.02 * bands[-1].abs().max()


def test_pcen_reads_the_mel_bands_of_mfcc_only():
    with pytest.raises(ValueError, match="cannot come from 32 bands"):
        ModelConfig(num_classes=3, input_dim=40, spectral_bands=32, pcen_frames=20)
    with pytest.raises(ValueError, match="not both"):
        ModelConfig(num_classes=3, pcen_frames=20, running_mean_frames=20)


def test_state_is_what_remembers():
    """The same frame gives different logits after different histories."""
    model = _model(cell="gru")
    probe = torch.randn(1, 1, 40)
    with torch.no_grad():
        _, state_a = model(torch.randn(1, 20, 40))
        _, state_b = model(torch.randn(1, 20, 40) + 3)
        out_a, _ = model(probe, state_a)
        out_b, _ = model(probe, state_b)
    assert not torch.allclose(out_a, out_b, atol=1e-3)


def test_normalization_lives_in_the_model():
    model = _model()
    frames = torch.randn(2, 10, 40) * 7 + 3
    with torch.no_grad():
        before, _ = model(frames)
        model.set_normalization(torch.full((40,), 3.0), torch.full((40,), 7.0))
        after, _ = model(frames)
        plain = _model()
        expected, _ = plain((frames - 3.0) / 7.0)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected)


def test_bidirectional_runs_offline_and_refuses_carried_state():
    model = _model(cell="lstm", bidirectional=True)
    frames = torch.randn(2, 20, 40)
    with torch.no_grad():
        logits, _ = model(frames)
    assert logits.shape == (2, 5)
    assert not model.config.streamable
    with pytest.raises(ValueError, match="bidirectional"):
        model(frames, model.initial_state(2))


def test_gradients_flow_to_all_parameters():
    model = _model(cell="lstm", pooling="attention").train()
    logits, _ = model(torch.randn(4, 12, 40))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_config_validation():
    with pytest.raises(ValueError, match="cell"):
        ModelConfig(num_classes=3, cell="transformer")
    with pytest.raises(ValueError, match="pooling"):
        ModelConfig(num_classes=3, pooling="max")
    with pytest.raises(ValueError, match="2 classes"):
        ModelConfig(num_classes=1)


# ------------------------------------------------------------------------- spectral front-end
def _spectral_model(**kwargs) -> RNNClassifier:
    torch.manual_seed(0)
    config = ModelConfig(num_classes=5, input_dim=13, spectral_conv_channels=8, **kwargs)
    model = RNNClassifier(config).eval()
    model.set_normalization(torch.randn(13) * 5, torch.rand(13) * 10 + 1)
    return model


@pytest.mark.parametrize("objective", ["clip", "stream"])
def test_a_spectral_front_end_keeps_chunked_equal_to_whole(objective):
    kwargs = dict(objective="stream", pooling="last", background_class=0) if objective == "stream" else {}
    model = _spectral_model(**kwargs)
    assert model.config.rnn_input_dim == 13 + 8 * 40 // 4 and model.rnn.input_size == model.config.rnn_input_dim
    frames = torch.randn(2, 40, 13) * 10
    with torch.no_grad():
        whole, _ = model.forward_frames(frames)
        pieces, state = [], None
        for start, stop in [(0, 1), (1, 17), (17, 40)]:
            out, state = model.forward_frames(frames[:, start:stop], state)
            pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=STATE_ATOL, rtol=0)


def test_the_spectral_front_end_reads_the_log_mel_bands_the_mfcc_came_from():
    """Its inverse DCT undoes the feature module's DCT: 40 MFCC of a real word give back the word's
    40 log-mel bands; 13 give their smoothed envelope (what a microphone's colouring or a formant
    looks like), close to the bands."""
    from speechrnn.audio.io import load_audio
    from speechrnn.features import FeatureConfig, FeatureExtractor
    from speechrnn.model import SpectralFrontEnd

    wave = torch.from_numpy(load_audio("tests/data/speech_commands/no/563aa4e6_nohash_2.wav", 16000))
    log_mel = FeatureExtractor(FeatureConfig(kind="logmel"))(wave)[0]
    for coefficients in (40, 13):
        mfcc = FeatureExtractor(FeatureConfig(kind="mfcc", n_mfcc=coefficients))(wave)[0]
        envelope = mfcc @ SpectralFrontEnd(coefficients, 40, channels=1).inverse_dct
        error = (envelope - log_mel).abs()
        if coefficients == 40:
            assert error.max() < 1e-3
        else:  # the fine structure (pitch harmonics) is gone, the shape stays: within a few dB
            assert error.mean() < 4.0 and torch.corrcoef(torch.stack([envelope.flatten(), log_mel.flatten()]))[0, 1] > 0.9


def test_a_spectrum_moved_up_the_bands_moves_what_the_front_end_finds():
    """The filters slide along frequency: the same shape four bands higher (one step of the two
    pools) gives the same outputs one pooled band higher, away from the edges."""
    from speechrnn.model import SPECTRAL_POOL_TOTAL, SpectralFrontEnd

    torch.manual_seed(0)
    front = SpectralFrontEnd(40, 40, channels=4).eval()
    shape = torch.zeros(1, 1, 40)
    shape[..., 8:20] = torch.hann_window(12, periodic=False) * 20  # a formant, in dB over the mean
    moved = torch.roll(shape, SPECTRAL_POOL_TOTAL, dims=-1)
    identity = front.inverse_dct.T  # feed bands directly: envelope = bands
    std = torch.full((40,), math.sqrt(40.0 / 40))  # a unit scale
    with torch.no_grad():
        here = front(shape @ identity, std).reshape(4, 10)
        there = front(moved @ identity, std).reshape(4, 10)
    torch.testing.assert_close(there[:, 2:8], here[:, 1:7], atol=1e-4, rtol=0)
    assert not torch.allclose(there, here)


def test_gradients_reach_the_spectral_front_end():
    model = _spectral_model().train()
    logits, _ = model(torch.randn(4, 12, 13) * 10)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.spectral.parameters())


@pytest.mark.parametrize("features, channels", [
    (FeatureConfig(), SPECTRAL_CONV_CHANNELS), (FeatureConfig(n_mfcc=13), SPECTRAL_CONV_CHANNELS),
    (FeatureConfig(kind="logmel"), 0), (FeatureConfig(n_mels=42, n_mfcc=13), 0)])
def test_a_new_network_gets_the_front_end_where_it_can_read_the_features(features, channels):
    assert new_network_front_end(features) == channels
    if channels:  # and the network it gives is a valid one
        ModelConfig(num_classes=3, input_dim=features.feature_dim, spectral_conv_channels=channels,
                    spectral_bands=features.n_mels)


def test_spectral_front_end_config_validation():
    with pytest.raises(ValueError, match="multiple of 4"):
        ModelConfig(num_classes=3, input_dim=13, spectral_conv_channels=8, spectral_bands=42)
    with pytest.raises(ValueError, match="at least the 40 features"):
        ModelConfig(num_classes=3, input_dim=40, spectral_conv_channels=8, spectral_bands=32)
    with pytest.raises(ValueError, match="must not be negative"):
        ModelConfig(num_classes=3, spectral_conv_channels=-1)
    assert ModelConfig(num_classes=3, input_dim=13).rnn_input_dim == 13
