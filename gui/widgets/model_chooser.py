"""One drop-down for choosing a model: the bundled ones, the user's recent ones, or any file.

Used by the Listen panel (the active model) and the Evaluate panel (the model to evaluate).
Bundled models are the library's (:mod:`speechrnn.bundled`): a bundled file that is not
installed is not offered. Recent models are the app's list (:class:`gui.settings.Settings`).
A path chosen elsewhere (Open…, Train's "Use this model") is shown as its own entry.
"""

from __future__ import annotations

from pathlib import Path

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QMenu, QWidget

from gui.settings import Settings
from speechrnn.bundled import TITLES, available_models, bundled_name

PATH_ROLE = Qt.ItemDataRole.UserRole
BROWSE = "__browse__"  # item data of the "Other model file…" entry
MODEL_FILTER = "speechrnn models (*.pt);;All files (*)"
MIN_CHARS = 18  # the combo shrinks to this many characters; the popup shows whole names


def model_title(path: str | Path, assets_dir: str | Path | None = None) -> str:
    """How the app names a model: "Digits" for a bundled one, "run/best.pt" or "name.pt" for a file."""
    name = bundled_name(path, assets_dir)
    if name is not None:
        return TITLES.get(name, name.capitalize())
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.name in ("best.pt", "last.pt") else path.name


def model_titles(paths: list[str | Path], assets_dir: str | Path | None = None) -> list[str]:
    """:func:`model_title` of each path, told apart where two would read alike: runs of the same
    name in different folders ("runs/lights-gru2x128-20261205/best.pt" and "runs-dark/...") gain
    folders from the path until they differ."""
    titles = [model_title(path, assets_dir) for path in paths]
    for title in set(titles):
        same = [i for i, other in enumerate(titles) if other == title]
        if len(same) < 2:
            continue
        parts = [Path(paths[i]).parts for i in same]
        depth = len(Path(title).parts) + 1  # path parts to show: one folder more than the title
        while depth < max(len(p) for p in parts) and len({p[-depth:] for p in parts}) < len(parts):
            depth += 1
        for i, path_parts in zip(same, parts):
            titles[i] = str(Path(*path_parts[-depth:])) if depth < len(path_parts) else str(paths[i])
    return titles


def fill_bundled_menu(menu: QMenu, assets_dir: str | Path | None, active: Path | None,
                      use: Callable[[str], object]) -> None:
    """``menu`` lists every bundled model installed here ("Digits", "Commands", ...), the active one
    checked; picking one calls ``use(name)``. With none installed, one disabled line says so."""
    menu.clear()
    bundled = available_models(assets_dir)
    active_file = Path(active).resolve() if active is not None else None
    for name, path in bundled.items():
        action = menu.addAction(TITLES.get(name, name.capitalize()))
        action.setCheckable(True)
        action.setChecked(path.resolve() == active_file)
        action.setToolTip(f"bundled model '{name}': {path}")
        action.setStatusTip(f"Listen with the bundled '{name}' model")
        action.setData(name)
        action.triggered.connect(lambda _=False, n=name: use(n))
    if not bundled:
        menu.addAction("(no bundled model installed)").setEnabled(False)
    menu.setToolTipsVisible(True)


class ModelChooser(QComboBox):
    """Bundled models, then recent models, then "Other model file…". ``chosen(Path)`` fires when the
    user picks one (not when the program selects one with :meth:`set_path`)."""

    chosen = Signal(object)  # Path

    def __init__(self, settings: Settings, assets_dir: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.assets_dir = assets_dir
        self._path: Path | None = None
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(MIN_CHARS)
        self.setToolTip("The model to use: a bundled one (Digits, Commands), one of your recent models, "
                        "or any model file")
        self.activated.connect(self._activated)
        self.refill()

    # ------------------------------------------------------------------------------ contents
    def refill(self) -> None:
        """Rebuild the list (bundled files and recent models may have changed); keep the selection."""
        self.blockSignals(True)
        self.clear()
        bundled = available_models(self.assets_dir)
        for name, path in bundled.items():
            self.addItem(f"{TITLES.get(name, name.capitalize())} (bundled)", str(path))
            self.setItemData(self.count() - 1, f"bundled model '{name}': {path}", Qt.ItemDataRole.ToolTipRole)
        bundled_files = {path.resolve() for path in bundled.values()}
        recent = [Path(p) for p in self.settings.recent_models]
        own = [p for p in recent if p.is_file() and p.resolve() not in bundled_files]
        if self._path is not None and self._path.resolve() not in bundled_files and self._path not in own:
            own.insert(0, self._path)  # a model chosen elsewhere, not (yet) in the recent list
        if own and self.count():
            self.insertSeparator(self.count())
        for path, title in zip(own, model_titles(own, self.assets_dir)):
            self.addItem(title, str(path))
            self.setItemData(self.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        if self.count():
            self.insertSeparator(self.count())
        self.addItem("Other model file…", BROWSE)
        self._select(self._path)
        self.blockSignals(False)

    def _select(self, path: Path | None) -> None:
        index = self.index_of(path) if path is not None else -1
        self.setCurrentIndex(index)

    def index_of(self, path: str | Path) -> int:
        target = Path(path).resolve()
        for index in range(self.count()):
            data = self.itemData(index)
            if data and data != BROWSE and Path(data).resolve() == target:
                return index
        return -1

    # ------------------------------------------------------------------------------ selection
    def path(self) -> Path | None:
        return self._path

    def set_path(self, path: str | Path | None) -> None:
        """Show ``path`` as the current model (added to the list if it is not in it); no ``chosen``."""
        self._path = Path(path) if path else None
        if self._path is not None and self.index_of(self._path) < 0:
            self.refill()
        else:
            self.blockSignals(True)
            self._select(self._path)
            self.blockSignals(False)

    def choose(self, path: str | Path) -> None:
        """Pick ``path`` as the user would (``chosen`` fires)."""
        self.set_path(path)
        self.chosen.emit(Path(path))

    def choose_title(self, title: str) -> None:
        """Pick the entry whose text starts with ``title`` as the user would (tests, screenshots)."""
        index = next(i for i in range(self.count()) if self.itemText(i).startswith(title))
        self.setCurrentIndex(index)
        self._activated(index)

    def _activated(self, index: int) -> None:
        data = self.itemData(index)
        if data == BROWSE:
            start = str(self._path.parent) if self._path is not None else self.settings.runs_folder
            file, _ = QFileDialog.getOpenFileName(self, "Choose a speechrnn model", start, MODEL_FILTER)
            if file:
                self.choose(file)
            else:
                self._select(self._path)  # cancelled: show the model in use again
            return
        if data:
            self.choose(data)

    def showPopup(self) -> None:
        self.refill()  # recent models change while the app runs
        super().showPopup()
