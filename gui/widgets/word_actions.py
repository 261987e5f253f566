"""Listen > Actions: the command each word runs when it is heard (the app's ``speechrnn listen --exec``).

A table of word -> shell command, run by the library's
:class:`~speechrnn.detection_command.DetectionCommand` (the same runner as the command line: what was
heard reaches the command in environment variables, never in its text; at most a few run at once).
"Try" runs the selected row's command as if its word had just been heard, so a user sees it work
before saying the word.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from speechrnn.detection_command import ANY_WORD, DetectionCommand

ANY_WORD_TEXT = "any other word"  # how the table shows ANY_WORD
WORD_COLUMN, COMMAND_COLUMN = 0, 1
TRY_POLL_MS = 100  # how often a tried command is checked for its end
TRY_SCORE = 1.0  # the score a tried command sees in $SPEECHRNN_SCORE
SOURCE = "Action"  # begins every line the runner reports ("Action: the command for 'yes' exited ...")
HELP_TEXT = (
    "Run a command when a word is heard, e.g. <code>notify-send \"heard $SPEECHRNN_WORD\"</code>. "
    "It runs through the shell, beside the app; <code>$SPEECHRNN_WORD</code>, <code>$SPEECHRNN_SCORE</code>, "
    "<code>$SPEECHRNN_TIME_S</code> and <code>$SPEECHRNN_MODEL</code> say what was heard. "
    "“any other word” is for the words without a command of their own. The command line does the same: "
    "<code>speechrnn listen --exec-word WORD CMD --exec CMD</code>."
)


def word_from_text(text: str) -> str:
    text = text.strip()
    return ANY_WORD if text == ANY_WORD_TEXT else text


def text_from_word(word: str) -> str:
    return ANY_WORD_TEXT if word == ANY_WORD else word


class WordActionsDialog(QDialog):
    """Edit the word -> command table; :meth:`actions` and :meth:`enabled` once accepted."""

    def __init__(self, words: Iterable[str], actions: Mapping[str, str], enabled: bool, model: str = "",
                 parent=None):
        super().__init__(parent)
        self.setWindowTitle("Actions: run a command when a word is heard")
        self.words = list(words)
        self.model = model
        self._trying: DetectionCommand | None = None
        self._failed_text = ""  # what the runner said of the tried command, if it failed
        self._poll = QTimer(self)
        self._poll.setInterval(TRY_POLL_MS)
        self._poll.timeout.connect(self._check_try)

        layout = QVBoxLayout(self)
        intro = QLabel(HELP_TEXT)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.enabled_box = QCheckBox("Run these commands when their words are heard")
        self.enabled_box.setChecked(enabled)
        layout.addWidget(self.enabled_box)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Word", "Command"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(WORD_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COMMAND_COLUMN, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        for word, command in actions.items():
            self.add_row(word, command)

        row = QHBoxLayout()
        add = QPushButton("Add")
        add.setToolTip("A new row: choose its word, type its command")
        add.clicked.connect(lambda: self.add_row(self._unused_word(), ""))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.try_button = QPushButton("Try")
        self.try_button.setToolTip("Run the selected row's command now, as if its word had been heard")
        self.try_button.clicked.connect(self.try_selected)
        for button in (add, self.remove_button, self.try_button):
            row.addWidget(button)
        self.result_label = QLabel("")
        self.result_label.setProperty("role", "muted")
        self.result_label.setWordWrap(True)
        row.addWidget(self.result_label, 1)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        if self.table.rowCount():
            self.table.selectRow(0)
        self._selection_changed()
        self.resize(640, 360)

    # ------------------------------------------------------------------------------ the table
    def add_row(self, word: str, command: str) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        chooser = QComboBox()
        chooser.setEditable(True)  # a word of another model may have its command too
        chooser.addItems([ANY_WORD_TEXT, *self.words])
        chooser.setMinimumContentsLength(max(len(text) for text in [ANY_WORD_TEXT, *self.words]))
        chooser.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        chooser.setCurrentText(text_from_word(word))
        self.table.setCellWidget(row, WORD_COLUMN, chooser)
        # a column of cell widgets is not sized to them: as wide as the widest word list
        self.table.setColumnWidth(WORD_COLUMN, max(self.table.columnWidth(WORD_COLUMN), chooser.sizeHint().width()))
        self.table.setItem(row, COMMAND_COLUMN, QTableWidgetItem(command))
        self.table.selectRow(row)
        return row

    def _unused_word(self) -> str:
        taken = {self.word_at(row) for row in range(self.table.rowCount())}
        return next((word for word in [*self.words, ANY_WORD] if word not in taken), ANY_WORD)

    def word_at(self, row: int) -> str:
        return word_from_text(self.table.cellWidget(row, WORD_COLUMN).currentText())

    def command_at(self, row: int) -> str:
        item = self.table.item(row, COMMAND_COLUMN)
        return item.text().strip() if item is not None else ""

    def set_command(self, row: int, command: str) -> None:
        self.table.item(row, COMMAND_COLUMN).setText(command)

    def set_word(self, row: int, word: str) -> None:
        self.table.cellWidget(row, WORD_COLUMN).setCurrentText(text_from_word(word))

    def _selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _selection_changed(self) -> None:
        chosen = self._selected_row() is not None
        self.remove_button.setEnabled(chosen)
        self.try_button.setEnabled(chosen)

    def remove_selected(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.table.removeRow(row)
        self._selection_changed()

    def actions(self) -> dict[str, str]:
        """The table as ``{word: command}`` (rows without a word or a command left out; a word listed
        twice: the last row wins)."""
        table = {}
        for row in range(self.table.rowCount()):
            word, command = self.word_at(row), self.command_at(row)
            if word and command:
                table[word] = command
        return table

    def enabled(self) -> bool:
        return self.enabled_box.isChecked()

    # ------------------------------------------------------------------------------ Try
    def try_selected(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        word, command = self.word_at(row), self.command_at(row)
        if not command:
            self.result_label.setText("Type a command first.")
            return
        from speechrnn.recognizer import Detection  # torch: never on the app's start-up path

        heard = self.words[0] if word == ANY_WORD and self.words else word
        self._trying = DetectionCommand(command, self.model, self._tried_badly, source=SOURCE)
        self._failed_text = ""
        if self._trying(Detection(label=heard, score=TRY_SCORE, start_s=0.0, end_s=0.0, time_s=0.0)):
            self.result_label.setText(f"Running the command as if “{heard}” was heard…")
            self._poll.start()
        else:  # it could not start (no shell)
            self.result_label.setText(self._failed_text)

    def _tried_badly(self, line: str) -> None:
        self._failed_text = line

    def _check_try(self) -> None:
        """The poll timer, started once a tried command runs: say how it ended."""
        self._trying.reap()
        if self._trying.running:
            return
        self._poll.stop()
        self.result_label.setText(self._failed_text or "The command ran and finished (exit status 0).")

    @property
    def trying(self) -> bool:
        """A tried command is still running."""
        return self._poll.isActive()

    def done(self, result: int) -> None:
        self._poll.stop()  # a tried command still running is left to finish on its own
        super().done(result)
