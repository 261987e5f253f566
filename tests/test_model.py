"""RNNClassifier: carried state is the network's memory, so chunked == whole."""

import pytest
import torch

from speechrnn.model import CELLS, POOLINGS, ModelConfig, RNNClassifier

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
