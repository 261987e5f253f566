"""Train panel: choose data and a network, train off the GUI thread, watch the curves, use the model.

The form becomes the library's frozen configs (:class:`~speechrnn.data.spec.DataSpec`,
:class:`~speechrnn.model.ModelConfig`, :class:`~speechrnn.data.augment.AugmentConfig`,
:class:`~speechrnn.training.TrainConfig`), gathered in a :class:`~speechrnn.custom_word.TrainRequest`
whose events (synthetic voices of the user's words if asked, similar words, then
:func:`speechrnn.training.train`) run in a :class:`~gui.worker.Task` thread and drive the right
column, a :class:`~gui.panels.train_run.RunView` (progress, result, curves, log).
Cancel sets the library's CancelToken. Speech Commands can be downloaded here beforehand
(:func:`speechrnn.data.download.download`, cancellable, resumable).

Custom-word runs follow the library's measured recipe (:mod:`speechrnn.custom_word`, which
``speechrnn train --words`` follows too): takes split by take, synthetic voices, _silence_ and
_unknown_ about one word's worth of clips each, many short epochs.
Training leaves one CPU core to the window (:func:`training_threads`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.context import AppContext
from gui.panels.base import Panel, heading, hint, panel_shortcut
from gui.panels.record import ClipChecker
from gui.panels.train_run import PROGRESS_STEPS, RunView
from gui.theme import PlotColors
from gui.worker import Task
from speechrnn.custom_word import (
    DETECTION_THRESHOLD,
    SMALL_DATA_EPOCHS,
    START_FROM_EPOCHS,
    SYNTH_VOICES_PER_WORD,
    SynthPlan,
    TrainRequest,
    class_share_pct,
    small_data_epochs,
)

CELLS = (("GRU (gated, fast, accurate)", "gru"), ("LSTM (gated, long memory)", "lstm"),
         ("vanilla RNN (no gates: forgets fast)", "rnn"))
VOCABULARIES = (
    ("The words of my recordings", "recorded"),
    ("These words:", "typed"),
    ("Speech Commands 12 (yes, no, up, down, left, right, on, off, stop, go)", "12"),
    ("Digits (zero … nine)", "digits"),
    ("Every folder is a word", "all"),
)
SPEECH_COMMANDS_VERSIONS = (("v2 (105,829 clips, 35 words, 2.4 GB)", "v2"),
                            ("v1 (64,727 clips, 30 words, 1.5 GB)", "v1"))
DEFAULT_EPOCHS = 30  # with Speech Commands: long epochs
# New words learn on the network of this bundled model (it heard about 1,400 real speakers); measured
# with bench.custom_word (docs/custom-words.md): far more of the word heard, far fewer other words taken for it.
DEFAULT_START_FROM = "commands"
# A new network gets the spectral front-end unless the form says otherwise, as with `speechrnn train`
# (speechrnn.model.new_network_front_end, which has the measurement)
NEW_NETWORK_SPECTRAL = True
# The saved form's version: 2 since the synthetic voices' default fell from 120 to 40 per word (stop 38,
# measured on real strangers). A form of version 1 holding 120 kept the old default, not a choice (version 1
# saved the number always; version 2 only when it differs from the default).
FORM_VERSION = 2
OLD_SYNTH_VOICES_DEFAULT = 120
COMBO_MIN_CHARS = 16  # combo boxes of the form shrink to this many characters
FORM_MIN_PX = 410  # the form (its widest row plus a scroll bar); the rest of a 900-px window is the charts
RUN_NAME_WORDS = 3  # words named in a run folder's name; more are counted ("lights+music+on+2")
# AugmentConfig's defaults for the panel's check boxes, written out so that building the panel does not
# import torch (a test checks them against AugmentConfig)
AUGMENT_DEFAULTS = {"noise": True, "shift": True, "room": True, "gain": True, "speed": False, "vtlp": False,
                    "spec_augment": True}
ADAPT_SYNTH_TIP = ("Off: these are words the chosen model already knows, so training adapts it to your voice "
                   "(the note under Start from); synthetic voices would teach it to reject its own words")
AUGMENT_COLUMNS = 3  # check boxes per row of the Augmentation grid (4 widen the form past a 900-px window)
# A word whose takes are all one person's is heard in far fewer new voices (bench.custom_word --real-voices,
# "happy" said by about 300 real strangers: with 40 synthetic voices one speaker's takes 83.0-90.3 %, "cat"
# 62.5 %; with the 120 of stops 28-37 one speaker's 4 takes 65.9-68.8 %, three speakers' 12 takes 79.2-83.7 %,
# ten speakers' 30-36 takes 87.5-90.1 %; "cat": one speaker 35.9 %, ten 63.2 %; docs/custom-words.md).
ONE_SPEAKER_NOTE = " — one speaker: let others record it too"
ONE_SPEAKER_TIP = ("Every take of a word here is by one speaker. Takes by other people (the Record panel's Speaker "
                   "field: their name) teach it voices it has not heard: measured on real strangers, a word taken "
                   "by one person was heard in 83–90 % of new voices (\"happy\"; the short \"cat\": 63 %); with "
                   "120 synthetic voices, where more people's takes were tried, one person's in 66–69 %, three "
                   "people's in 79–84 %, ten people's in 88–90 % (docs/custom-words.md).")
TASK_NAMES = {"12": "commands12", "digits": "digits", "all": "all-words"}  # run names of the fixed vocabularies


def augment_form_key(field: str) -> str:
    """The saved form's key of an AugmentConfig check box ("aug_spec" for spec_augment, as saved before)."""
    return "aug_spec" if field == "spec_augment" else f"aug_{field}"


