"""Microphone capture without Qt or torch: a PortAudio stream feeding a ring buffer.

The audio callback (PortAudio's thread) only copies each block into a preallocated
:class:`RingBuffer` and counts input overflows, nothing else: no allocation-heavy work, no
logging, no torch, no Qt (Friture's rule). Readers - the recognizer, a level meter, a recorder -
each keep their own cursor into the ring (a :class:`MicReader`), poll it on their own schedule
and resample the device's rate (44.1 / 48 kHz are common) to the model's rate on their side.

``sounddevice`` is imported lazily: importing it initialises PortAudio, which lists the devices
once (so a virtual or hot-plugged device must exist before the first import), and it raises
``OSError`` when the PortAudio library is missing. Every PortAudio problem - no input device,
a busy or unplugged one, a missing library - becomes a one-line :class:`DeviceError`.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from speechrnn.errors import DeviceError
from speechrnn.events import CancelToken

DEFAULT_SAMPLE_RATE_HZ = 16000  # the models' rate
DEFAULT_BLOCK_MS = 40.0  # PortAudio block: short enough for low latency, long enough to be cheap
DEFAULT_BUFFER_S = 30.0  # ring capacity: a reader may fall this far behind before losing audio
DEFAULT_STALL_S = 3.0  # no new samples for this long while "running" = the device went away
RETRY_DELAY_S = 2.0  # wait between attempts to (re)open a device
# A PortAudio rescan (terminate + initialise) keeps ~12 KiB of ALSA's each time (measured: 200
# rescans with the sound server down), a failed open nothing: a device away for a day, rescanned
# before every attempt, would cost ~500 MiB. So rescans thin out as an outage goes on (attempts are
# RETRY_DELAY_S apart): before each of the first attempts (16 s: a device plugged in again at once, a
# sound server restarting), then every 10 s up to 5 minutes, then once a minute (~17 MiB a day).
RESCAN_ALWAYS_ATTEMPTS = 8
RESCAN_SOON_EVERY_ATTEMPTS, RESCAN_SOON_UNTIL_ATTEMPT = 5, 150
RESCAN_LATER_EVERY_ATTEMPTS = 30
POLL_S = 0.01  # sleep between polls of a blocking read
# Closing a stream whose device died can block for ever inside PortAudio (its ALSA callback thread
# stuck on a sound server that went away: seen about once in four when the virtual microphone's
# server is stopped mid-stream). Closing is given this long on a helper thread; after that the
# stream is left to it and the listener goes on.
STOP_TIMEOUT_S = 2.0


# ----------------------------------------------------------------------------------- ring buffer
class RingBuffer:
    """Preallocated float32 ring with an absolute write index; thread-safe.

    ``write`` appends items (samples, or rows of shape ``item_shape``); the absolute index of the
    next item to be written only grows. Each reader keeps its own cursor (an absolute index) and
    calls ``read(cursor) -> (items, new_cursor)``. A reader that fell more than ``capacity``
    behind gets the oldest items still held, and the loss is counted (``overruns``,
    ``lost_items``) instead of silently returning overwritten data.
    """

    def __init__(self, capacity: int, item_shape: tuple[int, ...] = ()):
        if capacity < 1:
            raise ValueError("ring capacity must be positive")
        self.capacity = int(capacity)
        self.item_shape = tuple(item_shape)
        self._data = np.zeros((self.capacity, *self.item_shape), dtype=np.float32)
        self._write_index = 0
        self._lock = threading.Lock()
        self.overruns = 0  # reads that found their cursor overwritten
        self.lost_items = 0  # items those readers never saw

    @property
    def write_index(self) -> int:
        """Absolute index of the next item to be written (= items written so far)."""
        return self._write_index

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (shape ``(n, *item_shape)``); only its last ``capacity`` items are kept."""
        n = len(block)
        if n == 0:
            return
        with self._lock:
            skipped = max(0, n - self.capacity)  # items overwritten within this very block
            if skipped:
                block, n = block[skipped:], self.capacity
            start = (self._write_index + skipped) % self.capacity
            first = min(n, self.capacity - start)
            self._data[start : start + first] = block[:first]
            if first < n:
                self._data[: n - first] = block[first:]
            self._write_index += skipped + n

    def read(self, cursor: int, max_items: int | None = None) -> tuple[np.ndarray, int]:
        """Items from absolute index ``cursor`` up to now (at most ``max_items``): ``(items, new_cursor)``."""
        with self._lock:
            end = self._write_index
            oldest = max(0, end - self.capacity)
            if cursor < oldest:
                self.overruns += 1
                self.lost_items += oldest - cursor
                cursor = oldest
            cursor = min(cursor, end)
            if max_items is not None:
                end = min(end, cursor + max_items)
            return self._copy(cursor, end), end

    def latest(self, count: int) -> np.ndarray:
        """The last ``count`` items written (fewer at the start), oldest first; a copy."""
        with self._lock:
            end = self._write_index
            start = max(0, end - min(count, self.capacity))
            return self._copy(start, end)

    def span(self, start: int, end: int) -> np.ndarray:
        """Items ``[start, end)`` by absolute index, as far as they are still held; oldest first; a copy."""
        with self._lock:
            start = max(start, self._write_index - self.capacity, 0)
            end = min(end, self._write_index)
            return self._copy(start, max(start, end))

    def _copy(self, start: int, end: int) -> np.ndarray:
        n = end - start
        first = start % self.capacity
        if first + n <= self.capacity:
            return self._data[first : first + n].copy()
        return np.concatenate([self._data[first:], self._data[: n - (self.capacity - first)]])


