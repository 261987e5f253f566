"""Typed access to the app's persistent settings (QSettings).

Every key the app stores is a property here, so the names and types live in one place and tests
can point QSettings at a temporary folder (see ``tests/gui/conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

ORGANIZATION = "speechrnn"
APPLICATION = "speechrnn-gui"
MAX_RECENT_MODELS = 8  # entries kept in File > Recent models
DEFAULT_SPEAKER = "me"


def app_data_dir() -> Path:
    """Where the app keeps the user's recordings and training runs by default."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) if base else Path.home() / ".local" / "share" / APPLICATION


class Settings:
    """The app's settings; reads and writes go straight to QSettings (no cache to get stale)."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    # ---------------------------------------------------------------------------- helpers
    def _str(self, key: str, default: str = "") -> str:
        value = self.store.value(key, default)
        return default if value is None else str(value)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.store.value(key, default))
        except (TypeError, ValueError):
            return default

    def _optional_float(self, key: str) -> float | None:
        value = self.store.value(key, None)
        try:
            return None if value in (None, "") else float(value)
        except (TypeError, ValueError):
            return None

    def _json(self, key: str, default):
        raw = self.store.value(key, "")
        if not raw:
            return default
        try:
            return json.loads(str(raw))
        except ValueError:
            return default

    def _set(self, key: str, value) -> None:
        self.store.setValue(key, value)
        self.store.sync()

    # ---------------------------------------------------------------------------- audio
    @property
    def input_device(self) -> str:
        """Name of the remembered microphone ("" = system default)."""
        return self._str("audio/input_device")

    @input_device.setter
    def input_device(self, name: str) -> None:
        self._set("audio/input_device", name)

    @property
    def threshold(self) -> float | None:
        """Detection threshold chosen with the sensitivity control (None = the recognizer's default)."""
        return self._optional_float("listen/threshold")

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._set("listen/threshold", float(value))

    @property
    def min_prominence_db(self) -> float | None:
        """How far a word must stand above the room's level, chosen in Listen (None = the default)."""
        return self._optional_float("listen/min_prominence_db")

    @min_prominence_db.setter
    def min_prominence_db(self, value: float) -> None:
        self._set("listen/min_prominence_db", float(value))

    @property
    def word_actions(self) -> dict[str, str]:
        """Listen > Actions: the shell command each word runs when heard ("*": the other words)."""
        value = self._json("listen/actions", {})
        return {str(word): str(command) for word, command in value.items()} if isinstance(value, dict) else {}

    @word_actions.setter
    def word_actions(self, table: dict[str, str]) -> None:
        self._set("listen/actions", json.dumps(table))

    @property
    def actions_enabled(self) -> bool:
        """Whether Listen runs the word actions (they are kept when switched off)."""
        return self._json("listen/actions_enabled", True) is True

    @actions_enabled.setter
    def actions_enabled(self, on: bool) -> None:
        self._set("listen/actions_enabled", json.dumps(bool(on)))

    # ---------------------------------------------------------------------------- models
    @property
    def active_model(self) -> str:
        return self._str("models/active")

    @active_model.setter
    def active_model(self, path: str) -> None:
        self._set("models/active", path)

    @property
    def recent_models(self) -> list[str]:
        value = self._json("models/recent", [])
        return [str(p) for p in value] if isinstance(value, list) else []

    def add_recent_model(self, path: str | Path) -> list[str]:
        path = str(Path(path).resolve())
        recent = [path] + [p for p in self.recent_models if p != path]
        recent = recent[:MAX_RECENT_MODELS]
        self._set("models/recent", json.dumps(recent))
        return recent

    def remove_recent_model(self, path: str) -> None:
        self._set("models/recent", json.dumps([p for p in self.recent_models if p != path]))

    # ---------------------------------------------------------------------------- appearance
    @property
    def theme(self) -> str:
        return self._str("ui/theme", "system")

    @theme.setter
    def theme(self, mode: str) -> None:
        self._set("ui/theme", mode)

    @property
    def window_geometry(self) -> QByteArray | None:
        value = self.store.value("ui/geometry", None)
        return value if isinstance(value, QByteArray) else None

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self._set("ui/geometry", value)

    @property
    def last_panel(self) -> str:
        return self._str("ui/panel", "listen")

    @last_panel.setter
    def last_panel(self, key: str) -> None:
        self._set("ui/panel", key)

    # ---------------------------------------------------------------------------- recording
    @property
    def record_folder(self) -> str:
        return self._str("record/folder", str(app_data_dir() / "recordings"))

    @record_folder.setter
    def record_folder(self, path: str) -> None:
        self._set("record/folder", path)

    @property
    def speaker(self) -> str:
        return self._str("record/speaker", DEFAULT_SPEAKER) or DEFAULT_SPEAKER

    @speaker.setter
    def speaker(self, name: str) -> None:
        self._set("record/speaker", name)

    @property
    def record_words(self) -> str:
        return self._str("record/words", "")

    @record_words.setter
    def record_words(self, words: str) -> None:
        self._set("record/words", words)

    # ---------------------------------------------------------------------------- training
    @property
    def train_form(self) -> dict:
        """The Train panel's last choices (restored when the panel opens)."""
        value = self._json("train/form", {})
        return value if isinstance(value, dict) else {}

    @train_form.setter
    def train_form(self, form: dict) -> None:
        self._set("train/form", json.dumps(form))

    @property
    def runs_folder(self) -> str:
        return self._str("train/runs_folder", str(app_data_dir() / "runs"))

    @runs_folder.setter
    def runs_folder(self, path: str) -> None:
        self._set("train/runs_folder", path)

    @property
    def eval_folder(self) -> str:
        return self._str("evaluate/folder", "")

    @eval_folder.setter
    def eval_folder(self, path: str) -> None:
        self._set("evaluate/folder", path)
