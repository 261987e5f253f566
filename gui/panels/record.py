"""Record panel: takes of your own words into a dataset folder (Speech Commands layout).

Flow per take: countdown → record (the library's :class:`~speechrnn.record.RecordingSession`,
polled by a timer) → the library trims it to the spoken part and fits it to one clip
(:func:`~speechrnn.record.process_take`) → it is saved at once, atomically
(:func:`~speechrnn.record.save_take`) → review: play, redo (replaces it), or go on. Because every
take is written as soon as it is recorded, closing the app loses nothing; a take being recorded
at that moment is processed and saved too if it holds speech.
"""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.context import AppContext
from gui.panels.base import Panel, big_label, card, column, heading, hint, panel_shortcut
from gui.playback import play_file, play_samples
from gui.theme import PlotColors
from gui.widgets.level_meter import LevelMeter
from gui.widgets.plots import ThemedPlot
from speechrnn.audio.io import audio_problem, load_audio
from speechrnn.data.layout import clips_by_word
from speechrnn.data.spec import UNKNOWN
from speechrnn.errors import DeviceError, SpeechRNNError
from speechrnn.features import FeatureConfig
from speechrnn.record import CLIP_MARGIN_S, RecordingSession, Take, process_take, safe_speaker, save_take
from speechrnn.synth import label_folder, parse_words

PROMPT_SCALE = 2.6  # the countdown and the word to say, relative to the normal font
COUNTDOWN_STEPS = 3  # "3, 2, 1"
COUNTDOWN_STEP_MS = 700
POLL_MS = 30  # recording poll / meter refresh
REVIEW_MS = 1300  # pause on a good take before the next countdown (auto-continue)
DEFAULT_TAKES = 10
MAX_TAKES = 200
PATH_ROLE = Qt.ItemDataRole.UserRole
LABEL_ROLE = Qt.ItemDataRole.UserRole + 1  # a word row's folder name (the row shows _unknown_ as OTHER_SPEECH)
OTHER_SPEECH = "other speech (to reject)"  # the list's name for _unknown_ (false alarms kept from Listen)
# Checking a clip reads its header: 0.1-0.4 ms, so a folder of takes is checked at once, while a
# whole dataset (Speech Commands: 105,829 clips, about 30 s) is listed unchecked, as training reports.
MAX_CHECKED_CLIPS = 5000
UNREADABLE_MARK = " (unreadable)"  # after the name of a clip that training would skip
WHICH_WORDS = "Which words?"  # the prompt when Start is pressed with no words typed


class ClipChecker:
    """Which clips cannot be read (:func:`~speechrnn.audio.io.audio_problem`: what training would skip),
    remembered by path, size and modification time, so that a refresh opens only new or changed files."""

    def __init__(self) -> None:
        self._known: dict[Path, tuple[tuple[int, int], str | None]] = {}

    def problem(self, path: Path) -> str | None:
        try:
            stat = path.stat()
        except OSError:
            return "no such file"
        key = (stat.st_size, stat.st_mtime_ns)
        known = self._known.get(path)
        if known is None or known[0] != key:
            known = (key, audio_problem(path))
            self._known[path] = known
        return known[1]

    def by_word(self, folder: Path) -> tuple[dict[str, list[Path]], dict[str, list[tuple[Path, str]]]]:
        """:func:`clips_by_word` of the readable clips, and of the unreadable ones with their problem.
        A folder of more than MAX_CHECKED_CLIPS clips (a whole dataset, not takes) is not checked."""
        by_word = clips_by_word(folder)
        if sum(len(paths) for paths in by_word.values()) > MAX_CHECKED_CLIPS:
            return by_word, {}
        readable: dict[str, list[Path]] = {}
        unreadable: dict[str, list[tuple[Path, str]]] = {}
        for word, paths in by_word.items():
            for path in paths:
                problem = self.problem(path)
                if problem is None:
                    readable.setdefault(word, []).append(path)
                else:
                    unreadable.setdefault(word, []).append((path, problem))
        return readable, unreadable