# ------------------------------------------------------------------------------------ devices
@dataclass(frozen=True)
class InputDevice:
    """An audio input as PortAudio reports it."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    default_sample_rate_hz: float
    is_default: bool

    def describe(self) -> str:
        mark = "*" if self.is_default else " "
        return (
            f"{mark} {self.index:3d}  {self.name}  ({self.host_api}, {self.max_input_channels} ch, "
            f"{self.default_sample_rate_hz:g} Hz)"
        )


def _sounddevice():
    """Import sounddevice, turning a missing PortAudio library into a :class:`DeviceError`."""
    try:
        import sounddevice
    except OSError as exc:
        raise DeviceError(
            f"cannot load the PortAudio library ({exc}); install it, e.g. `sudo apt-get install libportaudio2`"
        ) from None
    return sounddevice


def _close_stream(stream) -> None:
    try:
        stream.abort(ignore_errors=True)  # abort: stop() can wait on a dead device
        stream.close(ignore_errors=True)
    except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel (empty list when there is none)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_input = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices ({_first_line(exc)})") from None
    if default_input is None or (isinstance(default_input, int) and default_input < 0):
        default_input = -1
    result = []
    for info in devices:
        if info["max_input_channels"] < 1:
            continue
        result.append(
            InputDevice(
                index=int(info["index"]),
                name=str(info["name"]),
                host_api=str(apis[info["hostapi"]]["name"]),
                max_input_channels=int(info["max_input_channels"]),
                default_sample_rate_hz=float(info["default_samplerate"]),
                is_default=int(info["index"]) == default_input,
            )
        )
    return result


def find_device(spec: int | str | None = None) -> InputDevice:
    """The input device meant by ``spec``: None = the default input, an index, or a name substring."""
    devices = list_input_devices()
    if not devices:
        raise DeviceError("no audio input device found; connect a microphone (see `speechrnn devices`)")
    if spec is None or spec == "":
        return next((d for d in devices if d.is_default), devices[0])
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        for device in devices:
            if device.index == index:
                return device
        raise DeviceError(f"no input device with index {index} (see `speechrnn devices`)")
    wanted = spec.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0]
    matches = [d for d in devices if wanted in d.name.lower()]
    if not matches:
        raise DeviceError(f"no input device matches {spec!r} (see `speechrnn devices`)")
    if len(matches) > 1:
        names = ", ".join(f"{d.index}: {d.name}" for d in matches)
        raise DeviceError(f"{spec!r} matches several input devices ({names}); give the index instead")
    return matches[0]


def refresh_devices() -> None:
    """Make PortAudio scan the devices again (after a device was plugged in). No stream may be open."""
    sd = _sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except (sd.PortAudioError, AttributeError):
        pass  # best effort: an older sounddevice without these helpers keeps its device list


# --------------------------------------------------------------------------------- microphone
class Microphone:
    """A running input stream whose callback copies blocks into ``ring`` (device rate, mono).

    ``Microphone(device=None | index | "name part", sample_rate_hz=16000)``; ``start()`` /
    ``stop()`` or ``with Microphone() as mic:``. Read through ``mic.reader()``, which returns
    audio resampled to ``sample_rate_hz``. The device is opened at ``sample_rate_hz`` when it
    supports that, else at its default rate (``capture_rate_hz`` forces a rate).
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
        block_ms: float = DEFAULT_BLOCK_MS,
        buffer_s: float = DEFAULT_BUFFER_S,
        capture_rate_hz: int | None = None,
        stall_s: float = DEFAULT_STALL_S,
    ):
        self.device = find_device(device)
        self.sample_rate_hz = int(sample_rate_hz)
        self.capture_rate_hz = int(capture_rate_hz or self._choose_rate())
        self.block_samples = max(1, round(self.capture_rate_hz * block_ms / 1000))
        self.ring = RingBuffer(round(self.capture_rate_hz * buffer_s))
        self.stall_s = float(stall_s)
        self.overflows = 0  # blocks PortAudio flagged as input overflow (audio dropped by the device)
        # a stream of this microphone could not be closed (stop): PortAudio must not be terminated
        # (a device rescan) while it is, or the rescan would wait on it for ever
        self.stuck = False
        self._stream = None
        self._finished = False
        self._last_index = 0
        self._last_change = time.monotonic()

    # -------------------------------------------------------------------------------- opening
    def _choose_rate(self) -> int:
        sd = _sounddevice()
        try:
            sd.check_input_settings(device=self.device.index, channels=1, dtype="float32",
                                    samplerate=self.sample_rate_hz)
            return self.sample_rate_hz
        except (sd.PortAudioError, ValueError):
            return int(round(self.device.default_sample_rate_hz))

    def start(self) -> "Microphone":
        """Open and start the stream; :class:`DeviceError` if the device is busy or gone."""
        if self._stream is not None:
            return self
        sd = _sounddevice()
        try:
            stream = sd.InputStream(
                device=self.device.index,
                samplerate=self.capture_rate_hz,
                channels=1,
                dtype="float32",
                blocksize=self.block_samples,
                callback=self._callback,
                finished_callback=self._on_finished,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(
                f"cannot open input device {self.device.index} ({self.device.name}): {_first_line(exc)} "
                "- is it unplugged or used by another program?"
            ) from None
        self._stream = stream
        self._finished = False
        self._last_index = self.ring.write_index
        self._last_change = time.monotonic()
        return self

    def stop(self) -> None:
        """Stop and close the stream (idempotent; never raises, never blocks for more than
        :data:`STOP_TIMEOUT_S`: a stream PortAudio cannot close is left closing, and :attr:`stuck`)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        closing = threading.Thread(target=_close_stream, args=(stream,), name="close-dead-stream", daemon=True)
        closing.start()
        closing.join(STOP_TIMEOUT_S)
        if closing.is_alive():
            self.stuck = True
            # PortAudio's termination at exit would wait on that stream too: the OS frees it instead
            atexit.unregister(getattr(_sounddevice(), "_exit_handler", lambda: None))

    close = stop

    def __enter__(self) -> "Microphone":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------- PortAudio's thread
    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ARG002
        if status and status.input_overflow:
            self.overflows += 1
        self.ring.write(indata[:, 0])

    def _on_finished(self) -> None:
        self._finished = True

    # ----------------------------------------------------------------------------- readers
    @property
    def running(self) -> bool:
        return self._stream is not None and not self._finished

    def check(self) -> None:
        """Raise :class:`DeviceError` if the stream died or has delivered nothing for ``stall_s``."""
        if self._stream is None:
            raise DeviceError(f"input device {self.device.name} is not started")
        now = time.monotonic()
        index = self.ring.write_index
        if index != self._last_index:
            self._last_index, self._last_change = index, now
            return
        if self._finished or not self._stream.active:
            raise DeviceError(f"input device {self.device.name} stopped (unplugged?)")
        if now - self._last_change > self.stall_s:
            raise DeviceError(
                f"no audio from input device {self.device.name} for {self.stall_s:g} s (unplugged or stalled?)"
            )

    def reader(self, from_now: bool = True) -> "MicReader":
        """A new reader at the current position (or at the oldest audio held)."""
        return MicReader(self, from_now=from_now)


class MicReader:
    """One consumer's cursor into a :class:`Microphone`, resampling to ``mic.sample_rate_hz``.

    ``read()`` returns every new sample since the last call (float32, mono, model rate);
    ``read_at_least(n, timeout_s)`` blocks (polling) until ``n`` samples are there.
    """

    def __init__(self, mic: Microphone, from_now: bool = True):
        self.mic = mic
        ring = mic.ring
        self.cursor = ring.write_index if from_now else max(0, ring.write_index - ring.capacity)
        self.samples_read = 0  # output samples returned so far
        self._resampler = None
        if mic.capture_rate_hz != mic.sample_rate_hz:
            import soxr

            self._resampler = soxr.ResampleStream(mic.capture_rate_hz, mic.sample_rate_hz, 1, dtype="float32")

    def read(self) -> np.ndarray:
        """New samples at the model rate (possibly none); :class:`DeviceError` if the device died."""
        raw, self.cursor = self.mic.ring.read(self.cursor)
        if raw.size == 0:
            self.mic.check()
        if self._resampler is not None:
            raw = self._resampler.resample_chunk(raw)
        self.samples_read += raw.size
        return raw

    def read_at_least(self, count: int, timeout_s: float, cancel: CancelToken | None = None) -> np.ndarray:
        """Block until ``count`` new samples arrived; DeviceError after ``timeout_s`` without them."""
        parts: list[np.ndarray] = []
        have = 0
        deadline = time.monotonic() + timeout_s
        while have < count:
            if cancel is not None:
                cancel.check()
            part = self.read()
            if part.size:
                parts.append(part)
                have += part.size
                continue
            if time.monotonic() > deadline:
                raise DeviceError(f"input device {self.mic.device.name} delivered no audio for {timeout_s:g} s")
            time.sleep(POLL_S)
        return np.concatenate(parts)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what C libraries write to the process's stderr (file descriptor 2) to /dev/null.

    ALSA and PortAudio print a dozen diagnostic lines straight to fd 2 on every failed open; the
    first failure's are worth seeing, but a loop retrying every :data:`RETRY_DELAY_S` for an hour
    would bury the terminal under them. Python's own ``sys.stderr`` writes the same descriptor,
    so keep the block to the native calls. Where fd 2 cannot be duplicated, nothing changes.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 (a windowed app) or no sys.stderr
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def rescan_due(attempt: int) -> bool:
    """Whether failed attempt number ``attempt`` (from 1) to reopen a device that went away is
    followed by a rescan of the devices (see :data:`RESCAN_ALWAYS_ATTEMPTS`)."""
    if attempt <= RESCAN_ALWAYS_ATTEMPTS:
        return attempt >= 1
    if attempt <= RESCAN_SOON_UNTIL_ATTEMPT:
        return attempt % RESCAN_SOON_EVERY_ATTEMPTS == 0
    return attempt % RESCAN_LATER_EVERY_ATTEMPTS == 0


def open_microphone(
    make: Callable[[], Microphone],
    attempts: int | None = None,
    delay_s: float = RETRY_DELAY_S,
    cancel: CancelToken | None = None,
    on_error: Callable[[DeviceError], None] | None = None,
    rescan: bool = True,
) -> Microphone:
    """Open and start ``make()``, retrying on :class:`DeviceError` (long runs survive a replug).

    ``attempts=None`` retries until it works or ``cancel`` is set (then :class:`Cancelled`);
    ``on_error`` sees each failure (to print "waiting for the microphone..."). Device lists are
    refreshed between attempts (fewer as an outage goes on: :func:`rescan_due`) so a newly plugged
    device is found (``rescan=False``: never, after a :attr:`Microphone.stuck` stream). The audio
    libraries' own diagnostics are shown for the first attempt only (:func:`native_stderr_silenced`).
    """
    tries = 0
    while True:
        tries += 1
        try:
            if tries == 1:
                return make().start()
            with native_stderr_silenced():
                return make().start()
        except DeviceError as exc:
            if attempts is not None and tries >= attempts:
                raise
            if on_error is not None:
                on_error(exc)
        deadline = time.monotonic() + delay_s
        while time.monotonic() < deadline:
            if cancel is not None:
                cancel.check()
            time.sleep(POLL_S * 10)
        if rescan and rescan_due(tries):
            with native_stderr_silenced():
                refresh_devices()