def one_speaker(clips_by_word: dict[str, list[Path]], words) -> bool:
    """Whether every take of some word of ``words`` is by one speaker (the file names' speaker part)."""
    from speechrnn.data.layout import speaker_of

    return any(len({speaker_of(path) for path in clips_by_word[word]}) == 1 for word in words)


def training_threads() -> int:
    """CPU threads for training: all cores but one, which keeps the window (and listening) smooth."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def run_name(words: tuple[str, ...], vocabulary: str, cell: str, layers: int, hidden: int, day: str) -> str:
    """A run folder's name from what it learns: ``lights-gru2x128-20261201``."""
    if words:
        named = "+".join(words[:RUN_NAME_WORDS]) + (f"+{len(words) - RUN_NAME_WORDS}" if len(words) > RUN_NAME_WORDS
                                                      else "")
    else:
        named = TASK_NAMES.get(vocabulary, vocabulary)
    return f"{named}-{cell}{layers}x{hidden}-{day}"


def unused_folder(folder: Path) -> Path:
    """``folder``, or ``folder-2``, ``folder-3`` ... when a run of that name is already there."""
    candidate, number = folder, 1
    while candidate.exists():
        number += 1
        candidate = folder.with_name(f"{folder.name}-{number}")
    return candidate


class TrainPanel(Panel):
    key = "train"
    title = "Train"

    def __init__(self, ctx: AppContext):
        super().__init__(ctx)
        self.task: Task | None = None
        self._request: TrainRequest | None = None  # the run started last (its synthetic clips, its folder)
        self.download_task: Task | None = None
        self.result: Any = None
        self.clip_checker = ClipChecker()  # the takes' readability, for the counts shown
        self._recorded: dict[str, int] = {}  # the recordings folder's words and their takes
        self._base = None  # the BaseNetwork of "Start from" (None: a new network)
        self._build()
        self._restore_form()
        self.epochs_spin.valueChanged.connect(self._epochs_changed)
        self._epochs_changed(self.epochs_spin.value())
        self.use_speech_commands.toggled.connect(lambda _on: self._suggest_epochs())
        ctx.notify.recordings_changed.connect(self._recordings_changed)
        self._update_recordings()
        self._update_download_status()
        self._update_state()

    # ------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        root.addWidget(splitter)

        form_widget = QWidget()
        form_layout = QVBoxLayout(form_widget)
        form_layout.addWidget(heading("Train a model"))
        form_layout.addWidget(hint("Choose what to learn from and which network, then Start. Training runs in "
                                   "the background; the window stays usable."))
        form_layout.addWidget(self._data_box())
        form_layout.addWidget(self._words_box())
        form_layout.addWidget(self._model_box())
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(form_widget)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(FORM_MIN_PX)
        for combo in form_widget.findChildren(QComboBox):
            # long item texts must not widen the form: show what fits, the popup shows all
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(COMBO_MIN_CHARS)
        splitter.addWidget(scroll)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("▶ Start training")
        self.start_button.setToolTip("Train with these settings (Ctrl+Return)")
        panel_shortcut(self, "Ctrl+Return", self.start)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("■ Cancel")
        self.cancel_button.setToolTip("Stop training; the last finished epoch is kept as a resumable checkpoint")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        self.run_view = right = RunView(buttons)
        right.use_requested.connect(self.use_model)
        right.evaluate_requested.connect(self._evaluate_model)
        right.open_folder_requested.connect(self._open_run_folder)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([470, 620])

    def _data_box(self) -> QGroupBox:
        box = QGroupBox("1. What to learn from")
        grid = QGridLayout(box)
        row = 0
        self.use_recordings = QCheckBox("My recordings")
        self.use_recordings.setToolTip("The clips recorded in the Record panel")
        self.recordings_edit = QLineEdit(self.ctx.settings.record_folder)
        self.recordings_edit.editingFinished.connect(self._update_recordings)
        browse = QPushButton("…")
        browse.setMaximumWidth(32)
        browse.setToolTip("Choose the recordings folder")
        browse.clicked.connect(lambda: self._browse_into(self.recordings_edit, self._update_recordings))
        grid.addWidget(self.use_recordings, row, 0)
        grid.addWidget(self.recordings_edit, row, 1)
        grid.addWidget(browse, row, 2)
        row += 1
        self.recordings_info = QLabel()
        self.recordings_info.setProperty("role", "muted")
        self.recordings_info.setWordWrap(True)
        grid.addWidget(self.recordings_info, row, 1, 1, 2)
        row += 1

        self.use_synth = QCheckBox("Synthetic voices")
        self.use_synth.setToolTip("Add text-to-speech renderings of your words (every installed espeak-ng / "
                                  "flite voice): many more “speakers” than your own takes.\nWith _unknown_ on, "
                                  "the voices also say 25 other words, so no download is needed.\n"
                                  f"{SYNTH_VOICES_PER_WORD} per word: measured, more voices drown your takes "
                                  "and the word is heard in fewer real people.")
        self.synth_spin = QSpinBox()
        self.synth_spin.setRange(1, 500)
        self.synth_spin.setValue(SYNTH_VOICES_PER_WORD)
        self.synth_spin.setSuffix(" per word")
        self.synth_spin.setToolTip(self.use_synth.toolTip())
        from speechrnn.synth import find_engines, no_engine_message

        self._synth_engines = bool(find_engines())
        self._synth_tip = self.use_synth.toolTip()
        if not self._synth_engines:
            self.use_synth.setEnabled(False)
            self.synth_spin.setEnabled(False)
            self.use_synth.setToolTip(no_engine_message())
        grid.addWidget(self.use_synth, row, 0)
        grid.addWidget(self.synth_spin, row, 1, 1, 2)
        row += 1
        self.use_negatives = QCheckBox("Other words (bundled + similar-sounding)")
        self.use_negatives.setChecked(True)
        self.use_negatives.setToolTip(
            "Teach your words to reject other words: a few hundred real speakers saying other words "
            "(bundled, CC BY Speech Commands) and words that sound like yours (e.g. “nights” for "
            "“lights”), spoken by the synthetic voices. Used as _unknown_.")
        from speechrnn.negatives import NEGATIVES_DIR, bundled_dir

        if bundled_dir(NEGATIVES_DIR) is None:
            from speechrnn.negatives import MISSING_HINT

            self.use_negatives.setToolTip("The bundled other-word clips are missing: " + MISSING_HINT)
        grid.addWidget(self.use_negatives, row, 0, 1, 3)
        row += 1

        self.use_speech_commands = QCheckBox("Speech Commands")
        self.use_speech_commands.setToolTip("Google's Speech Commands dataset (CC BY 4.0): thousands of speakers. "
                                            "Words outside your vocabulary become _unknown_.")
        self.version_combo = QComboBox()
        for text, version in SPEECH_COMMANDS_VERSIONS:
            self.version_combo.addItem(text, version)
        self.version_combo.currentIndexChanged.connect(lambda _i: self._update_download_status())
        grid.addWidget(self.use_speech_commands, row, 0)
        grid.addWidget(self.version_combo, row, 1, 1, 2)
        row += 1
        download_row = QHBoxLayout()
        self.download_status = QLabel()
        self.download_status.setProperty("role", "muted")
        self.download_status.setWordWrap(True)  # "downloading… 1.2 of 2.4 GB" wraps instead of widening the form
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download and unpack it now (resumable; training would do it too)")
        self.download_button.clicked.connect(self.download)
        self.download_cancel = QPushButton("Cancel")
        self.download_cancel.clicked.connect(self.cancel_download)
        self.download_cancel.hide()
        download_row.addWidget(self.download_status, 1)
        download_row.addWidget(self.download_button)
        download_row.addWidget(self.download_cancel)
        grid.addLayout(download_row, row, 1, 1, 2)
        row += 1
        self.download_progress = QProgressBar()
        self.download_progress.setRange(0, PROGRESS_STEPS)
        self.download_progress.hide()
        grid.addWidget(self.download_progress, row, 1, 1, 2)
        row += 1

        grid.addWidget(QLabel("Other folders"), row, 0, Qt.AlignmentFlag.AlignTop)
        self.folder_list = QListWidget()
        self.folder_list.setMaximumHeight(64)
        self.folder_list.setToolTip("Any folders in Speech Commands layout (one sub-folder per word)")
        grid.addWidget(self.folder_list, row, 1)
        folder_buttons = QVBoxLayout()
        add = QPushButton("+")
        add.setMaximumWidth(32)
        add.setToolTip("Add a folder")
        add.clicked.connect(self._add_folder)
        remove = QPushButton("−")
        remove.setMaximumWidth(32)
        remove.setToolTip("Remove the selected folder")
        remove.clicked.connect(lambda: self.folder_list.takeItem(self.folder_list.currentRow()))
        folder_buttons.addWidget(add)
        folder_buttons.addWidget(remove)
        folder_buttons.addStretch(1)
        grid.addLayout(folder_buttons, row, 2)
        row += 1
        grid.addWidget(QLabel("Noise"), row, 0)
        self.noise_edit = QLineEdit()
        self.noise_edit.setPlaceholderText("optional folder of background-noise recordings")
        from speechrnn.negatives import MISSING_HINT, NOISE_DIR, bundled_dir

        if bundled_dir(NOISE_DIR) is None:
            self.noise_edit.setPlaceholderText("no bundled noise found: choose a folder of noise recordings")
            self.noise_edit.setToolTip("The bundled noise is missing: " + MISSING_HINT)
        self.noise_edit.setToolTip("Long recordings of background noise, mixed into training clips and used "
                                   "for _silence_. Speech Commands brings its own.")
        noise_browse = QPushButton("…")
        noise_browse.setMaximumWidth(32)
        noise_browse.clicked.connect(lambda: self._browse_into(self.noise_edit))
        grid.addWidget(self.noise_edit, row, 1)
        grid.addWidget(noise_browse, row, 2)
        grid.setColumnStretch(1, 1)
        return box

    def _words_box(self) -> QGroupBox:
        box = QGroupBox("2. Which words")
        layout = QVBoxLayout(box)
        self.vocab_combo = QComboBox()
        for text, key in VOCABULARIES:
            self.vocab_combo.addItem(text, key)
        self.vocab_combo.currentIndexChanged.connect(lambda _i: self._update_state())
        self.vocab_combo.currentIndexChanged.connect(lambda _i: self._update_adaptation())
        self.words_edit = QLineEdit()
        self.words_edit.setPlaceholderText("e.g. lights_on, lights_off, music")
        self.words_edit.setToolTip("Folder names of the words to recognize, separated by commas")
        self.words_edit.textChanged.connect(lambda _text: self._update_adaptation())
        layout.addWidget(self.vocab_combo)
        layout.addWidget(self.words_edit)
        extras = QHBoxLayout()
        self.unknown_check = QCheckBox("_unknown_ (other words)")
        self.unknown_check.setChecked(True)
        self.unknown_check.setToolTip("A class for every other word in the data, so the model can say "
                                      "“not one of my words”")
        self.silence_check = QCheckBox("_silence_ (background)")
        self.silence_check.setChecked(True)
        self.silence_check.setToolTip("A class for background noise without speech")
        extras.addWidget(self.unknown_check)
        extras.addWidget(self.silence_check)
        extras.addStretch(1)
        layout.addLayout(extras)
        return box

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("3. Network and training")
        form = QFormLayout(box)
        self.start_combo = QComboBox()
        self.start_combo.addItem("a new network", "")
        from speechrnn.bundled import TITLES, available_models

        for name in available_models(self.ctx.model.assets_dir):
            self.start_combo.addItem(f"the {TITLES[name]} model's network", name)
        self.start_combo.setToolTip(
            "Your words learn on top of a network that has already heard many real voices (the Commands model "
            "heard about 1,400 speakers): more of your word is heard and far fewer other words are taken for "
            "it. The cell and size are then that network's. “A new network” starts from random weights.")
        self.start_combo.currentIndexChanged.connect(self._start_changed)
        form.addRow("Start from:", self.start_combo)
        self.adapt_note = QLabel()  # shown when the words are all the chosen model's: an adaptation
        self.adapt_note.setWordWrap(True)
        self.adapt_note.setProperty("role", "muted")
        self.adapt_note.hide()
        form.addRow(self.adapt_note)
        self.cell_combo = QComboBox()
        for text, cell in CELLS:
            self.cell_combo.addItem(text, cell)
        self.cell_combo.setToolTip("The recurrent cell. Gates (GRU, LSTM) let the memory keep what matters "
                                   "over a whole word; a vanilla RNN forgets within a few hundred ms.")
        form.addRow("Cell:", self.cell_combo)
        self.spectral_check = QCheckBox("convolutions along the mel bands")
        self.spectral_check.setToolTip(
            "A spectral front-end before the recurrent cell, as in the bundled Commands model: two small "
            "convolutions slide along each frame's mel bands, so a voice whose formants sit a few bands higher "
            "reads much the same. Measured from a new network on validation speakers: the Commands task, 62 "
            "against 50 % of the words heard in streams; a custom word from 8 takes, 74 against 67 % heard and "
            "half as many other words taken for it. On by default for a new network; training takes about 1.5 "
            "times as long.")
        form.addRow("Front-end:", self.spectral_check)
        size_row = QHBoxLayout()
        self.hidden_spin = QSpinBox()
        self.hidden_spin.setRange(8, 1024)
        self.hidden_spin.setSingleStep(16)
        self.hidden_spin.setValue(128)
        self.hidden_spin.setSuffix(" units")
        self.layers_spin = QSpinBox()
        self.layers_spin.setRange(1, 6)
        self.layers_spin.setValue(2)
        self.layers_spin.setSuffix(" layers")
        self.layers_spin.valueChanged.connect(
            lambda n: self.layers_spin.setSuffix(" layer" if n == 1 else " layers"))
        size_row.addWidget(self.hidden_spin)
        size_row.addWidget(self.layers_spin)
        form.addRow("Size:", size_row)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(DEFAULT_EPOCHS)
        self._suggested_epochs = DEFAULT_EPOCHS  # the spin box holds a suggestion until the user chooses
        self.epochs_spin.setToolTip(
            "Passes over the training data. A few hundred clips (your words, synthetic voices) make short "
            f"epochs: about {START_FROM_EPOCHS} are needed on a bundled model's network, {SMALL_DATA_EPOCHS} on "
            f"a new one. With Speech Commands about {DEFAULT_EPOCHS} do.")
        form.addRow("Epochs:", self.epochs_spin)
        aug_grid = QGridLayout()  # three rows: seven check boxes in one would widen the form
        aug_grid.setContentsMargins(0, 0, 0, 0)
        self.aug_noise = QCheckBox("noise")
        self.aug_noise.setToolTip("Mix background noise into training clips (0–20 dB SNR): the Noise folder, "
                                  "Speech Commands' own, else generated white/pink noise")
        self.aug_shift = QCheckBox("shift")
        self.aug_shift.setToolTip("Move clips in time by up to ±100 ms")
        self.aug_room = QCheckBox("room")
        self.aug_room.setToolTip("Synthetic reverberation and microphone tilt (half of the clips): "
                                 "rooms and microphones other than the ones recorded")
        self.aug_gain = QCheckBox("gain")
        self.aug_gain.setToolTip("Random loudness (±12 dB): near and far speakers")
        self.aug_speed = QCheckBox("speed")
        self.aug_speed.setToolTip("Play spoken clips 0.9–1.1 times as fast (pitch and pace move together): "
                                  "voices and speaking rates your recordings do not have")
        self.aug_vtlp = QCheckBox("vocal tract")
        self.aug_vtlp.setToolTip("Move the formants of spoken clips 0.9–1.1 times (pitch and pace kept): "
                                 "shorter and longer vocal tracts than the recorded ones; measured no gain "
                                 "on the bundled digits model")
        self.aug_spec = QCheckBox("SpecAugment")
        self.aug_spec.setToolTip("Mask random stretches of time and frequency")
        # AugmentConfig field -> its check box (saved in the form under augment_form_key(field))
        self.aug_checks = {"noise": self.aug_noise, "shift": self.aug_shift, "room": self.aug_room,
                           "gain": self.aug_gain, "speed": self.aug_speed, "vtlp": self.aug_vtlp,
                           "spec_augment": self.aug_spec}
        for index, (field, check) in enumerate(self.aug_checks.items()):
            check.setChecked(AUGMENT_DEFAULTS[field])
            aug_grid.addWidget(check, index // AUGMENT_COLUMNS, index % AUGMENT_COLUMNS)
        aug_grid.setColumnStretch(AUGMENT_COLUMNS, 1)
        form.addRow("Augment:", aug_grid)
        out_row = QHBoxLayout()
        self.runs_edit = QLineEdit(self.ctx.settings.runs_folder)
        self.runs_edit.setToolTip("Each training run gets its own sub-folder here (best.pt, last.pt, metrics)")
        runs_browse = QPushButton("…")
        runs_browse.setMaximumWidth(32)
        runs_browse.clicked.connect(lambda: self._browse_into(self.runs_edit))
        out_row.addWidget(self.runs_edit, 1)
        out_row.addWidget(runs_browse)
        form.addRow("Save in:", out_row)
        return box

    # ------------------------------------------------------------------------------ form state
    def _browse_into(self, edit: QLineEdit, then=None) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if path:
            edit.setText(path)
            if then is not None:
                then()

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder in Speech Commands layout")
        if path:
            self.folder_list.addItem(path)

    @property
    def other_folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def form(self) -> dict:
        return {
            "recordings": self.use_recordings.isChecked(), "recordings_folder": self.recordings_edit.text(),
            "synth": self.use_synth.isChecked(),
            # only a choice is kept: a form left at the default follows the default when it changes
            **({"synth_per_word": self.synth_spin.value()} if self.synth_spin.value() != SYNTH_VOICES_PER_WORD
               else {}),
            "speech_commands": self.use_speech_commands.isChecked(), "version": self.version_combo.currentData(),
            "folders": self.other_folders, "noise": self.noise_edit.text(),
            "negatives": self.use_negatives.isChecked(),
            "vocabulary": self.vocab_combo.currentData(), "words": self.words_edit.text(),
            "unknown": self.unknown_check.isChecked(), "silence": self.silence_check.isChecked(),
            "start_from": self.start_combo.currentData(),
            "cell": self.cell_combo.currentData(), "spectral": self.spectral_check.isChecked(),
            "hidden": self.hidden_spin.value(),
            "layers": self.layers_spin.value(), "epochs": self.epochs_spin.value(),
            **{augment_form_key(field): check.isChecked() for field, check in self.aug_checks.items()},
            "runs": self.runs_edit.text(), "form_version": FORM_VERSION,
        }

    def _restore_form(self) -> None:
        form = self.ctx.settings.train_form
        self.use_recordings.setChecked(form.get("recordings", True))
        if form.get("recordings_folder"):
            self.recordings_edit.setText(form["recordings_folder"])
        self.use_synth.setChecked(form.get("synth", True) and self._synth_engines)
        voices = form.get("synth_per_word")
        if form.get("form_version", 1) < FORM_VERSION and voices == OLD_SYNTH_VOICES_DEFAULT:
            voices = None  # saved unasked (every form is saved on quitting) when 120 was the default
        self.synth_spin.setValue(int(voices if voices is not None else SYNTH_VOICES_PER_WORD))
        self.use_speech_commands.setChecked(form.get("speech_commands", False))
        self._select(self.version_combo, form.get("version", "v2"))
        for folder in form.get("folders", []):
            self.folder_list.addItem(folder)
        self.noise_edit.setText(form.get("noise") or self._bundled_noise())
        self.use_negatives.setChecked(form.get("negatives", True))
        self._select(self.vocab_combo, form.get("vocabulary", "recorded"))
        self.words_edit.setText(form.get("words", ""))
        self.unknown_check.setChecked(form.get("unknown", True))
        self.silence_check.setChecked(form.get("silence", True))
        self._select(self.cell_combo, form.get("cell", "gru"))
        self.spectral_check.setChecked(form.get("spectral", NEW_NETWORK_SPECTRAL))
        self.hidden_spin.setValue(int(form.get("hidden", 128)))
        self.layers_spin.setValue(int(form.get("layers", 2)))
        self._select(self.start_combo, form.get("start_from", DEFAULT_START_FROM))
        self._start_changed()
        self._suggested_epochs = self.suggested_epochs()
        self.epochs_spin.setValue(int(form.get("epochs", self._suggested_epochs)))
        for field, check in self.aug_checks.items():
            check.setChecked(form.get(augment_form_key(field), AUGMENT_DEFAULTS[field]))
        if form.get("runs"):
            self.runs_edit.setText(form["runs"])

    @staticmethod
    def _bundled_noise() -> str:
        """The bundled noise folder (the Noise field's default), or "" when it is missing."""
        from speechrnn.negatives import NOISE_DIR, bundled_dir

        folder = bundled_dir(NOISE_DIR)
        return str(folder) if folder is not None else ""

    def _start_changed(self) -> None:
        """Starting from a bundled model's network fixes the cell and size: show its values, greyed."""
        name = self.start_combo.currentData()
        for widget in (self.cell_combo, self.spectral_check, self.hidden_spin, self.layers_spin):
            widget.setEnabled(not name)
        self._base = None
        if name:
            from speechrnn.errors import SpeechRNNError
            from speechrnn.training.base_network import base_network

            try:
                self._base = base_network(name, self.ctx.model.assets_dir)
            except SpeechRNNError:
                pass  # not readable: build_request says why
            else:
                self._select(self.cell_combo, self._base.model.cell)
                self.spectral_check.setChecked(bool(self._base.model.spectral_conv_channels))
                self.hidden_spin.setValue(self._base.model.hidden)
                self.layers_spin.setValue(self._base.model.layers)
        self._update_adaptation()

    def adaptation(self):
        """The network of "Start from" when the words to train are all words of its model: the run then
        adapts that model to the voices of the takes (:mod:`speechrnn.voice_adaptation`); else None."""
        from speechrnn.voice_adaptation import adapts

        if self._base is None or self.vocab_combo.currentData() not in ("recorded", "typed"):
            return None
        return self._base if adapts(self.vocabulary_words(), self._base) else None

    def _update_adaptation(self) -> None:
        """Say when the run adapts a model to a voice; its synthetic voices are then off."""
        from speechrnn.bundled import TITLES
        from speechrnn.voice_adaptation import ADAPT_EPOCHS

        base = self.adaptation()
        if base is not None:
            name = TITLES.get(self.start_combo.currentData(), base.path.name)
            self.adapt_note.setText(
                f"These are words the {name} model already knows: training adapts it to the voices of your "
                f"takes ({ADAPT_EPOCHS} epochs, the bundled other words, no synthetic voices or similar-sounding "
                "words), keeping its words and its detection threshold.")
        self.adapt_note.setVisible(base is not None)
        for widget in (self.use_synth, self.synth_spin):
            widget.setEnabled(self._synth_engines and base is None)
            if self._synth_engines:  # else the tooltip says why no voices can be rendered
                widget.setToolTip(ADAPT_SYNTH_TIP if base is not None else self._synth_tip)
        self._suggest_epochs()

    @staticmethod
    def _select(combo: QComboBox, data) -> None:
        index = combo.findData(data)
        if index >= 0:
            combo.setCurrentIndex(index)

    def _recordings_changed(self, folder: str) -> None:
        """Takes were just recorded (or deleted) in ``folder``: that is the folder to train on."""
        if folder and Path(self.recordings_edit.text()).expanduser() != Path(folder):
            self.recordings_edit.setText(folder)
        self._update_recordings()

    def _update_recordings(self) -> None:
        folder = Path(self.recordings_edit.text()).expanduser()
        from speechrnn.data.spec import SILENCE, UNKNOWN

        readable, unreadable = self.clip_checker.by_word(folder)
        by_label = {label: len(paths) for label, paths in readable.items()}
        # _unknown_ holds other speech (false alarms kept from Listen): examples to reject, not a word
        counts = {word: n for word, n in by_label.items() if word not in (SILENCE, UNKNOWN)}
        others = by_label.get(UNKNOWN, 0)
        broken = sum(len(paths) for paths in unreadable.values())
        skipped = f"; {broken} unreadable, skipped (see Record)" if broken else ""
        alone = bool(counts) and one_speaker(readable, counts)
        self.recordings_info.setToolTip(ONE_SPEAKER_TIP if alone else "")
        if counts:
            text = ", ".join(f"{word} ({n})" for word, n in counts.items())
            self.recordings_info.setText(text + (f"; other speech to reject ({others})" if others else "") + skipped
                                         + (ONE_SPEAKER_NOTE if alone else ""))
        else:
            self.recordings_info.setText("No recordings yet — record some in the Record panel." + skipped)
        self._recorded = counts
        self._update_adaptation()

    def suggested_epochs(self) -> int:
        from speechrnn.voice_adaptation import ADAPT_EPOCHS

        if self.use_speech_commands.isChecked():
            return DEFAULT_EPOCHS
        if self.adaptation() is not None:
            return ADAPT_EPOCHS
        return small_data_epochs(bool(self.start_combo.currentData()))

    def _suggest_epochs(self) -> None:
        """Follow the data's size while the epochs are the suggested ones (never override a choice)."""
        suggested = self.suggested_epochs()
        if self.epochs_spin.value() == self._suggested_epochs:
            self.epochs_spin.setValue(suggested)
        self._suggested_epochs = suggested

    def _epochs_changed(self, epochs: int) -> None:
        """Empty curve plots show the epoch axis of the run the form would start."""
        if not self.running and not self.run_view.loss_plot.series["train_loss"][1]:
            for plot in self.run_view.plots:
                plot.set_epochs(epochs)

    def _update_download_status(self) -> None:
        from speechrnn.data.download import archive_for, dataset_dir, is_complete

        version = self.version_combo.currentData()
        folder = dataset_dir(archive_for(version))
        if is_complete(folder):
            self.download_status.setText(f"downloaded ✓  ({folder})")
            self.download_button.hide()
        else:
            self.download_status.setText("not downloaded yet")
            self.download_button.setVisible(self.download_task is None)

    def _update_state(self) -> None:
        training = self.task is not None and self.task.running
        self.start_button.setEnabled(not training)
        self.cancel_button.setEnabled(training)
        vocabulary = self.vocab_combo.currentData()
        self.words_edit.setVisible(vocabulary == "typed")
        self.unknown_check.setEnabled(vocabulary != "all")
        self.silence_check.setEnabled(vocabulary != "all")

    # ------------------------------------------------------------------------------ request
    def vocabulary_words(self) -> tuple[str, ...]:
        vocabulary = self.vocab_combo.currentData()
        if vocabulary == "recorded":
            return tuple(self._recorded)
        if vocabulary == "typed":
            from speechrnn.synth import label_folder, parse_words

            text = self.words_edit.text()
            # the Record panel's rule: letters, digits, spaces, ' and - (never "../x": a word is a folder name)
            return tuple(label_folder(word) for word in parse_words(text)) if text.strip(" ,") else ()
        return ()

    def build_request(self) -> TrainRequest:
        """The form as library configs; SpeechRNNError/ValueError with a message on bad choices."""
        from speechrnn.data.augment import AugmentConfig
        from speechrnn.data.spec import DataSpec
        from speechrnn.errors import SpeechRNNError
        from speechrnn.features import FeatureConfig
        from speechrnn.model import ModelConfig, new_network_front_end
        from speechrnn.training import TrainConfig
        from speechrnn.voice_adaptation import ADAPT_CONFUSABLES, ADAPT_LR

        vocabulary = self.vocab_combo.currentData()
        if self.use_recordings.isChecked():
            self._update_recordings()  # the folder as it is now (typed, or changed on disk since)
        words = self.vocabulary_words()
        if vocabulary in ("recorded", "typed") and not words:
            raise SpeechRNNError("no words chosen: record some words first, or pick another vocabulary")
        adapting = self.adaptation() is not None  # a model's own words: speechrnn.voice_adaptation
        sources: list[str] = []
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        runs = Path(self.runs_edit.text()).expanduser()
        synth = recordings = None
        if self.use_recordings.isChecked():
            if not self._recorded:
                raise SpeechRNNError(f"{self.recordings_edit.text()}: no recordings in this folder")
            recordings = Path(self.recordings_edit.text()).expanduser()
            sources.append(str(recordings))
        if self.use_synth.isChecked() and not adapting:
            if vocabulary not in ("recorded", "typed"):
                raise SpeechRNNError("synthetic voices speak your own words: in step 2 choose “The words of my "
                                     "recordings” or “These words”")
            synth = SynthPlan.for_words(words, self.synth_spin.value(), runs / f"synth-{stamp}",
                                        unknown=self.unknown_check.isChecked())
            sources.append(str(synth.out_dir))
        if self.use_speech_commands.isChecked():
            sources.append(f"speech-commands:{self.version_combo.currentData()}")
        sources += self.other_folders
        if not sources:
            raise SpeechRNNError("choose at least one source of clips (step 1)")
        if self.noise_edit.text().strip():
            from speechrnn.data.layout import audio_files_in

            audio_files_in(Path(self.noise_edit.text().strip()))  # a missing or empty folder: say so now
        task = {"12": "12", "digits": "digits"}.get(vocabulary)
        all_words = vocabulary == "all"
        data = DataSpec(
            sources=tuple(sources),
            task=task,
            words=words if vocabulary in ("recorded", "typed") else None,
            include_unknown=None if all_words else self.unknown_check.isChecked(),
            include_silence=None if all_words else self.silence_check.isChecked(),
            noise_dirs=(self.noise_edit.text().strip(),) if self.noise_edit.text().strip() else (),
        )
        if vocabulary in ("recorded", "typed"):
            # a few own words: _silence_ and _unknown_ as large as a word, not 10 % of all words
            share = class_share_pct(len(words))
            data = replace(data, silence_pct=share, unknown_pct=share)
        negatives = None
        if self.use_negatives.isChecked() and vocabulary in ("recorded", "typed") and self.unknown_check.isChecked():
            from speechrnn.negatives import NegativesConfig, bundled_negatives_dir

            bundled_negatives_dir()  # a clear error now (with what to do) rather than in the worker
            negatives = NegativesConfig(noise=False, **({"confusables_per_word": ADAPT_CONFUSABLES} if adapting else {}))
        feature_config = FeatureConfig()
        model = ModelConfig(num_classes=2, input_dim=feature_config.feature_dim, cell=self.cell_combo.currentData(),
                            hidden=self.hidden_spin.value(), layers=self.layers_spin.value(),
                            spectral_conv_channels=new_network_front_end(feature_config) if self.spectral_check.isChecked() else 0,
                            spectral_bands=feature_config.n_mels)
        augment = AugmentConfig(**{field: check.isChecked() for field, check in self.aug_checks.items()})
        config = TrainConfig(epochs=self.epochs_spin.value(), threads=training_threads())
        if self.start_combo.currentData():
            from speechrnn.training.base_network import base_network

            base = base_network(self.start_combo.currentData(), self.ctx.model.assets_dir)
            feature_config, model = base.features, base.model_for(model)
            config = replace(config, init_from=str(base.path))
            if adapting:  # the model's words and threshold, learned again from the takes' voices
                config = replace(config, lr=ADAPT_LR, detection_threshold=base.detection_threshold)
            elif negatives is not None:  # a custom word as it was measured: on a bundled network, with other words
                config = replace(config, detection_threshold=DETECTION_THRESHOLD)
        day = dt.datetime.now().strftime("%Y%m%d")
        out_dir = unused_folder(runs / run_name(words, vocabulary, model.cell, model.layers, model.hidden, day))
        return TrainRequest(data, model, augment, config, out_dir, feature_config, synth, recordings, negatives)

    # ------------------------------------------------------------------------------ training
    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def start(self) -> None:
        if self.running:
            return
        from speechrnn.errors import SpeechRNNError

        try:
            request = self.build_request()
        except (SpeechRNNError, ValueError) as exc:
            self.ctx.notify.error.emit("Cannot start training", str(exc))
            return
        self.ctx.settings.train_form = self.form()
        self.ctx.settings.runs_folder = self.runs_edit.text()
        self.run_request(request)

    def run_request(self, request: TrainRequest) -> Task:
        """Start training ``request`` in a worker thread (tests call this with a prepared request)."""
        self._request = request
        self.result = None
        view = self.run_view
        view.begin(request.out_dir, request.data.sources, request.train.epochs)
        task = Task(request.events)
        task.stage.connect(view.show_stage)
        task.progress.connect(view.show_progress)
        task.message.connect(view.show_message)
        task.epoch.connect(view.add_epoch)
        task.succeeded.connect(self._on_finished)
        task.failed.connect(self._on_failed)
        task.cancelled.connect(view.show_cancelled)
        task.done.connect(self._update_state)
        self.task = task
        task.start()
        self._update_state()
        return task

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.run_view.show_cancelling()

    def _on_finished(self, result) -> None:
        self.result = result
        self.run_view.show_finished(result)
        self.ctx.settings.add_recent_model(result.best_path)  # in Models, Listen's and Evaluate's lists at once
        self.ctx.notify.status.emit("Training finished")

    def _on_failed(self, message: str) -> None:
        import shutil

        from speechrnn.training.config import LAST_NAME

        request = self._request
        if request is not None and request.synth is not None and not (request.out_dir / LAST_NAME).exists():
            # nothing can resume from this run: its voices' clips (several MB) would only pile up
            shutil.rmtree(request.synth.out_dir, ignore_errors=True)
        self.run_view.show_failed(message)
        self.ctx.notify.error.emit("Training failed", message)

    # ------------------------------------------------------------------------------ result
    def use_model(self) -> None:
        if self.result is None:
            return
        self.ctx.model.activate(self.result.best_path)
        self.ctx.notify.show_panel.emit("listen")

    def _evaluate_model(self) -> None:
        if self.result is None:
            return
        self.ctx.notify.show_panel.emit("evaluate")
        panel = self.window().panel("evaluate")
        panel.set_model(self.result.best_path)

    def _open_run_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.out_dir)))

    # ------------------------------------------------------------------------------ download
    def download(self) -> None:
        if self.download_task is not None:
            return
        version = self.version_combo.currentData()

        def events(token):
            from speechrnn.data.download import download

            return download(version, cancel=token)

        task = Task(events)
        task.progress.connect(self._download_progress)
        task.stage.connect(lambda stage: self.download_status.setText(stage.description or stage.name))
        task.failed.connect(lambda message: self.ctx.notify.error.emit("Download failed", message))
        task.cancelled.connect(lambda: self.ctx.notify.status.emit("Download cancelled (it resumes next time)"))
        task.succeeded.connect(lambda folder: self.ctx.notify.status.emit(f"Speech Commands is in {folder}"))
        task.done.connect(self._download_done)
        self.download_task = task
        self.download_button.hide()
        self.download_cancel.show()
        self.download_progress.setValue(0)
        self.download_progress.show()
        task.start()

    def _download_progress(self, event) -> None:
        if event.total:
            self.download_progress.setValue(int(PROGRESS_STEPS * event.done / event.total))
            if event.unit == "B":
                megabytes = f"{event.done / 1e6:,.0f} / {event.total / 1e6:,.0f} MB"
                self.download_progress.setFormat(f"{event.stage}: {megabytes}")
            else:
                self.download_progress.setFormat(f"{event.stage}: {100 * event.done / event.total:.0f} %")
        else:
            self.download_progress.setFormat(f"{event.stage}: {event.done:,.0f} {event.unit}")

    def cancel_download(self) -> None:
        if self.download_task is not None:
            self.download_task.cancel()

    def _download_done(self) -> None:
        self.download_task = None
        self.download_cancel.hide()
        self.download_progress.hide()
        self._update_download_status()

    # ------------------------------------------------------------------------------ hooks
    def busy_reason(self) -> str:
        reasons = []
        if self.running:
            reasons.append("A model is training (the last finished epoch is kept).")
        if self.download_task is not None and self.download_task.running:
            reasons.append("Speech Commands is downloading (it resumes next time).")
        return " ".join(reasons)

    def shutdown(self) -> None:
        self.ctx.settings.train_form = self.form()
        for task in (self.task, self.download_task):
            if task is not None:
                task.cancel()
                task.wait()

    def activated(self) -> None:
        self._update_recordings()

    def apply_colors(self, colors: PlotColors) -> None:
        self.run_view.apply_colors(colors)