class State(enum.Enum):
    IDLE = "idle"
    COUNTDOWN = "countdown"
    RECORDING = "recording"
    REVIEW = "review"


class TakePreview(ThemedPlot):
    """The last take (or a selected clip): the whole recording, the kept part shaded."""

    def __init__(self, parent=None):
        super().__init__("Last take", parent=parent)
        self.curve = self.plot([], [])
        self.region = pg.LinearRegionItem(movable=False)
        self.region.setZValue(-10)
        self.addItem(self.region)
        self.region.hide()
        self.setYRange(-1, 1, padding=0.02)
        self.getAxis("bottom").setLabel("seconds")
        self.setMinimumHeight(140)

    def show_audio(self, samples: np.ndarray, rate_hz: int, speech: tuple[int, int] | None, title: str) -> None:
        step = max(1, samples.size // 4000)  # plenty for a preview
        x = np.arange(0, samples.size, step) / rate_hz
        self.curve.setData(x, samples[::step])
        self.setXRange(0, max(samples.size / rate_hz, 0.1), padding=0)
        if speech and speech[1] > speech[0]:
            self.region.setRegion((speech[0] / rate_hz, speech[1] / rate_hz))
            self.region.show()
        else:
            self.region.hide()
        self.setTitle(title, size="9pt")

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self.curve.setPen(pg.mkPen(colors.accent, width=1))
        brush = pg.mkBrush(colors.good + ("40" if colors.dark else "30"))
        self.region.setBrush(brush)
        for line in self.region.lines:
            line.setPen(pg.mkPen(colors.good))


class RecordPanel(Panel):
    key = "record"
    title = "Record"

    def __init__(self, ctx: AppContext):
        super().__init__(ctx)
        self.feature_config = FeatureConfig()  # clip length and rate of saved takes (the models' default)
        self.state = State.IDLE
        self.queue: list[str] = []  # words still to record, one entry per take
        self.take_index = 0
        self.saved_takes = 0
        self.total_takes = 0
        self.session: RecordingSession | None = None
        self.last_take: Take | None = None
        self.last_path: Path | None = None
        self.last_word = ""
        self._countdown_left = 0
        self._session_active = False
        self.checker = ClipChecker()
        self._build()
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        self._step = QTimer(self)
        self._step.setSingleShot(True)
        self._step.timeout.connect(self._on_step)
        self.refresh_table()
        self._update_buttons()
        self.words_edit.textChanged.connect(lambda _text: self._words_typed())
        self.takes_spin.valueChanged.connect(lambda _value: self._show_plan())
        ctx.audio.unavailable.connect(self._microphone_missing)
        ctx.audio.started.connect(lambda _device: self.banner.hide())
        if ctx.audio.mic is None and ctx.audio.error:
            self._microphone_missing(ctx.audio.error)
        self._show_plan()

    # ------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        s = self.ctx.settings
        root = QVBoxLayout(self)
        root.addWidget(heading("Record your own words"))
        root.addWidget(hint(
            "Pick a folder and type the words you want (comma separated). Press Start: after the "
            "countdown say the word once. Each take is trimmed to the spoken part and saved right "
            "away as a 1-second WAV in FOLDER/<word>/ — ready for the Train panel."))

        form = QFormLayout()
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit(s.record_folder)
        self.folder_edit.setToolTip("Dataset folder (Speech Commands layout: one sub-folder per word)")
        self.folder_edit.editingFinished.connect(self._folder_edited)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Dataset folder:", folder_row)
        self.words_edit = QLineEdit(s.record_words)
        self.words_edit.setPlaceholderText("e.g. lights on, lights off, music")
        self.words_edit.setToolTip("Words to record, separated by commas; spaces inside a word become '_'")
        self.words_edit.editingFinished.connect(lambda: setattr(s, "record_words", self.words_edit.text()))
        self.model_words_button = QPushButton("The model's words")
        self.model_words_button.clicked.connect(self.use_model_words)
        self.ctx.model.changed.connect(lambda _path, _summary: self._update_model_words_button())
        self._update_model_words_button()
        words_row = QHBoxLayout()
        words_row.addWidget(self.words_edit, 1)
        words_row.addWidget(self.model_words_button)
        takes_row = QHBoxLayout()
        self.takes_spin = QSpinBox()
        self.takes_spin.setRange(1, MAX_TAKES)
        self.takes_spin.setValue(DEFAULT_TAKES)
        self.takes_spin.setToolTip("How many takes of each word (10–20 per word make a usable model)")
        self.speaker_edit = QLineEdit(s.speaker)
        self.speaker_edit.setMaximumWidth(160)
        self.speaker_edit.setToolTip("Your name or initials: files are named <speaker>_nohash_<n>.wav so "
                                     "training keeps each speaker in one split. Let the others who will use "
                                     "the word record it too, each under their own name: a word taken by "
                                     "several people is heard in far more new voices (the Train panel's note)")
        self.speaker_edit.editingFinished.connect(lambda: setattr(s, "speaker", self.speaker_edit.text()))
        takes_row.addWidget(self.takes_spin)
        takes_row.addSpacing(16)
        takes_row.addWidget(QLabel("Speaker:"))
        takes_row.addWidget(self.speaker_edit)
        takes_row.addStretch(1)
        form.addRow("Words:", words_row)
        form.addRow("Takes per word:", takes_row)
        root.addLayout(form)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setProperty("role", "warning")
        self.banner.hide()
        root.addWidget(self.banner)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left, left_layout = column()

        self.prompt_frame, prompt_layout = card()
        self.prompt_label = big_label("Ready", PROMPT_SCALE, centred=True)
        self.prompt_label.setMinimumHeight(70)
        self.detail_label = QLabel("Type some words and press Start.")
        self.detail_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_label.setProperty("role", "muted")
        self.detail_label.setWordWrap(True)  # long messages wrap instead of being cut at both ends
        self.take_progress = QProgressBar()
        self.take_progress.setFormat("take %v of %m")
        self.take_progress.setValue(0)
        self.meter = LevelMeter()
        prompt_layout.addWidget(self.prompt_label)
        prompt_layout.addWidget(self.detail_label)
        prompt_layout.addWidget(self.meter)
        prompt_layout.addWidget(self.take_progress)
        left_layout.addWidget(self.prompt_frame)

        buttons = QGridLayout()
        self.start_button = QPushButton("● Start recording")
        self.start_button.setToolTip("Record the takes listed above (Ctrl+R)")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop after this take; everything saved so far stays (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.next_button = QPushButton("✓ Keep, next")
        self.next_button.setToolTip("Keep this take and go on to the next one (Enter)")
        self.next_button.clicked.connect(self.keep_and_next)
        self.redo_button = QPushButton("↺ Redo take")
        self.redo_button.setToolTip("Delete the last take and record it again (Ctrl+Backspace)")
        self.redo_button.clicked.connect(self.redo)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play the last take or the selected clip (P)")
        self.play_button.clicked.connect(self.play)
        self.auto_check = QCheckBox("Continue automatically")
        self.auto_check.setChecked(True)
        self.auto_check.setToolTip("Start the next countdown by itself after a good take")
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.stop_button, 0, 1)
        buttons.addWidget(self.next_button, 1, 0)
        buttons.addWidget(self.redo_button, 1, 1)
        buttons.addWidget(self.play_button, 2, 0)
        buttons.addWidget(self.auto_check, 2, 1)
        left_layout.addLayout(buttons)
        self.preview = TakePreview()
        left_layout.addWidget(self.preview, 1)
        splitter.addWidget(left)

        right, right_layout = column()
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)  # a narrow window wraps "…, 2 unreadable (training skips them)"
        right_layout.addWidget(self.summary_label)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Word / clip", "Clips"])
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setToolTip("Recorded clips per word. Double-click a clip to play it; Delete removes "
                             "the selected clips.")
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._play_item(item))
        self.tree.currentItemChanged.connect(lambda item, _prev: self._preview_item(item))
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        right_layout.addWidget(self.tree, 1)
        tree_buttons = QHBoxLayout()
        self.delete_button = QPushButton("Delete selected")
        self.delete_button.setToolTip("Delete the selected clips (or every clip of a selected word) (Delete)")
        self.delete_button.clicked.connect(self.delete_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_table)
        use_words = QPushButton("Record more of these")
        use_words.setToolTip("Put the selected words into the Words field")
        use_words.clicked.connect(self._words_from_selection)
        tree_buttons.addWidget(self.delete_button)
        tree_buttons.addWidget(use_words)
        tree_buttons.addStretch(1)
        tree_buttons.addWidget(refresh)
        right_layout.addLayout(tree_buttons)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        area = QScrollArea()  # a small window scrolls instead of squashing the prompt and the buttons
        area.setWidget(splitter)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        root.addWidget(area, 1)

        for keys, slot in (("Ctrl+R", self.start), ("Escape", self.stop), ("Ctrl+Backspace", self.redo),
                           ("P", self.play), ("Return", self.keep_and_next), ("Delete", self.delete_selected)):
            panel_shortcut(self, keys, slot)

    # ------------------------------------------------------------------------------ folder / table
    @property
    def folder(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Dataset folder for your recordings", str(self.folder))
        if path:
            self.folder_edit.setText(path)
            self._folder_edited()

    def _folder_edited(self) -> None:
        self.ctx.settings.record_folder = str(self.folder)
        self.refresh_table()
        if self.state == State.IDLE:  # "3 takes saved in the folder 'rec'" belonged to the folder before
            self.prompt_label.setText("Ready")
            self._show_plan()

    def refresh_table(self) -> None:
        expanded = {self.tree.topLevelItem(i).data(0, LABEL_ROLE) for i in range(self.tree.topLevelItemCount())
                    if self.tree.topLevelItem(i).isExpanded()}
        self.tree.clear()
        by_word, unreadable = self.checker.by_word(self.folder)
        for word in sorted(set(by_word) | set(unreadable), key=lambda w: (w == UNKNOWN, w)):  # the words first
            paths = by_word.get(word, [])
            top = QTreeWidgetItem([OTHER_SPEECH if word == UNKNOWN else word, str(len(paths))])
            top.setData(0, PATH_ROLE, "")
            top.setData(0, LABEL_ROLE, word)
            if word == UNKNOWN:  # what Listen kept as a false alarm: trained as speech to reject, not a word
                top.setToolTip(0, f"{self.folder / UNKNOWN}: detections kept as wrong in Listen; the next "
                                  "training learns to reject them")
            for path in paths:
                child = QTreeWidgetItem([path.name, ""])
                child.setData(0, PATH_ROLE, str(path))
                child.setToolTip(0, str(path))
                top.addChild(child)
            for path, problem in unreadable.get(word, []):  # not counted: training skips them
                child = QTreeWidgetItem([path.name + UNREADABLE_MARK, ""])
                child.setData(0, PATH_ROLE, str(path))
                child.setToolTip(0, f"{path}: {problem}. Training skips it; delete it or record it again.")
                child.setForeground(0, QColor(self.ctx.colors.warning))
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(word in expanded or word == self.last_word or word in unreadable)
        others = len(by_word.get(UNKNOWN, []))
        total = sum(len(p) for p in by_word.values()) - others
        words = len(by_word) - (UNKNOWN in by_word)
        broken = sum(len(p) for p in unreadable.values())
        if by_word or unreadable:
            text = (f"<b>{total}</b> clip{'' if total == 1 else 's'} of <b>{words}</b> "
                    f"word{'' if words == 1 else 's'}" if words else "No takes of a word")
            text += f", {others} of other speech" if others else ""
            text += (f", {broken} unreadable (training skips {'it' if broken == 1 else 'them'})" if broken else "")
            self.summary_label.setText(text + " in this folder")
        else:
            self.summary_label.setText("No recordings in this folder yet.")

    def _selected_paths(self) -> list[Path]:
        paths = []
        for item in self.tree.selectedItems():
            if item.data(0, PATH_ROLE):
                paths.append(Path(item.data(0, PATH_ROLE)))
            else:
                paths += [Path(item.child(i).data(0, PATH_ROLE)) for i in range(item.childCount())]
        return sorted(set(paths))

    def delete_selected(self) -> None:
        paths = self._selected_paths()
        if not paths:
            return
        names = "\n".join(p.name for p in paths[:8]) + ("\n…" if len(paths) > 8 else "")
        answer = QMessageBox.question(self, "Delete clips", f"Delete {len(paths)} clip(s)?\n\n{names}")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.delete_paths(paths)

    def delete_paths(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
            if self.last_path == path:
                self.last_path = None
        self.refresh_table()
        self.ctx.notify.recordings_changed.emit(str(self.folder))
        self.ctx.notify.status.emit(f"Deleted {len(paths)} clip(s)")

    def model_words(self) -> list[str]:
        """The words of the model in use (not its _silence_ / _unknown_), as Listen's Actions offer them."""
        from speechrnn.recognizer import is_background

        return [label for label in self.ctx.model.labels if not is_background(label)]

    def _update_model_words_button(self) -> None:
        words = self.model_words()
        self.model_words_button.setEnabled(bool(words))
        self.model_words_button.setToolTip(
            f"Record the words of the {self.ctx.model.display_name} ({', '.join(words)}). Trained from that model's "
            "network (Train: Start from), takes of its own words teach it your voice and microphone."
            if words else "No model is loaded yet")

    def use_model_words(self) -> None:
        """Put the model's words in the Words field: takes of them adapt that model to the speaker."""
        words = self.model_words()
        if not words:
            return
        self.words_edit.setText(", ".join(words))
        self.ctx.settings.record_words = self.words_edit.text()
        self.detail_label.setText(f"Record these, then train from the {self.ctx.model.display_name}'s network "
                                  "(Train: Start from): it learns your voice.")

    def _words_from_selection(self) -> None:
        words = []
        for item in self.tree.selectedItems():
            top = item if item.parent() is None else item.parent()
            word = top.data(0, LABEL_ROLE)
            if word != UNKNOWN and word not in words:  # other speech is kept from Listen, not recorded
                words.append(word)
        if words:
            self.words_edit.setText(", ".join(words))
            self.ctx.settings.record_words = self.words_edit.text()

    def _preview_item(self, item: QTreeWidgetItem | None) -> None:
        if item is None or not item.data(0, PATH_ROLE) or self.state in (State.COUNTDOWN, State.RECORDING):
            return
        path = Path(item.data(0, PATH_ROLE))
        try:
            samples = load_audio(path, self.feature_config.sample_rate_hz)
        except SpeechRNNError as exc:
            self.ctx.notify.status.emit(str(exc))
            return
        self.preview.show_audio(samples, self.feature_config.sample_rate_hz, None, f"{path.parent.name}/{path.name}")

    def _play_item(self, item: QTreeWidgetItem) -> None:
        if item.data(0, PATH_ROLE):
            self._report(play_file(item.data(0, PATH_ROLE)))

    # ------------------------------------------------------------------------------ recording flow
    def start(self) -> None:
        if self.state in (State.COUNTDOWN, State.RECORDING):
            return
        if not self.words_edit.text().strip():
            self._set_prompt(WHICH_WORDS, "Type the words to record above, separated by commas.")
            self.words_edit.setFocus()
            return
        try:
            words = [label_folder(word) for word in parse_words(self.words_edit.text())]
        except SpeechRNNError as exc:
            self.ctx.notify.error.emit("Words", str(exc))
            return
        try:
            safe_speaker(self.speaker_edit.text() or self.ctx.settings.speaker)
        except SpeechRNNError as exc:
            self.ctx.notify.error.emit("Speaker name", str(exc))
            return
        if not self._microphone_ready():
            return
        self.ctx.settings.record_words = self.words_edit.text()
        takes = self.takes_spin.value()
        # word by word: all takes of the first word, then the next (easier to keep a steady voice)
        self.queue = [word for word in words for _ in range(takes)]
        self.total_takes = len(self.queue)
        self.take_index = 0
        self.saved_takes = 0  # take_index counts takes done (the bar), skipped ones too
        self.take_progress.setMaximum(self.total_takes)
        self.take_progress.setValue(0)
        self._begin_countdown()

    def _microphone_ready(self) -> bool:
        if self.ctx.audio.mic is None:
            if not self.ctx.audio.open(self.ctx.input_device or self.ctx.settings.input_device or None):
                return False  # the unavailable signal shows the banner
        self.banner.hide()
        return True

    def _microphone_missing(self, message: str) -> None:
        if self.ctx.audio.reconnecting:
            self.banner.setText(f"Microphone lost: {message.rstrip('.')}. Trying it again on its own; "
                                "or pick another device in the Listen panel.")
        else:
            self.banner.setText(f"No microphone: {message.rstrip('.')}. "
                                "Once one is connected, pick it in the Listen panel.")
        self.banner.show()

    def _words_typed(self) -> None:
        if self.state == State.IDLE and self.prompt_label.text() == WHICH_WORDS:
            self.prompt_label.setText("Ready")  # the question is answered
        self._show_plan()

    def _show_plan(self) -> None:
        """While idle: what Start will do."""
        if self.state != State.IDLE:
            return
        try:
            words = parse_words(self.words_edit.text()) if self.words_edit.text().strip() else ()
        except SpeechRNNError:
            words = ()
        takes = self.takes_spin.value()
        # no words yet: the bar counts the takes of one word, as the spin box says
        self.take_progress.setMaximum(max(1, len(words)) * takes)
        self.take_progress.setValue(0)
        if words:
            self.detail_label.setText(f"Press Start (Ctrl+R) to record {len(words) * takes} takes: {takes} of "
                                      + ", ".join(f"“{w}”" for w in words) + ".")
        else:
            self.detail_label.setText("Type the words to record above, then press Start.")

    def _begin_countdown(self) -> None:
        if not self.queue:
            self._finish_session()
            return
        self.state = State.COUNTDOWN
        self._countdown_left = COUNTDOWN_STEPS
        word = self.queue[0]
        self._set_prompt(str(self._countdown_left), f"Get ready to say “{word.replace('_', ' ')}”")
        self.take_progress.setValue(self.take_index)
        self._step.start(COUNTDOWN_STEP_MS)
        self._update_buttons()

    def _on_step(self) -> None:
        if self.state == State.COUNTDOWN:
            self._countdown_left -= 1
            if self._countdown_left > 0:
                self.prompt_label.setText(str(self._countdown_left))
                self._step.start(COUNTDOWN_STEP_MS)
            else:
                self._begin_recording()
        elif self.state == State.REVIEW and self.auto_check.isChecked() and self.queue:
            self._begin_countdown()

    def _begin_recording(self) -> None:
        mic = self.ctx.audio.mic
        if mic is None:
            self._abort("The microphone went away.")
            return
        duration_s = self.feature_config.clip_ms / 1000 + 2 * CLIP_MARGIN_S
        self.session = RecordingSession(mic, duration_s)
        self.state = State.RECORDING
        word = self.queue[0]
        self._set_prompt(f"“{word.replace('_', ' ')}”", "Speak now")
        self.prompt_label.setProperty("role", "good")
        self._repolish(self.prompt_label)
        self._poll.start()
        self._update_buttons()

    def _on_poll(self) -> None:
        if self.state != State.RECORDING or self.session is None:
            self._poll.stop()
            return
        try:
            fraction = self.session.poll()
        except DeviceError as exc:
            self.ctx.audio.fail(str(exc))
            self._abort(str(exc))
            return
        level = self.session.level_db
        self.meter.set_level(level, level, False)
        self.detail_label.setText("Speak now " + "●" * int(fraction * 10) + "○" * (10 - int(fraction * 10)))
        if self.session.done:
            self._poll.stop()
            self._take_finished(self.session.audio())

    def _take_finished(self, raw: np.ndarray) -> None:
        word = self.queue[0]
        self.session = None
        rate = self.feature_config.sample_rate_hz
        take = process_take(raw, rate, self.feature_config.clip_samples)
        self.last_take, self.last_word = take, word
        self.prompt_label.setProperty("role", "")
        self._repolish(self.prompt_label)
        self.preview.show_audio(take.raw, rate, (take.speech_start, take.speech_end),
                                f"Last take: {word}  (shaded = kept, {take.speech_ms:.0f} ms of speech)")
        saved = None
        if take.speech_end > take.speech_start:
            try:
                saved = save_take(self.folder, word, self.speaker_edit.text() or self.ctx.settings.speaker,
                                  take.clip, rate)
            except (SpeechRNNError, OSError) as exc:
                self._abort(f"Could not save the take: {exc}")
                return
        self.last_path = saved
        self.state = State.REVIEW
        if saved is not None:
            self.queue.pop(0)
            self.take_index += 1
            self.saved_takes += 1
            self.take_progress.setValue(self.take_index)
            self.refresh_table()
            self.ctx.notify.recordings_changed.emit(str(self.folder))
            problems = ("  ⚠ " + "; ".join(take.problems)) if take.problems else ""
            self._set_prompt("✓ saved", f"{saved.parent.name}/{saved.name}{problems}")
            if not self.queue:
                self._finish_session()
                return
            if self.auto_check.isChecked() and not take.problems:
                self._step.start(REVIEW_MS)
        else:
            self._set_prompt("Again, please", "; ".join(take.problems) + ". Nothing was saved: press Redo "
                             "(Ctrl+Backspace) to record this take again, or Skip (Enter) to go on without it.")
        self._update_buttons()

    def keep_and_next(self) -> None:
        """Go on to the next take now (the last one is already saved)."""
        if self.state != State.REVIEW:
            return
        self._step.stop()
        if self.last_path is None and self.queue:
            self.queue.pop(0)  # skip a take that had no speech
            self.take_index += 1
        self._begin_countdown()

    def redo(self) -> None:
        """Delete the last saved take and record it again."""
        if self.state != State.REVIEW:
            return
        self._step.stop()
        if self.last_path is not None:
            self.last_path.unlink(missing_ok=True)
            self.queue.insert(0, self.last_word)
            self.take_index -= 1
            self.saved_takes -= 1
            self.last_path = None
            self.refresh_table()
            self.ctx.notify.recordings_changed.emit(str(self.folder))
        self._begin_countdown()

    def stop(self) -> None:
        """Stop recording; a take in progress is kept if it holds speech."""
        self._step.stop()
        if self.state == State.RECORDING and self.session is not None:
            self._poll.stop()
            self._save_partial()
        self.state = State.IDLE
        self.session = None
        self.queue = []
        self.prompt_label.setProperty("role", "")
        self._repolish(self.prompt_label)
        self._set_prompt("Stopped", f"{self._takes_saved()} in the folder “{self.folder.name}”.")
        self.meter.reset()
        self._update_buttons()

    def _save_partial(self) -> None:
        session, word = self.session, (self.queue[0] if self.queue else "")
        self.session = None
        if session is None or not word:
            return
        try:
            session.poll()
        except DeviceError:
            pass
        raw = session.audio()
        if raw.size == 0:
            return
        take = process_take(raw, self.feature_config.sample_rate_hz, self.feature_config.clip_samples)
        if take.speech_end > take.speech_start:
            try:
                self.last_path = save_take(self.folder, word, self.speaker_edit.text() or self.ctx.settings.speaker,
                                           take.clip, self.feature_config.sample_rate_hz)
                self.take_index += 1
                self.saved_takes += 1
            except (SpeechRNNError, OSError):
                pass  # closing: nothing better to do than keep what was saved before

    def _finish_session(self) -> None:
        self.state = State.IDLE
        self.queue = []
        self._set_prompt("Done!", f"{self._takes_saved()} in the folder “{self.folder.name}”. "
                         "Train a model with them in the Train panel.")
        self.meter.reset()
        self._update_buttons()
        self.ctx.notify.status.emit(f"Recorded {self._takes_saved()}")

    def _abort(self, message: str) -> None:
        self._poll.stop()
        self._step.stop()
        self.state = State.IDLE
        self.session = None
        self.queue = []
        self.banner.setText(message)
        self.banner.show()
        self._set_prompt("Stopped", message)
        self._update_buttons()

    def play(self) -> None:
        if self.state in (State.COUNTDOWN, State.RECORDING):
            return
        selected = [p for p in self._selected_paths()]
        if len(selected) == 1 and self.tree.hasFocus():
            self._report(play_file(selected[0]))
        elif self.last_take is not None:
            self._report(play_samples(self.last_take.clip, self.feature_config.sample_rate_hz))
        elif selected:
            self._report(play_file(selected[0]))

    # ------------------------------------------------------------------------------ helpers
    def _report(self, problem: str) -> None:
        if problem:
            self.ctx.notify.status.emit(problem)

    def _takes_saved(self) -> str:
        saved, skipped = self.saved_takes, self.take_index - self.saved_takes
        text = f"{saved} take{'' if saved == 1 else 's'} saved"
        return text + (f" ({skipped} skipped)" if skipped > 0 else "")

    def _set_prompt(self, big: str, detail: str) -> None:
        self.prompt_label.setText(big)
        self.detail_label.setText(detail)

    @staticmethod
    def _repolish(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)

    def _update_buttons(self) -> None:
        busy = self.state in (State.COUNTDOWN, State.RECORDING)
        session = self.state != State.IDLE  # from Start to Stop / Done: the user speaks takes, Listen pauses
        if session != self._session_active:
            self._session_active = session
            self.ctx.notify.recording.emit(session)
        self.start_button.setEnabled(self.state in (State.IDLE,))
        self.stop_button.setEnabled(self.state != State.IDLE)
        self.next_button.setEnabled(self.state == State.REVIEW and bool(self.queue))
        unsaved = self.state == State.REVIEW and self.last_path is None
        self.next_button.setText("⏭ Skip this take" if unsaved else "✓ Keep, next")
        self.next_button.setToolTip("Go on without this take (nothing was saved) (Enter)" if unsaved
                                    else "Keep this take and go on to the next one (Enter)")
        self.redo_button.setText("↺ Record again" if unsaved else "↺ Redo take")
        self.redo_button.setEnabled(self.state == State.REVIEW)  # only a take just recorded can be redone
        # something to play: the last take, or a clip selected in the list
        self.play_button.setEnabled(not busy and (self.last_take is not None or bool(self._selected_paths())))
        for widget in (self.folder_edit, self.words_edit, self.takes_spin, self.speaker_edit):
            widget.setEnabled(not busy and self.state != State.REVIEW)

    # ------------------------------------------------------------------------------ panel hooks
    def activated(self) -> None:
        self.refresh_table()  # Listen may have kept words in the folder since (right-click, keep)

    def shutdown(self) -> None:
        if self.state == State.RECORDING:
            self._save_partial()
        self._poll.stop()
        self._step.stop()
        self.state = State.IDLE

    def apply_colors(self, colors: PlotColors) -> None:
        self.preview.apply_colors(colors)
        self.meter.set_colors(colors.warning, colors.muted)
        for i in range(self.tree.topLevelItemCount()):  # unreadable clips are shown in the warning colour
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                if top.child(j).text(0).endswith(UNREADABLE_MARK):
                    top.child(j).setForeground(0, QColor(colors.warning))
