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
def test_frame_by_frame_with_carried_state_equals_whole_clip(cell, pooling):
    model = _model(cell=cell, pooling=pooling)
    frames = torch.randn(3, 98, 40) * 5 + 2
    with torch.no_grad():
        whole, _ = model(frames)
        state = model.initial_state(3)
        for t in range(frames.shape[1]):
            stepped, state = model(frames[:, t : t + 1], state)
    torch.testing.assert_close(stepped, whole, atol=STATE_ATOL, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_per_frame_logits_match_prefix_clips_across_uneven_chunks(cell, pooling):
    model = _model(cell=cell, pooling=pooling)
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
