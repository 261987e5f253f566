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


class ModelSession(QObject):
    changed = Signal(object, object)  # Path, summary dict
    failed = Signal(str)
    loading = Signal(object)  # Path

    def __init__(self, settings: Settings, assets_dir: Path | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.assets_dir = assets_dir  # where the bundled models are (None: the library's standard places)
        self.path: Path | None = None
        self.summary: dict[str, Any] = {}

    def activate(self, path: str | Path | None) -> Task:
        """Load ``path`` (a file or a bundled model's name; None: the bundled default model) and make it
        active when valid."""
        self.loading.emit(path)
        assets_dir = self.assets_dir

        def load() -> tuple[Path, dict[str, Any]]:
            from speechrnn.bundled import resolve_model

            target = resolve_model(path, assets_dir)
            return target, read_summary(target)

        task = run_call(load)
        task.succeeded.connect(self._loaded)
        task.failed.connect(self.failed)
        return task.start()

    def _loaded(self, result: tuple[Path, dict[str, Any]]) -> None:
        path, summary = result
        self.path, self.summary = path, summary
        name = self.bundled_name
        self.settings.active_model = name or str(path)  # a bundled model by name: found again after a move
        if name is None:
            self.settings.add_recent_model(path)
        self.changed.emit(path, summary)

    @property
    def labels(self) -> list[str]:
        return list(self.summary.get("labels", []))

    @property
    def bundled_name(self) -> str | None:
        """"digits", "commands" when the active model is a bundled one, else None."""
        from speechrnn.bundled import bundled_name

        return bundled_name(self.path, self.assets_dir) if self.path is not None else None

    @property
    def display_name(self) -> str:
        if self.path is None:
            return "no model"
        name = self.bundled_name
        if name is not None:
            return f"bundled {name} model"
        from gui.widgets.model_chooser import model_title

        return model_title(self.path, self.assets_dir)
