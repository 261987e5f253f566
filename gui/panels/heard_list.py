"""The Listen panel's list of detections: newest first, what each one heard, to play or keep.

Each row is one :class:`~speechrnn.recognizer.Detection` (time, word, peak score) with the audio the
recognizer heard for it. Right-click a row to play that audio, or to keep it in the recordings folder
(the Record panel's) as a take of its word or as other speech (``_unknown_``): examples for the next
training on that folder. A line marks where the model changed; the list holds the last
:data:`MAX_HISTORY_ITEMS` detections, so a listener left running for days keeps a bounded list.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem

from gui.context import AppContext

MAX_HISTORY_ITEMS = 200  # detections kept in the list
MIN_HEIGHT_PX = 60
SEPARATOR_ROLE = Qt.ItemDataRole.UserRole  # marks the "— now: MODEL —" rows
HEARD_ROLE = Qt.ItemDataRole.UserRole + 1  # a detection row's key into HeardList.heard (its audio)
COLUMNS = ("Time", "Word", "Score")
HINT = "Words heard are listed here (right-click to keep)"


def word_text(label: str) -> str:
    return label.replace("_", " ").strip() if not label.startswith("_") else label


def detection_tip(detection) -> str:
    """A detection row's tooltip: where in the stream the word was."""
    return (f"spoken {detection.start_s:.2f}–{detection.end_s:.2f} s into the stream, "
            f"detected at {detection.time_s:.2f} s")


class HeardList(QTreeWidget):
    """Detections, newest first; each row keeps what was heard (its audio) while it is listed."""

    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        # what each listed detection heard, to play or keep: key -> (detection, audio, rate_hz, clip_samples)
        self.heard: dict[int, tuple] = {}
        self._kept: dict[int, Path] = {}  # key -> where it was kept (kept again, the last choice wins)
        self._keys = 0
        self.hint_shown = False
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Words recognized so far, newest first (stream time in each row's tooltip). "
                        "Right-click a word to play what was heard, or keep it in your recordings "
                        "folder: as a take of the word, or as other speech the model must learn to reject")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.setMinimumHeight(MIN_HEIGHT_PX)
        self._show_hint()

    def _show_hint(self) -> None:
        item = QTreeWidgetItem([HINT])
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.addTopLevelItem(item)
        item.setFirstColumnSpanned(True)
        self.hint_shown = True

    def clear_all(self) -> None:
        """Empty the list (and forget what its rows heard); the hint shows again."""
        self.clear()
        self.heard.clear()
        self._kept.clear()
        self._show_hint()

    def mark_model_switch(self, name: str) -> None:
        """Detections of the previous model stay listed, below a line naming the new model."""
        if self.hint_shown or self.topLevelItemCount() == 0:
            return
        top = self.topLevelItem(0)
        if top.data(0, SEPARATOR_ROLE):
            self.takeTopLevelItem(0)  # two switches without a word between: one line is enough
        item = QTreeWidgetItem([f"— now: {name} —"])
        item.setData(0, SEPARATOR_ROLE, True)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        item.setTextAlignment(0, Qt.AlignmentFlag.AlignCenter)
        item.setToolTip(0, f"Detections below were made by the previous model; from here on: {name}")
        self.insertTopLevelItem(0, item)
        item.setFirstColumnSpanned(True)

    def add(self, detection, clock: str, heard: tuple | None, action: str = "") -> QTreeWidgetItem:
        """List ``detection`` at the top, seen at ``clock``; ``heard`` is (audio, rate_hz, clip_samples) or
        None, ``action`` the command its word ran ("": none)."""
        if self.hint_shown:
            self.clear()
            self.hint_shown = False
        item = QTreeWidgetItem([clock, word_text(detection.label), f"{detection.score:.2f}"])
        item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tip = detection_tip(detection)
        if action:
            item.setText(1, f"{word_text(detection.label)}  ▸")  # its action ran
            tip += f"\nAction: ran “{action}”"
        for index in range(len(COLUMNS)):
            item.setToolTip(index, tip)
        if heard is not None:
            self._keys += 1
            self.heard[self._keys] = (detection, *heard)
            item.setData(0, HEARD_ROLE, self._keys)
        self.insertTopLevelItem(0, item)
        while self.topLevelItemCount() > MAX_HISTORY_ITEMS:
            dropped = self.takeTopLevelItem(self.topLevelItemCount() - 1)
            self.heard.pop(dropped.data(0, HEARD_ROLE), None)
            self._kept.pop(dropped.data(0, HEARD_ROLE), None)
        return item

    # ------------------------------------------------------------------ what a detection heard
    def heard_menu(self, item: QTreeWidgetItem) -> QMenu | None:
        """The right-click menu of a detection row (None for the hint and separator rows)."""
        if item is None or item.data(0, HEARD_ROLE) not in self.heard:
            return None
        word = word_text(self.heard[item.data(0, HEARD_ROLE)][0].label)
        menu = QMenu(self)
        menu.addAction("▶ Play what was heard", lambda: self.play_heard(item))
        menu.addSeparator()
        menu.addAction(f"Right: keep as a take of “{word}”", lambda: self.keep_heard(item, correct=True))
        menu.addAction(f"Wrong: keep as other speech (not “{word}”)", lambda: self.keep_heard(item, correct=False))
        return menu

    def _show_menu(self, position) -> None:
        menu = self.heard_menu(self.itemAt(position))
        if menu is not None:
            menu.exec(self.viewport().mapToGlobal(position))

    def play_heard(self, item: QTreeWidgetItem) -> str:
        """Play a listed detection's audio; "" or the one-line reason it cannot play (also on the status bar)."""
        from gui.playback import play_samples

        _detection, audio, rate, _clip = self.heard[item.data(0, HEARD_ROLE)]
        problem = play_samples(audio, rate)
        self.ctx.notify.status.emit(problem or f"Playing what was heard ({audio.size / rate:.1f} s)")
        return problem

    def keep_heard(self, item: QTreeWidgetItem, correct: bool) -> Path | None:
        """Save a listed detection's audio into the recordings folder (the Record panel's): as a take of
        its word, or (``correct`` False) as ``_unknown_``, other speech to reject: examples for the next
        training on that folder. Kept again (the other way), the last choice replaces the first. The
        path, or None on an error."""
        from speechrnn.data.spec import UNKNOWN
        from speechrnn.errors import SpeechRNNError
        from speechrnn.record import save_heard

        key = item.data(0, HEARD_ROLE)
        detection, audio, rate, clip = self.heard[key]
        folder = Path(self.ctx.settings.record_folder).expanduser()
        label = detection.label if correct else UNKNOWN
        try:
            path = save_heard(folder, label, audio, rate, clip)
        except SpeechRNNError as exc:
            self.ctx.notify.error.emit("Cannot keep the word", str(exc))
            return None
        previous = self._kept.get(key)
        if previous is not None and previous != path:
            previous.unlink(missing_ok=True)
        self._kept[key] = path
        word = word_text(detection.label)
        kept = f"kept as a take of {word}" if correct else "kept as other speech"
        item.setText(1, f"{word}  ✓ kept" if correct else f"{word}  ✗ other speech")
        for index in range(len(COLUMNS)):
            item.setToolTip(index, f"{detection_tip(detection)}; {kept}: {path}")
        self.ctx.notify.status.emit(f"{kept.capitalize()}: {path} (train on {folder} to use it)")
        self.ctx.notify.recordings_changed.emit(str(folder))
        return path
