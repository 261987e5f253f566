"""Helpers of the GUI tests (a module of its own: ``conftest`` is ambiguous next to tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
DATA = TESTS / "data"
SPEECH_COMMANDS = DATA / "speech_commands"
FSDD = DATA / "fsdd"
DIGIT_LABELS = ["_silence_", "_unknown_", "zero", "one", "two", "three", "four", "five", "six", "seven",
                "eight", "nine"]


def make_checkpoint(path: Path, labels: list[str] | None = None, cell: str = "gru", hidden: int = 16) -> Path:
    """A valid checkpoint with random weights (fast; for panels that only need a loadable model)."""
    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, RNNClassifier

    labels = labels or DIGIT_LABELS
    model = RNNClassifier(ModelConfig(num_classes=len(labels), cell=cell, hidden=hidden, layers=1))
    checkpoint = Checkpoint(model_config=model.config, feature_config=FeatureConfig(), labels=labels,
                            state_dict=model.state_dict(), metrics={"test_accuracy": 0.5},
                            data={"sources": ["generated"], "licenses": {"generated": "CC0"}})
    return save_checkpoint(checkpoint, path)


class RingMicrophone:
    """Stands in for :class:`speechrnn.audio.capture.Microphone` without PortAudio.

    The test writes audio into its real :class:`~speechrnn.audio.capture.RingBuffer`, as the audio
    callback would; panels read it through the library's real :class:`MicReader`.
    """

    def __init__(self, device=None, sample_rate_hz: int = 16000, **_options):
        from speechrnn.audio.capture import InputDevice, RingBuffer

        self.device = InputDevice(index=0, name="Test ring microphone", host_api="test", max_input_channels=1,
                                  default_sample_rate_hz=float(sample_rate_hz), is_default=True)
        self.sample_rate_hz = self.capture_rate_hz = sample_rate_hz
        self.ring = RingBuffer(sample_rate_hz * 30)
        self.running = False
        self.dead = False  # set by a test: the device is gone (unplugged), as check() then says
        self.stuck = False  # its stream always closes

    def start(self):
        self.running = True
        return self

    def stop(self) -> None:
        self.running = False

    def check(self) -> None:
        """A ring that nobody writes to is silence, not a dead device (unless a test made it one)."""
        if self.dead:
            from speechrnn.errors import DeviceError

            raise DeviceError(f"input device {self.device.name} stopped (unplugged?)")

    def reader(self, from_now: bool = True):
        from speechrnn.audio.capture import MicReader

        return MicReader(self, from_now=from_now)

    def write(self, samples) -> None:
        self.ring.write(samples)


def speech(word: str = "yes", index: int = 0, rate_hz: int = 16000):
    """A real recorded word from tests/data (float32 at ``rate_hz``)."""
    from speechrnn.audio.io import load_audio

    return load_audio(sorted((SPEECH_COMMANDS / word).glob("*.wav"))[index], rate_hz)


SEQUENCE_SPEAKER = "b87bdb22"  # the Speech Commands speaker whose clips of every test word are in tests/data
LEAD_IN_S = 0.5  # quiet noise before the first word, as when someone starts to speak
NOISE_GAIN = 0.2  # the background noise under the words: quiet, as in a room


def spoken_sequence(words: list[str], pause_s: float, rate_hz: int = 16000):
    """The test clips' words (trimmed to their speech) one after another with ``pause_s`` between,
    over quiet real noise (tests/data/noise): a sentence of commands as someone would say it."""
    import numpy as np

    from speechrnn.audio.io import load_audio
    from speechrnn.record import trim_to_speech

    parts = [np.zeros(round(LEAD_IN_S * rate_hz), dtype=np.float32)]
    for word in words:
        clip = load_audio(SPEECH_COMMANDS / word / f"{SEQUENCE_SPEAKER}_nohash_1.wav", rate_hz)
        speech_only, _, _ = trim_to_speech(clip, rate_hz)
        parts += [speech_only, np.zeros(round(pause_s * rate_hz), dtype=np.float32)]
    audio = np.concatenate(parts)
    noise = load_audio(sorted((DATA / "noise").glob("*.wav"))[0], rate_hz)
    audio += NOISE_GAIN * np.tile(noise, 1 + audio.size // noise.size)[: audio.size]
    return audio.astype(np.float32)


def keep_window(qtbot, window) -> None:
    """``qtbot.addWidget`` for the main window: before pytest-qt closes it (even after a failed
    test), every panel stops its work, so the close never opens the "Quit speechrnn?" question,
    which nobody would answer: the test run would hang."""

    def stop_work(win) -> None:
        for panel in win.panels.values():
            panel.shutdown()

    qtbot.addWidget(window, before_close_func=stop_work)


def window_with_assets(qtbot, assets: Path, digits: Path, commands: Path):
    """The app with its own assets folder holding ``digits`` and ``commands`` as the bundled models."""
    import shutil

    from gui.app import build_window, parse_args

    assets.mkdir()
    shutil.copy(digits, assets / "default_model.pt")
    shutil.copy(commands, assets / "commands_model.pt")
    window = build_window(parse_args([]), assets_dir=assets)
    keep_window(qtbot, window)
    return window


def train_panel(window, recordings, tmp_path):
    """The Train panel set to learn from ``recordings`` only, runs saved under ``tmp_path``."""
    window.show_panel("train")
    panel = window.panels["train"]
    panel.recordings_edit.setText(str(recordings))
    panel._update_recordings()
    panel.use_recordings.setChecked(True)
    panel.use_speech_commands.setChecked(False)
    panel.use_synth.setChecked(False)
    panel.runs_edit.setText(str(tmp_path / "runs"))
    panel.start_combo.setCurrentIndex(panel.start_combo.findData(""))  # a new network: its cell and size are free
    return panel
