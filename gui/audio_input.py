"""The app's one microphone, shared by the Listen and Record panels.

A thin Qt wrapper around the library's :class:`~speechrnn.audio.capture.Microphone`: it opens the
chosen device, tells the panels (signals) when it starts or becomes unavailable, and hands each
panel its own :class:`~speechrnn.audio.capture.MicReader` cursor into the same ring buffer, so
listening and recording never fight over the device. All capture code stays in the library.

A device lost while in use (unplugged, or its sound server restarted) is
reopened on its own, every :data:`~speechrnn.audio.capture.RETRY_DELAY_S`, as ``speechrnn listen``
does: a listener left running picks up again once the microphone is back.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, QTimer, Signal

from gui.playback import playing
from speechrnn.audio.capture import (
    DEFAULT_SAMPLE_RATE_HZ,
    RETRY_DELAY_S,
    InputDevice,
    MicReader,
    Microphone,
    list_input_devices,
    native_stderr_silenced,
    refresh_devices,
    rescan_due,
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
        self.spec: int | str | None = None  # the device last asked for (None: the default input)
        self.attempts = 0  # attempts to reopen a lost device so far
        self._rescan_wanted = False  # a rescan is due (put off while a clip plays)
        self._stuck = False  # a dead device's stream could not be closed: no rescans (they would hang)
        self.reconnect_timer = QTimer(self)
        self.reconnect_timer.setInterval(round(RETRY_DELAY_S * 1000))
        self.reconnect_timer.timeout.connect(self._try_reconnect)

    # ------------------------------------------------------------------------------ devices
    def devices(self, rescan: bool = False) -> list[InputDevice]:
        """Input devices (empty when there are none or PortAudio is missing)."""
        try:
            if rescan and self.mic is None and not self._stuck:
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

    @property
    def reconnecting(self) -> bool:
        """A device was lost while in use and is being reopened on its own."""
        return self.reconnect_timer.isActive()

    # ------------------------------------------------------------------------------ control
    def open(self, spec: int | str | None = None, sample_rate_hz: int | None = None) -> bool:
        """(Re)open ``spec`` (None/"" = default input) at ``sample_rate_hz``; False (and a signal) on failure."""
        self.close(notify=False)
        if sample_rate_hz is not None:
            self.sample_rate_hz = int(sample_rate_hz)
        self.spec = spec if spec not in ("", None) else None
        mic = self._open_device()
        if mic is None:
            self.unavailable.emit(self.error)
            return False
        self._use(mic)
        return True

    def _open_device(self) -> Microphone | None:
        """:attr:`spec` opened and started, or None (and :attr:`error` says why)."""
        try:
            mic = Microphone(self.spec, sample_rate_hz=self.sample_rate_hz)
            mic.start()
        except DeviceError as exc:
            self.error = window_message(str(exc))
            return None
        return mic

    def _use(self, mic: Microphone) -> None:
        """``mic`` is the microphone now: no more reconnecting, and everyone is told."""
        self.reconnect_timer.stop()
        self.mic, self.error = mic, ""
        self.started.emit(mic.device)

    def rescan_and_open(self, spec: int | str | None = None) -> bool:
        """Close, let PortAudio look for devices again (a mic plugged in since), then open."""
        self.close(notify=False)
        try:
            if not self._stuck:
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
        """A reader found the device dead: close it, tell everyone, and try to reopen it meanwhile."""
        self.close(notify=False)
        self.error = window_message(message)
        self.attempts, self._rescan_wanted = 0, False
        self.reconnect_timer.start()
        self.unavailable.emit(self.error)

    def _try_reconnect(self) -> None:
        """The reconnect timer: the same device again, then (now and then: :func:`rescan_due`) after
        a rescan for one plugged in anew."""
        if self.mic is not None:
            self.reconnect_timer.stop()
            return
        self.attempts += 1
        self._rescan_wanted = self._rescan_wanted or rescan_due(self.attempts)
        with native_stderr_silenced():  # the audio libraries' lines for each attempt: seen once already
            mic = self._open_device()
            # no rescan while a clip plays (it would cut it) or a dead stream is still closing (it would hang)
            if mic is None and self._rescan_wanted and not self._stuck and not playing():
                self._rescan_wanted = False
                try:
                    refresh_devices()
                    mic = self._open_device()
                except DeviceError as exc:
                    self.error = window_message(str(exc))
        if mic is not None:  # outside the silenced block: the panels' reactions may print
            self._use(mic)

    def close(self, notify: bool = True) -> None:
        if self.mic is not None:
            self.mic.stop()
            self._stuck = self._stuck or self.mic.stuck
            self.mic = None
            if notify:
                self.stopped.emit()

    def shut_down(self) -> None:
        """The app is closing: no more attempts to reconnect, and the device closed."""
        self.reconnect_timer.stop()
        self.close(notify=False)
