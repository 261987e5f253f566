"""The app's one microphone, shared by the Listen and Record panels.

A thin Qt wrapper around the library's :class:`~speechrnn.audio.capture.Microphone`: it opens the
chosen device, tells the panels (signals) when it starts or becomes unavailable, and hands each
panel its own :class:`~speechrnn.audio.capture.MicReader` cursor into the same ring buffer, so
listening and recording never fight over the device. All capture code stays in the library.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, Signal

from speechrnn.audio.capture import (
    DEFAULT_SAMPLE_RATE_HZ,
    InputDevice,
    MicReader,
    Microphone,
    list_input_devices,
    refresh_devices,
)
from speechrnn.errors import DeviceError


CLI_HINT = re.compile(r"\s*\(see `speechrnn [^`]*`\)")  # the library's pointers to terminal commands


def window_message(error: str) -> str:
    """A device error as the window shows it: without pointers to terminal commands."""
    return CLI_HINT.sub("", error).strip()


class AudioInput(QObject):
    started = Signal(object)  # InputDevice
    unavailable = Signal(str)  # one-line reason
    stopped = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.mic: Microphone | None = None
        self.error: str = ""
        self.sample_rate_hz = DEFAULT_SAMPLE_RATE_HZ

    # ------------------------------------------------------------------------------ devices
    def devices(self, rescan: bool = False) -> list[InputDevice]:
        """Input devices (empty when there are none or PortAudio is missing)."""
        try:
            if rescan and self.mic is None:
                refresh_devices()
            return list_input_devices()
        except DeviceError as exc:
            self.error = window_message(str(exc))
            return []

    @property
    def device(self) -> InputDevice | None:
        return self.mic.device if self.mic is not None else None

    @property
    def running(self) -> bool:
        return self.mic is not None and self.mic.running

    # ------------------------------------------------------------------------------ control
    def open(self, spec: int | str | None = None, sample_rate_hz: int | None = None) -> bool:
        """(Re)open ``spec`` (None/"" = default input) at ``sample_rate_hz``; False (and a signal) on failure."""
        self.close(notify=False)
        if sample_rate_hz is not None:
            self.sample_rate_hz = int(sample_rate_hz)
        try:
            mic = Microphone(spec if spec not in ("", None) else None, sample_rate_hz=self.sample_rate_hz)
            mic.start()
        except DeviceError as exc:
            self.error = window_message(str(exc))
            self.unavailable.emit(self.error)
            return False
        self.mic, self.error = mic, ""
        self.started.emit(mic.device)
        return True

    def rescan_and_open(self, spec: int | str | None = None) -> bool:
        """Close, let PortAudio look for devices again (a mic plugged in since), then open."""
        self.close(notify=False)
        try:
            refresh_devices()
        except DeviceError as exc:
            self.error = window_message(str(exc))
            self.unavailable.emit(self.error)
            return False
        return self.open(spec)

    def reader(self) -> MicReader | None:
        """A new cursor at "now" into the running microphone (None when there is none)."""
        return self.mic.reader(from_now=True) if self.mic is not None else None

    def fail(self, message: str) -> None:
        """A reader found the device dead: close it and tell everyone."""
        self.close(notify=False)
        self.error = window_message(message)
        self.unavailable.emit(self.error)

    def close(self, notify: bool = True) -> None:
        if self.mic is not None:
            self.mic.stop()
            self.mic = None
            if notify:
                self.stopped.emit()
