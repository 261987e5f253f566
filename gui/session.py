"""The active model, shared by every panel.

``ModelSession.activate(path)`` reads the checkpoint in a worker thread (torch is imported there,
off the start-up path) and, if it is a valid speechrnn checkpoint, makes it the active model:
``changed(path, summary)`` fires and the Listen panel builds its recognizer from it. A bad file
fires ``failed(message)`` and the previous model stays active.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from gui.settings import Settings
from gui.worker import Task, run_call


def read_summary(path: Path) -> dict[str, Any]:
    """The checkpoint's description (labels, configs, metrics, data) without its tensors."""
    from speechrnn.checkpoint import load_checkpoint

    return load_checkpoint(path).summary()


def bundled_model_path() -> Path:
    """The default digits model shipped in ``assets/`` (the library decides where it lives)."""
    from speechrnn.recognizer import default_model_path

    return Path(default_model_path())


class ModelSession(QObject):
    changed = Signal(object, object)  # Path, summary dict
    failed = Signal(str)
    loading = Signal(object)  # Path

    def __init__(self, settings: Settings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.path: Path | None = None
        self.summary: dict[str, Any] = {}

    def activate(self, path: str | Path | None) -> Task:
        """Load ``path`` (None: the bundled default model) and make it active when valid."""
        self.loading.emit(path)

        def load() -> tuple[Path, dict[str, Any]]:
            target = Path(path) if path is not None else bundled_model_path()
            return target, read_summary(target)

        task = run_call(load)
        task.succeeded.connect(self._loaded)
        task.failed.connect(self.failed)
        return task.start()

    def _loaded(self, result: tuple[Path, dict[str, Any]]) -> None:
        path, summary = result
        self.path, self.summary = path, summary
        self.settings.active_model = str(path)
        self.settings.add_recent_model(path)
        self.changed.emit(path, summary)

    @property
    def labels(self) -> list[str]:
        return list(self.summary.get("labels", []))

    @property
    def display_name(self) -> str:
        if self.path is None:
            return "no model"
        if self.path.resolve() == bundled_model_path().resolve():
            return "bundled digits model"
        name = self.path.name
        return f"{self.path.parent.name}/{name}" if name in ("best.pt", "last.pt") else name
