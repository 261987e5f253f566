"""Shared fixtures: the virtual microphone and tiny models that know the test clips' words.

Virtual-microphone tests skip with a visible reason where PulseAudio cannot start; in CI
(``CI=true``) they fail instead, so the real audio path is always exercised there.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from datapaths import STREAM_WORD_MODEL, WORD_MODEL
from virtual_mic import VirtualMic, VirtualMicUnavailable


def pytest_configure(config):  # noqa: ARG001 - pytest hook signature
    """Ctrl-C tests send SIGINT to a subprocess, as a terminal would. A shell that starts the test run in
    the background (``make test &`` in a script) ignores SIGINT, and every subprocess would inherit that:
    Python would then never raise KeyboardInterrupt. A handler (unlike "ignore") resets to the default
    in the subprocesses."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def audio_unavailable(reason: str) -> None:
    """Skip (visible reason), or fail in CI where the audio path must be tested."""
    if in_ci():
        pytest.fail(f"virtual microphone needed in CI but unavailable: {reason}")
    pytest.skip(f"virtual microphone unavailable: {reason}")


@pytest.fixture(scope="session")
def virtual_mic():
    """A running private PulseAudio microphone; pass ``virtual_mic.env()`` to subprocesses."""
    mic = VirtualMic()
    try:
        mic.start()
    except VirtualMicUnavailable as exc:
        audio_unavailable(str(exc))
    try:
        yield mic
    finally:
        mic.stop()


@pytest.fixture(scope="session")
def word_model() -> Path:
    """Checkpoint of a tiny clip-trained GRU that recognizes the words of tests/data/speech_commands.

    Trained once by ``python tests/fixture_models.py`` and committed: tests must not depend on how
    a model happens to train on the CPU at hand (float32 on AMD, bfloat16 on Intel AMX).
    """
    return WORD_MODEL


@pytest.fixture(scope="session")
def stream_word_model() -> Path:
    """The same words, stream-trained by the library's ``train()`` (committed, see fixture_models.py)."""
    return STREAM_WORD_MODEL


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """Checkpoint of an untrained GRU (for tests that need any valid model, not a good one)."""
    import torch

    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, RNNClassifier

    torch.manual_seed(0)
    labels = ["_silence_", "_unknown_", "yes", "no"]
    model = RNNClassifier(ModelConfig(num_classes=len(labels), hidden=32)).eval()
    checkpoint = Checkpoint(model_config=model.config, feature_config=FeatureConfig(), labels=labels,
                            state_dict=model.state_dict())
    return save_checkpoint(checkpoint, tmp_path_factory.mktemp("random_model") / "random.pt")


@pytest.fixture(scope="session", autouse=True)
def _kernel_choices_in_tmp(tmp_path_factory):
    """Training's GRU kernel verdicts go to a file of this test session, not the user's cache folder."""
    from speechrnn.training import rnn_kernel

    path = tmp_path_factory.mktemp("kernel_choices") / rnn_kernel.CHOICES_FILE_NAME
    original = rnn_kernel.default_choices
    rnn_kernel.default_choices = lambda: rnn_kernel.KernelChoices(path)
    try:
        yield path
    finally:
        rnn_kernel.default_choices = original
