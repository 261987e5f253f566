"""Choosing the GRU training kernel by measurement: the faster one, remembered; timings injected."""

from __future__ import annotations

import json

import torch
from torch import nn

from speechrnn.fused_rnn import FusedGRU
from speechrnn.model import ModelConfig, RNNClassifier
from speechrnn.training.rnn_kernel import FUSED, PLAIN, KernelChoices, choose_kernel, faster_kernel, time_kernels
from speechrnn.training.runtime import speed_up

BATCH_SHAPE = (4, 20)  # clips, frames


class FakeTimer:
    """Stands in for time_kernels: fixed seconds per step, and how often it was asked."""

    def __init__(self, fused_s: float, plain_s: float):
        self.seconds = {FUSED: fused_s, PLAIN: plain_s}
        self.calls = 0

    def __call__(self, rnn, batch_shape, precision):
        self.calls += 1
        return dict(self.seconds)


def gru_model() -> RNNClassifier:
    return RNNClassifier(ModelConfig(num_classes=3, input_dim=8, cell="gru", hidden=16, layers=2))


def test_the_faster_kernel_wins_and_a_tie_keeps_nn_gru():
    assert faster_kernel({FUSED: 0.1, PLAIN: 0.2}) == FUSED
    assert faster_kernel({FUSED: 0.3, PLAIN: 0.2}) == PLAIN
    assert faster_kernel({FUSED: 0.2, PLAIN: 0.2}) == PLAIN


def test_a_slower_fused_kernel_is_not_used(tmp_path):
    timer = FakeTimer(fused_s=0.30, plain_s=0.20)  # as on the AMD CPU of issue 9 in float32
    choices = KernelChoices(tmp_path / "choices.json")
    assert choose_kernel(gru_model().rnn, BATCH_SHAPE, "float32", choices, timer) == PLAIN
    assert timer.calls == 1


def test_the_verdict_is_remembered_and_used_by_speed_up(tmp_path):
    choices = KernelChoices(tmp_path / "choices.json")
    rnn = gru_model().rnn
    slow_fused = FakeTimer(fused_s=0.30, plain_s=0.20)
    assert choose_kernel(rnn, BATCH_SHAPE, "float32", choices, slow_fused) == PLAIN
    assert choose_kernel(rnn, BATCH_SHAPE, "float32", choices, slow_fused) == PLAIN
    assert slow_fused.calls == 1  # the second time from the file
    saved = json.loads((tmp_path / "choices.json").read_text())
    [(key, entry)] = saved.items()
    assert "gru 2x16 in 8" in key and "batch 4 x 20 frames" in key and "float32" in key
    assert entry == {"kernel": PLAIN, "seconds_per_step": {FUSED: 0.30, PLAIN: 0.20}}
    model = gru_model()
    speed_up(model, torch.device("cpu"), "float32", True, BATCH_SHAPE, choices)
    assert type(model.rnn) is nn.GRU  # the remembered verdict: nn.GRU
    # another precision is another question
    fast_fused = FakeTimer(fused_s=0.10, plain_s=0.20)
    assert choose_kernel(rnn, BATCH_SHAPE, "bfloat16", choices, fast_fused) == FUSED
    model = gru_model()
    speed_up(model, torch.device("cpu"), "bfloat16", True, BATCH_SHAPE, choices)
    assert isinstance(model.rnn, FusedGRU)


def test_fast_rnn_off_never_measures_nor_fuses(tmp_path):
    choices = KernelChoices(tmp_path / "choices.json")
    model = gru_model()
    speed_up(model, torch.device("cpu"), "float32", False, BATCH_SHAPE, choices)
    assert type(model.rnn) is nn.GRU and not (tmp_path / "choices.json").exists()


def test_a_damaged_or_unwritable_choices_file_only_costs_a_measurement(tmp_path):
    damaged = tmp_path / "choices.json"
    damaged.write_text("{not json")
    timer = FakeTimer(fused_s=0.1, plain_s=0.2)
    assert choose_kernel(gru_model().rnn, BATCH_SHAPE, "float32", KernelChoices(damaged), timer) == FUSED
    assert json.loads(damaged.read_text())  # replaced by a valid file
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert choose_kernel(gru_model().rnn, BATCH_SHAPE, "float32", KernelChoices(blocked / "choices.json"),
                         timer) == FUSED


def test_timing_both_kernels_leaves_the_model_and_random_state_alone():
    rnn = gru_model().rnn
    before = {k: v.clone() for k, v in rnn.state_dict().items()}
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    seconds = time_kernels(rnn, BATCH_SHAPE, "float32")
    assert set(seconds) == {FUSED, PLAIN} and all(s > 0 for s in seconds.values())
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(before[k], v) for k, v in rnn.state_dict().items())
    assert type(rnn) is nn.GRU and all(p.grad is None for p in rnn.parameters())
