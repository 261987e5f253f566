"""Listen panel: live recognition from the microphone, and what the network sees and remembers.

The microphone's audio callback only fills the library's ring buffer. A ~30 Hz screen timer here
reads this panel's cursor into it, pushes the new samples into the library's
:class:`~speechrnn.recognizer.Recognizer` (features, RNN step with carried state, smoothing,
detection: all in the library), and refreshes the plots from the recognizer's read-only views.
Plots are skipped while the panel is hidden; recognition goes on.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.context import AppContext
from gui.panels.base import Panel, big_label, card, column, panel_shortcut, scroll_column
from gui.panels.heard_list import MAX_HISTORY_ITEMS, HeardList, word_text
from gui.theme import PlotColors
from gui.widgets.level_meter import LevelMeter, levels_dbfs
from gui.widgets.live_views import VIRIDIS, BarsView, FrameView, WaveformView
from gui.widgets.model_chooser import ModelChooser
from gui.widgets.word_actions import SOURCE as ACTION_SOURCE
from gui.widgets.word_actions import WordActionsDialog
from gui.worker import Task, run_call
from speechrnn.audio.capture import RETRY_DELAY_S
from speechrnn.detection_command import DetectionCommand
from speechrnn.errors import DeviceError

DEVICE_MIN_CHARS = 12  # the microphone list shrinks to this many characters (the popup shows whole names)
METER_MIN_PX = 150
REFRESH_MS = 38  # screen timer: ~26 frames/s (the goal is >= 25; each frame costs CPU)
HISTORY_S = 3.0  # seconds shown by the waveform, feature and memory views
HOP_S = 0.010  # fallback frame hop for the image views before a model is loaded
WORD_SCALE = 3.4  # the recognized word, relative to the normal font
WORD_FADE_S = 2.0  # the big word turns grey this long after its detection
SLIDER_STEPS = 100  # sensitivity slider resolution
MIN_THRESHOLD, MAX_THRESHOLD = 0.05, 0.99
# torch, not onnxruntime: building the ONNX engine exports the network (~1 s at start-up, when the
# app should already be recognizing); at the screen rate (~4 frames per push) torch costs only
# ~0.6 % of a core more.
RECOGNIZER_ENGINE = "torch"
DETECTOR_DEBOUNCE_MS = 300  # rebuild the detector only once the slider or the room gate rests
ROOM_GATE_MAX_DB = 30  # the "stand out of the room by" control's range: 0 (off) .. this
HIDDEN_LEVELS = (-1.0, 1.0)  # tanh-bounded GRU / LSTM / RNN outputs
FEATURE_LEVELS = (-2.5, 2.5)  # normalised features (what the RNN reads): about +-2.5 standard deviations


def threshold_for(sensitivity: int) -> float:
    """Slider position (0 = strict .. 100 = sensitive) -> detection threshold."""
    value = 1.0 - sensitivity / SLIDER_STEPS
    return round(min(MAX_THRESHOLD, max(MIN_THRESHOLD, value)), 2)


def sensitivity_for(threshold: float) -> int:
    return int(round((1.0 - threshold) * SLIDER_STEPS))


class FileFeed:
    """A recording fed to the recognizer at real-time speed, read like a microphone.

    Lets people without a microphone (and demos) try a model: the screen timer reads it exactly as
    it reads the microphone's ring buffer.
    """

    def __init__(self, path: Path, samples: np.ndarray, sample_rate_hz: int):
        self.path = path
        self.samples = samples
        self.sample_rate_hz = sample_rate_hz
        self.position = 0
        self.started = time.monotonic()

    def read(self) -> np.ndarray:
        due = min(self.samples.size, int((time.monotonic() - self.started) * self.sample_rate_hz))
        chunk = self.samples[self.position : due]
        self.position = due
        return chunk

    @property
    def finished(self) -> bool:
        return self.position >= self.samples.size

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate_hz


class ListenPanel(Panel):
    key = "listen"
    title = "Listen"

    def __init__(self, ctx: AppContext):
        super().__init__(ctx)
        self.recognizer = None
        self.reader = None
        self.listening = False
        self._load_task: Task | None = None
        self._visible = False
        self._last_word_time = 0.0
        self._frames_drawn = 0
        self._fps_since = time.monotonic()
        self.fps = 0.0
        self.detections: list = []  # the last MAX_HISTORY_ITEMS Detections shown, newest last (tests read it)
        self._generation = 0  # counts model changes (a threshold rebuild of an old model is dropped)
        self._frames_shown = 0  # recognizer frames already drawn in the feature and memory views
        self.paused = False  # the Record panel is recording a take: no detections, the recognizer is not fed
        self.word_commands: DetectionCommand | None = None  # Actions: the commands words run (None: none)
        self._build()
        self._load_actions()
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.tick)
        self._detector_timer = QTimer(self)  # apply threshold and room gate once their controls rest
        self._detector_timer.setSingleShot(True)
        self._detector_timer.setInterval(DETECTOR_DEBOUNCE_MS)
        self._detector_timer.timeout.connect(self._apply_detector_settings)
        ctx.audio.started.connect(self._audio_started)
        ctx.audio.unavailable.connect(self._audio_unavailable)
        ctx.model.changed.connect(self._model_changed)
        ctx.model.loading.connect(self._model_loading)
        ctx.model.failed.connect(self._model_failed)
        ctx.notify.recording.connect(self.set_paused)
        if ctx.model.path is not None:
            self._model_changed(ctx.model.path, ctx.model.summary)
        QTimer.singleShot(0, self.start_listening)

    # ------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setSpacing(8)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Microphone:"))
        self.device_combo = QComboBox()
        # long device names must not push the buttons over the combo's arrow: show what fits
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(DEVICE_MIN_CHARS)
        self.device_combo.setToolTip("The input device to listen to (remembered)")
        self.device_combo.activated.connect(self._device_chosen)
        bar.addWidget(self.device_combo, 1)
        rescan = QToolButton()
        rescan.setText("⟳")
        rescan.setToolTip("Look for microphones again (after plugging one in)")
        rescan.clicked.connect(self.retry)
        bar.addWidget(rescan)
        self.listen_button = QPushButton("■ Stop")
        self.listen_button.setToolTip("Start / stop listening (Space)")
        self.listen_button.setMinimumWidth(96)
        self.listen_button.clicked.connect(self.toggle_listening)
        bar.addWidget(self.listen_button)
        self.file_button = QPushButton("Play a file…")
        self.file_button.setToolTip("Feed a recording (WAV, FLAC, OGG, MP3) to the recognizer in real time, "
                                    "as if it were spoken into the microphone")
        self.file_button.clicked.connect(self._choose_file)
        bar.addWidget(self.file_button)
        bar.addSpacing(12)
        level_label = QLabel("Level:")
        level_label.setToolTip("Microphone input level")
        bar.addWidget(level_label)
        self.meter = LevelMeter()
        self.meter.setMinimumWidth(METER_MIN_PX)
        bar.addWidget(self.meter, 1)
        root.addLayout(bar)

        self.sensitivity = QSlider(Qt.Orientation.Horizontal)
        self.sensitivity.setRange(0, SLIDER_STEPS - int(MIN_THRESHOLD * SLIDER_STEPS))
        self.sensitivity.setMinimumWidth(120)
        self.sensitivity.setToolTip(
            "How easily a word is accepted. More sensitive = lower threshold: fewer missed words but "
            "more false alarms.\nA word must rise above the threshold (dashed line in the bar chart). Stream-trained "
            "models report it once, at the peak of its smoothed probability, with that peak as its score; "
            "clip-trained models report it when it crosses the threshold.\nA word must also stand out of the "
            "room's usual level, so a fan, hum or other people talking never say a word: speak to the microphone."
        )
        self.sensitivity.valueChanged.connect(self._sensitivity_changed)
        self.room_gate = QSpinBox()
        self.room_gate.setRange(0, ROOM_GATE_MAX_DB)
        self.room_gate.setSuffix(" dB")
        self.room_gate.setToolTip(
            "How far a word must rise above the room's usual level (the median of the last 4 s) to be "
            "reported: a fan, hum or other people talking never say a word.\nIn a loud room, when words said "
            "to the microphone are missed, lower it; 0 turns it off."
        )
        self.room_gate.valueChanged.connect(self._room_gate_changed)
        self.threshold_label = QLabel("threshold –")
        self.threshold_label.setMinimumWidth(90)

        self.banner = QFrame()
        self.banner.setProperty("role", "banner")
        banner_layout = QHBoxLayout(self.banner)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextFormat(Qt.TextFormat.RichText)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Look for microphones again and open the chosen one")
        self.retry_button.clicked.connect(self.retry)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.retry_button)
        self.banner.hide()
        root.addWidget(self.banner)

        self.file_bar = QFrame()
        self.file_bar.setProperty("role", "info")
        file_layout = QHBoxLayout(self.file_bar)
        self.file_label = QLabel()
        back = QPushButton("Back to the microphone")
        back.clicked.connect(self.stop_file)
        file_layout.addWidget(self.file_label, 1)
        file_layout.addWidget(back)
        self.file_bar.hide()
        root.addWidget(self.file_bar)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        # the word, the bars and the list scroll in a window too short for them (900x600 with the
        # no-microphone banner) instead of being drawn over each other
        left, _left_column, left_layout = scroll_column()
        word_card, card_layout = card()
        model_row = QHBoxLayout()
        model_caption = QLabel("Model:")
        model_caption.setProperty("role", "muted")
        self.model_chooser = ModelChooser(self.ctx.settings, self.ctx.model.assets_dir)
        self.model_chooser.setToolTip("The model to listen with: Digits, Commands (bundled) or one of your own. "
                                      "Switching takes effect at once and is remembered.")
        self.model_chooser.chosen.connect(self.ctx.model.activate)
        model_row.addWidget(model_caption)
        model_row.addWidget(self.model_chooser, 1)
        card_layout.addLayout(model_row)
        self.word_label = big_label("…", WORD_SCALE, centred=True)
        self.word_label.setMinimumHeight(72)
        self.word_label.setToolTip("The last word recognized")
        self.score_label = QLabel("Loading the model…")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score_label.setProperty("role", "muted")
        self.vocab_label = QLabel()
        self.vocab_label.setWordWrap(True)
        self.vocab_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.vocab_label.setToolTip("The words the active model knows (Models panel: open another model)")
        card_layout.addWidget(self.word_label)
        card_layout.addWidget(self.score_label)
        card_layout.addWidget(self.vocab_label)
        left_layout.addWidget(word_card)
        self.bars = BarsView()
        self.bars.setToolTip("The network's smoothed probability for each word, right now.\n"
                             "Green: a word above the threshold (dashed line), so it is reported.\n"
                             "_silence_ and _unknown_ (background, other words) are never reported.")
        left_layout.addWidget(self.bars, 3)
        sensitivity_row = QHBoxLayout()
        sensitivity_label = QLabel("Sensitivity:")
        sensitivity_label.setToolTip(self.sensitivity.toolTip())
        sensitivity_row.addWidget(sensitivity_label)
        sensitivity_row.addWidget(self.sensitivity, 1)
        sensitivity_row.addWidget(self.threshold_label)
        left_layout.addLayout(sensitivity_row)
        room_row = QHBoxLayout()
        room_label = QLabel("Louder than the room by:")
        room_label.setToolTip(self.room_gate.toolTip())
        room_row.addWidget(room_label)
        room_row.addWidget(self.room_gate)
        room_row.addStretch(1)
        left_layout.addLayout(room_row)
        history_row = QHBoxLayout()
        self.history = HeardList(self.ctx)
        history_title = QLabel("Detections")
        history_title.setProperty("role", "muted")
        clear = QToolButton()
        clear.setText("Clear")
        clear.setToolTip("Clear the detection list")
        clear.clicked.connect(self.history.clear_all)
        self.actions_button = QToolButton()
        self.actions_button.setToolTip("Run a command when a word is heard (a word said turns a light on)")
        self.actions_button.clicked.connect(self.edit_actions)
        history_row.addWidget(history_title, 1)
        history_row.addWidget(self.actions_button)
        history_row.addWidget(clear)
        left_layout.addLayout(history_row)
        left_layout.addWidget(self.history, 2)
        splitter.addWidget(left)

        right, right_layout = column()
        self.waveform = WaveformView(self.ctx.audio.sample_rate_hz, HISTORY_S)
        self.waveform.setToolTip("The last three seconds of microphone input (amplitude: 1 = full scale)")
        frames = int(round(HISTORY_S / HOP_S))
        self.features = FrameView("What the network hears: MFCC frames (normalised)", frames, HOP_S, "coefficient")
        self.features.setToolTip("The feature frames the RNN reads, one column per 10 ms, as the network "
                                 "sees them (each coefficient normalised by its training-set statistics)")
        self.features.set_levels(*FEATURE_LEVELS)
        self.memory = FrameView("The network's memory: hidden state of the last layer", frames, HOP_S, "unit")
        self.memory.set_levels(*HIDDEN_LEVELS)
        self.memory.setToolTip("The recurrent layer's hidden state after every frame: the network's memory. "
                               "Watch units switch on while a word is spoken and fade after it.")
        right_layout.addWidget(self.waveform, 2)
        right_layout.addWidget(self.features, 3)
        right_layout.addWidget(self.memory, 4)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([330, 760])
        root.addWidget(splitter, 1)

        panel_shortcut(self, "Space", self.toggle_listening)
        self._fill_devices()
        threshold = self.ctx.settings.threshold
        self.sensitivity.blockSignals(True)
        self.sensitivity.setValue(sensitivity_for(threshold if threshold is not None else 0.5))
        self.sensitivity.blockSignals(False)

    # ------------------------------------------------------------------------------ devices
    def _fill_devices(self, rescan: bool = False) -> None:
        devices = self.ctx.audio.devices(rescan=rescan)
        current = self.ctx.audio.device.name if self.ctx.audio.device else self.ctx.settings.input_device
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        if not devices:
            self.device_combo.addItem("(no microphone found)", "")
            self.device_combo.setEnabled(False)
        else:
            self.device_combo.setEnabled(True)
            for device in devices:
                label = device.name + ("  (system default)" if device.is_default else "")
                self.device_combo.addItem(label, device.name)
                self.device_combo.setItemData(self.device_combo.count() - 1,
                                              f"{device.host_api}, {device.max_input_channels} channel(s), "
                                              f"{device.default_sample_rate_hz:g} Hz", Qt.ItemDataRole.ToolTipRole)
            index = self.device_combo.findData(current) if current else -1
            if index < 0:
                index = next((i for i, d in enumerate(devices) if d.is_default), 0)
            self.device_combo.setCurrentIndex(index)
        self.device_combo.blockSignals(False)

    def _device_chosen(self, index: int) -> None:
        name = self.device_combo.itemData(index)
        if name is None:
            return
        self.ctx.settings.input_device = name
        self.ctx.audio.open(name)

    def retry(self) -> None:
        """Rescan devices and open the chosen (or remembered) one."""
        wanted = self.device_combo.currentData() or self.ctx.settings.input_device or None
        self.ctx.audio.close(notify=False)
        self._fill_devices(rescan=True)
        wanted = self.device_combo.currentData() or wanted
        if self.ctx.audio.open(wanted or None):
            self.start_listening()

    def _audio_started(self, device) -> None:
        self.banner.hide()
        self.listen_button.setEnabled(True)
        if self.listening:
            self.listen_button.setText("■ Stop")
            if self.recognizer is not None:
                self.score_label.setText(f"Listening with {self.ctx.model.display_name}")
        self._fill_devices()
        if self.listening:
            self.reader = self.ctx.audio.reader()
            self.waveform.clear_signal()

    def _audio_unavailable(self, message: str) -> None:
        self.reader = None
        self.meter.reset()
        self.listen_button.setEnabled(False)
        reason = message.replace("<", "&lt;").rstrip(".") + "."
        if self.ctx.audio.reconnecting:
            self.banner_label.setText(
                "<b>Microphone lost:</b> " + reason
                + f"<br>Trying it again every {RETRY_DELAY_S:g} s: listening picks up on its own once it is back. "
                "Or pick another device above, or press <b>Retry</b>."
            )
        else:
            self.banner_label.setText(
                "<b>No microphone available:</b> " + reason
                + "<br>Once one is connected, press <b>Retry</b> (or pick another device above). Meanwhile, "
                "try the model on a recording with <b>Play a file…</b>; training, evaluation and models work as usual."
            )
        self.banner.show()
        self._fill_devices()
        if not isinstance(self.reader, FileFeed):
            self.listen_button.setText("▶ Listen")
            if self.recognizer is not None:
                self.score_label.setText(self._no_microphone_text())

    def _no_microphone_text(self) -> str:
        return ("Waiting for the microphone to come back…" if self.ctx.audio.reconnecting
                else "Not listening: no microphone.")

    # ------------------------------------------------------------------------------ listening
    def start_listening(self) -> None:
        audio = self.ctx.audio
        if audio.mic is None:
            spec = self.ctx.input_device or self.ctx.settings.input_device or None
            if not audio.open(spec) and spec:
                audio.open(None)  # the remembered device is gone: fall back to the default input
        self.listening = True
        self.listen_button.setText("■ Stop" if audio.mic is not None else "▶ Listen")
        self.reader = audio.reader()
        self._restart_stream()
        self.timer.start()

    def stop_listening(self) -> None:
        self._flush()  # a word said just before Stop is still reported
        self.listening = False
        self.timer.stop()
        self.reader = None
        self.file_bar.hide()
        self.meter.reset()
        self.listen_button.setText("▶ Listen")
        self.score_label.setText("Stopped. Press Listen (Space) to continue.")

    def toggle_listening(self) -> None:
        if self.listening:
            self.stop_listening()
        else:
            self.start_listening()

    def tick(self) -> None:
        """Screen timer: pull new samples, recognize, refresh the views."""
        samples = self._read()
        if self.word_commands is not None and self.word_commands.running:
            self.word_commands.reap()  # a command that failed is said in the status bar
        if self.paused:
            return  # what the microphone heard while a take was recorded is dropped, never recognized
        if samples is not None and samples.size:
            self.feed(samples)
        if isinstance(self.reader, FileFeed) and self.reader.finished:
            self.stop_file()  # after its last samples were recognized
        if self._visible:
            self.refresh()

    def _read(self) -> np.ndarray | None:
        if self.reader is None:
            return None
        try:
            samples = self.reader.read()
        except DeviceError as exc:
            self.reader = None
            self.ctx.audio.fail(str(exc))
            return None
        return samples

    def set_paused(self, paused: bool) -> None:
        """Pause recognition while the Record panel records takes (the user is saying other words)."""
        if paused == self.paused:
            return
        if paused:
            self._flush()  # a word said before the take began is still reported
        self.paused = paused
        if paused:
            self.meter.reset()
            self.score_label.setText("Paused while the Record panel records takes.")
        else:
            if self.reader is not None and not isinstance(self.reader, FileFeed):
                self.reader = self.ctx.audio.reader()  # from now on: nothing recorded meanwhile
            self._restart_stream()
            if self.recognizer is not None:
                self.score_label.setText(f"Listening with {self.ctx.model.display_name}")

    # ------------------------------------------------------------------------------ file input
    def _choose_file(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Play a recording into the recognizer", str(Path.home()),
                                              "Audio (*.wav *.flac *.ogg *.mp3);;All files (*)")
        if path:
            self.play_file(Path(path))

    def play_file(self, path: Path, audible: bool = True) -> bool:
        """Feed ``path`` to the recognizer in real time instead of the microphone."""
        from gui.playback import play_samples
        from speechrnn.audio.io import load_audio
        from speechrnn.errors import SpeechRNNError

        rate = self.recognizer.sample_rate_hz if self.recognizer is not None else self.ctx.audio.sample_rate_hz
        try:
            samples = load_audio(path, rate)
        except SpeechRNNError as exc:
            self.ctx.notify.error.emit("Cannot play the file", str(exc))
            return False
        if audible:
            play_samples(samples, rate)  # no output device: it is still recognized, just not heard
        self.reader = FileFeed(path, samples, rate)
        self._restart_stream()
        self.file_label.setText(f"Listening to <b>{path.name}</b> ({self.reader.duration_s:.1f} s) instead of "
                                "the microphone.")
        self.file_bar.show()
        self.listen_button.setEnabled(True)
        if not self.listening:
            self.listening = True
            self.listen_button.setText("■ Stop")
            self.timer.start()
        return True

    def stop_file(self) -> None:
        if isinstance(self.reader, FileFeed):
            self._flush()  # the file's last word: nothing follows it to let its score peak and fall
            self.reader = self.ctx.audio.reader()
        self.file_bar.hide()
        self.listen_button.setEnabled(self.ctx.audio.mic is not None)
        if self.ctx.audio.mic is None:
            self.listen_button.setText("▶ Listen")

    def feed(self, samples: np.ndarray) -> list:
        """Push samples through the recognizer and the waveform/meter (the timer, tests, screenshots)."""
        if self.paused:
            return []
        self.waveform.append(samples)
        self.meter.set_level(*levels_dbfs(samples))
        if self.recognizer is None:
            return []
        detections = self.recognizer.push(samples)
        for detection in detections:
            self._show_detection(detection)
        return detections

    def _flush(self) -> list:
        """The audio stops (Stop, the end of a file, a take): let the recognizer decide the word it
        may still be hearing (see :meth:`~speechrnn.recognizer.Recognizer.flush`) and list it."""
        if self.recognizer is None or self.paused or self.reader is None:
            return []
        detections = self.recognizer.flush()
        for detection in detections:
            self._show_detection(detection)
        return detections

    def refresh(self) -> None:
        self.waveform.refresh()
        recognizer = self.recognizer
        if recognizer is not None:
            self.bars.set_values(recognizer.posteriors)
            seen = recognizer.frames_seen
            if seen < self._frames_shown:  # a new stream (reset, another model): start the views afresh
                self.features.clear_frames()
                self.memory.clear_frames()
                self._frames_shown = 0
            new = min(seen - self._frames_shown, self.features.frames)
            if new > 0:
                self.features.append_frames(self._normalised(recognizer.feature_history(new)))
                self.memory.append_frames(recognizer.hidden_history(new))
                self._frames_shown = seen
        if self._last_word_time and time.monotonic() - self._last_word_time > WORD_FADE_S:
            self._last_word_time = 0.0
            self.word_label.setProperty("role", "muted")
            self._repolish(self.word_label)
        self._count_frame()

    def _normalised(self, frames: np.ndarray) -> np.ndarray:
        mean, std = self._feature_stats
        if mean is None or frames.size == 0:
            return frames
        return (frames - mean) / std

    def _count_frame(self) -> None:
        self._frames_drawn += 1
        now = time.monotonic()
        if now - self._fps_since >= 1.0:
            self.fps = self._frames_drawn / (now - self._fps_since)
            self._frames_drawn, self._fps_since = 0, now

    def _show_detection(self, detection) -> None:
        self.detections.append(detection)
        del self.detections[:-MAX_HISTORY_ITEMS]  # a listener left running for days keeps what the list shows
        self.word_label.setText(word_text(detection.label))
        self.word_label.setProperty("role", "good")
        self._repolish(self.word_label)
        self._last_word_time = time.monotonic()
        clock = time.strftime("%H:%M:%S")
        self.score_label.setText(f"score {detection.score:.2f}  ·  {clock}")
        ran = self.word_commands is not None and self.word_commands(detection)
        action = self.word_commands.command_for(detection.label) if ran else ""
        recognizer = self.recognizer  # the audio now: the recognizer may be another one when the user asks
        heard = None if recognizer is None else (recognizer.heard_audio(detection), recognizer.sample_rate_hz,
                                                  recognizer.feature_config.clip_samples)
        self.history.add(detection, clock, heard, action)

    # ------------------------------------------------------------------------------ actions
    def _load_actions(self) -> None:
        """The word -> command table from the settings (none, or switched off: no runner)."""
        settings = self.ctx.settings
        table = settings.word_actions
        if not (table and settings.actions_enabled):
            self.word_commands = None  # commands still running finish on their own
        elif self.word_commands is None:
            self.word_commands = DetectionCommand(table, self._model_file(), self.ctx.notify.status.emit,
                                                  source=ACTION_SOURCE)
        else:
            self.word_commands.set_commands(table)
        count = len(table)
        self.actions_button.setText(f"Actions ({count})…" if count and settings.actions_enabled
                                    else "Actions…")

    def _model_file(self) -> str:
        return str(self.ctx.model.path) if self.ctx.model.path is not None else ""

    def edit_actions(self) -> WordActionsDialog:
        """Open the Actions dialog (window-modal); accepted, its table is saved and used at once."""
        from speechrnn.recognizer import is_background  # torch: never on the app's start-up path

        recognizer = self.recognizer
        words = [label for label in recognizer.labels if not is_background(label)] if recognizer else []
        dialog = WordActionsDialog(words, self.ctx.settings.word_actions, self.ctx.settings.actions_enabled,
                                   self._model_file(), self)
        dialog.accepted.connect(lambda: self._actions_chosen(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _actions_chosen(self, dialog: WordActionsDialog) -> None:
        self.ctx.settings.word_actions = dialog.actions()
        self.ctx.settings.actions_enabled = dialog.enabled()
        self._load_actions()

    # ------------------------------------------------------------------------------ model
    def _model_loading(self, _path) -> None:
        if self.recognizer is None:
            self.score_label.setText("Loading the model…")

    def _model_failed(self, _message: str) -> None:
        if self.recognizer is None:
            self.word_label.setText("–")
            self.score_label.setText("No model loaded: open one (Ctrl+O) or train one in the Train panel.")

    def _model_changed(self, path: Path, summary: dict) -> None:
        self._generation += 1
        self.model_chooser.set_path(path)
        if self._model_path is not None and Path(path) != self._model_path:
            self.history.mark_model_switch(self.ctx.model.display_name)
        self._model_path = Path(path)
        if self.word_commands is not None:
            self.word_commands.model = str(path)  # what $SPEECHRNN_MODEL says from now on
        threshold, gate = self.ctx.settings.threshold, self.ctx.settings.min_prominence_db

        def build():
            from speechrnn.recognizer import DetectorConfig, Recognizer

            config = DetectorConfig(engine=RECOGNIZER_ENGINE)
            if threshold is not None:
                config = replace(config, threshold=threshold)
            if gate is not None:
                config = replace(config, min_prominence_db=gate)
            return Recognizer.from_checkpoint(path, config)

        task = run_call(build)
        generation = self._generation
        task.succeeded.connect(lambda recognizer: self._recognizer_ready(recognizer, generation))
        task.failed.connect(lambda msg: self.ctx.notify.error.emit("Could not start recognition", msg))
        self._load_task = task
        task.start()

    def _recognizer_ready(self, recognizer, generation: int) -> None:
        if generation != self._generation:
            return  # another model was chosen while this one loaded
        import torch

        # The recognizer runs here, in the GUI thread, on a few frames per tick: torch's thread pool
        # only adds overhead for such small work (10x for the FFT under load). The setting is per
        # thread: training and evaluation workers choose their own.
        torch.set_num_threads(1)
        self.recognizer = recognizer
        model = recognizer.model
        self._feature_stats = (model.feature_mean.numpy().copy(), model.feature_std.numpy().copy())
        labels = list(recognizer.labels)
        self.bars.set_labels([word_text(label) for label in labels])
        threshold = recognizer.config.threshold
        self.sensitivity.blockSignals(True)
        self.sensitivity.setValue(sensitivity_for(threshold))
        self.sensitivity.blockSignals(False)
        self.room_gate.blockSignals(True)
        self.room_gate.setValue(round(recognizer.config.min_prominence_db))
        self.room_gate.blockSignals(False)
        self._show_threshold(threshold)
        words = [word_text(label) for label in labels if not label.startswith("_")]
        self.vocab_label.setText("Say one of: <b>" + ", ".join(words) + "</b>")
        self.word_label.setText("…")
        if self.paused:
            self.score_label.setText("Paused while the Record panel records takes.")
        elif self.ctx.audio.mic is None and not isinstance(self.reader, FileFeed):
            self.score_label.setText(self._no_microphone_text())
        else:
            self.score_label.setText(f"Listening with {self.ctx.model.display_name}")
        self.features.set_rows(recognizer.feature_config.feature_dim)
        self.memory.set_rows(recognizer.hidden_size)
        self._align_time_axes()
        self._restart_stream()
        rate = recognizer.sample_rate_hz
        if rate != self.ctx.audio.sample_rate_hz:
            self.ctx.audio.sample_rate_hz = rate
            if self.ctx.audio.mic is not None:
                self.ctx.audio.open(self.ctx.audio.device.name, rate)
        self.waveform.sample_rate_hz = rate
        if self.listening and not isinstance(self.reader, FileFeed):  # a file being played goes on
            self.reader = self.ctx.audio.reader()

    def _align_time_axes(self) -> None:
        """The three stacked views share one time axis: give them the same room for y tick labels."""
        views = (self.waveform, self.features, self.memory)
        texts = [text for view in views for _, text in view.y_ticks]
        widest = max(texts, key=lambda text: self.fontMetrics().horizontalAdvance(text), default="")
        for view in views:
            view.set_tick_label_room(widest)

    def _sensitivity_changed(self, value: int) -> None:
        threshold = threshold_for(value)
        self.ctx.settings.threshold = threshold
        self._show_threshold(threshold)
        if self.recognizer is not None:
            self._detector_timer.start()

    def _room_gate_changed(self, value: int) -> None:
        self.ctx.settings.min_prominence_db = float(value)
        if self.recognizer is not None:
            self._detector_timer.start()

    def _apply_detector_settings(self) -> None:
        """Give the recognizer the slider's threshold and the room gate of its spin box."""
        recognizer = self.recognizer
        if recognizer is None:
            return
        threshold = threshold_for(self.sensitivity.value())
        gate = float(self.room_gate.value())
        if recognizer.config.threshold == threshold and recognizer.config.min_prominence_db == gate:
            return
        if self._load_task is not None and self._load_task.running:
            self._detector_timer.start()  # a rebuild is under way: try again when it is done
            return
        # The recognizer fixes its thresholds when it is built: build one with the new settings in
        # a worker, from a copy of the model, so the one in use keeps recognizing meanwhile; then swap.
        config = replace(recognizer.config, threshold=threshold, min_prominence_db=gate)
        model = copy.deepcopy(recognizer.model)
        labels, features, checkpoint = list(recognizer.labels), recognizer.feature_config, recognizer.checkpoint
        task = run_call(lambda: type(recognizer)(model, labels, features, config, checkpoint))
        generation = self._generation
        task.succeeded.connect(lambda new: self._swap_recognizer(new, generation))
        self._load_task = task
        task.start()

    def _swap_recognizer(self, recognizer, generation: int) -> None:
        if generation == self._generation:  # the model was not replaced meanwhile
            self.recognizer = recognizer
            self._restart_stream()

    def _restart_stream(self) -> None:
        """The recognizer starts a new stream: so do the feature and memory views."""
        if self.recognizer is not None:
            self.recognizer.reset()
        self.features.clear_frames()
        self.memory.clear_frames()
        self._frames_shown = 0

    def _show_threshold(self, threshold: float) -> None:
        self.threshold_label.setText(f"threshold {threshold:.2f}")
        self.bars.set_threshold(threshold)

    # ------------------------------------------------------------------------------ hooks
    _feature_stats: tuple = (None, None)
    _model_path: Path | None = None

    @staticmethod
    def _repolish(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)

    def activated(self) -> None:
        self._visible = True

    def deactivated(self) -> None:
        self._visible = False

    def showEvent(self, event) -> None:
        self._visible = True
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._visible = False
        super().hideEvent(event)

    def shutdown(self) -> None:
        self.timer.stop()
        self.reader = None
        if self._load_task is not None:
            self._load_task.wait()

    def apply_colors(self, colors: PlotColors) -> None:
        for view in (self.waveform, self.features, self.memory, self.bars):
            view.apply_colors(colors)
        self.features.set_colormap(VIRIDIS)
        self.memory.set_colormap([(0.0, colors.heat_low), (0.5, colors.heat_mid), (1.0, colors.heat_high)])
        self.meter.set_colors(colors.warning, colors.muted)
