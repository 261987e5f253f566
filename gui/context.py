"""What every panel shares: settings, the active model, the microphone, the palette."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from gui.audio_input import AudioInput
from gui.session import ModelSession
from gui.settings import Settings
from gui.theme import PlotColors


class Notifier(QObject):
    """App-wide notices: a status-bar line, a message box, the palette, panel switches."""

    status = Signal(str)  # a short status-bar message
    error = Signal(str, str)  # title, one-line message -> message box
    colors_changed = Signal(object)  # PlotColors
    show_panel = Signal(str)  # panel key
    recordings_changed = Signal(str)  # dataset folder whose clips changed (Record -> Train)
    recording = Signal(bool)  # the Record panel started (True) / ended (False) a recording session


@dataclass
class AppContext:
    settings: Settings
    model: ModelSession
    audio: AudioInput
    notify: Notifier
    colors: PlotColors
    input_device: str | None = None  # --device from the command line (overrides the remembered one)
