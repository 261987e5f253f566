"""GUI test setup: offscreen Qt, settings and app data in a temporary folder, small models."""

from __future__ import annotations

import os

# Before anything imports Qt: draw offscreen (no display needed), even under Xvfb.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from gui_support import RingMicrophone, keep_window, make_checkpoint  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings and QStandardPaths point into this test's tmp folder (never the user's)."""
    from PySide6.QtCore import QSettings

    config, data = tmp_path / "config", tmp_path / "appdata"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # feature caches, downloads
    monkeypatch.delenv("SPEECHRNN_DATA_DIR", raising=False)
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):  # the same files on Linux
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(config))
    return config


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("models") / "random_gru.pt")


@pytest.fixture(scope="session")
def other_model(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("models") / "yes_no.pt", ["_silence_", "_unknown_", "yes", "no"],
                           cell="lstm")


@pytest.fixture
def window(qtbot, digits_model):
    """The main window as the app builds it, with a random model active and no microphone opened."""
    from gui.app import build_window, parse_args

    win = build_window(parse_args(["--model", str(digits_model)]))
    keep_window(qtbot, win)
    win.show()
    with qtbot.waitSignal(win.ctx.model.changed, timeout=30000):
        win.ctx.model.activate(digits_model)
    yield win
    win.close()


@pytest.fixture
def bundled_window(qtbot, tmp_path, digits_model, word_model):
    """The app with its own assets folder: "digits" is a random digits model, "commands" the word model
    (it knows yes, no, one, two, three, nine)."""
    from gui_support import window_with_assets

    window = window_with_assets(qtbot, tmp_path / "assets", digits_model, word_model)
    window.show()
    window.show_panel("listen")
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(None)
    yield window
    window.close()


@pytest.fixture
def ctx(window):
    return window.ctx


@pytest.fixture
def ring_microphone(monkeypatch):
    """Make the app's AudioInput open a RingMicrophone; returns a getter for the one it opened."""
    import gui.audio_input as audio_input

    opened: list[RingMicrophone] = []

    def make(*args, **kwargs):
        mic = RingMicrophone(*args, **kwargs)
        opened.append(mic)
        return mic

    monkeypatch.setattr(audio_input, "Microphone", make)
    monkeypatch.setattr(audio_input, "list_input_devices", lambda: [RingMicrophone().device])
    monkeypatch.setattr(audio_input, "refresh_devices", lambda: None)
    return lambda: opened[-1]


@pytest.fixture
def no_microphone(monkeypatch):
    """No input device at all (what a laptop without a microphone, or CI, looks like)."""
    import gui.audio_input as audio_input
    from speechrnn.errors import DeviceError

    def fail(*_args, **_kwargs):
        raise DeviceError("no audio input device found; connect a microphone (see `speechrnn devices`)")

    monkeypatch.setattr(audio_input, "Microphone", fail)
    monkeypatch.setattr(audio_input, "list_input_devices", lambda: [])
    monkeypatch.setattr(audio_input, "refresh_devices", lambda: None)


@pytest.fixture
def fast_countdown(monkeypatch):
    """The Record panel's countdown and review pause in milliseconds, not seconds."""
    import gui.panels.record as record_module

    monkeypatch.setattr(record_module, "COUNTDOWN_STEP_MS", 10)
    monkeypatch.setattr(record_module, "REVIEW_MS", 10)
