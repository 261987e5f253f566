"""Microphone capture: ring buffer, device choice and errors (fake PortAudio), live virtual mic."""

from __future__ import annotations

import importlib.abc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from speechrnn.audio.capture import (
    Microphone,
    RingBuffer,
    find_device,
    list_input_devices,
    native_stderr_silenced,
    open_microphone,
    rescan_due,
)
from speechrnn.errors import DeviceError


# ---------------------------------------------------------------------------------- ring buffer
def test_ring_wraps_and_readers_keep_their_own_cursors():
    ring = RingBuffer(10)
    ring.write(np.arange(7, dtype=np.float32))
    first, cursor_a = ring.read(0)
    assert first.tolist() == list(range(7)) and cursor_a == 7
    ring.write(np.arange(7, 13, dtype=np.float32))  # wraps around the end
    a, cursor_a = ring.read(cursor_a)
    assert a.tolist() == list(range(7, 13)) and cursor_a == 13
    b, cursor_b = ring.read(5)  # a second reader, further behind, unaffected by the first
    assert b.tolist() == list(range(5, 13)) and cursor_b == 13
    assert ring.latest(4).tolist() == [9, 10, 11, 12]
    assert ring.write_index == 13
    assert ring.overruns == 0


def test_ring_counts_a_reader_that_fell_behind():
    ring = RingBuffer(8)
    ring.write(np.arange(20, dtype=np.float32))
    items, cursor = ring.read(3)
    assert items.tolist() == list(range(12, 20))  # the oldest still held, never overwritten data
    assert cursor == 20
    assert ring.overruns == 1 and ring.lost_items == 9


def test_ring_block_larger_than_capacity_keeps_the_newest():
    ring = RingBuffer(5)
    ring.write(np.arange(3, dtype=np.float32))
    ring.write(np.arange(100, 112, dtype=np.float32))
    assert ring.write_index == 15
    assert ring.latest(5).tolist() == [107, 108, 109, 110, 111]
    assert ring.read(10)[0].tolist() == [107, 108, 109, 110, 111]


def test_ring_rows_and_max_items():
    ring = RingBuffer(4, (3,))
    ring.write(np.arange(18, dtype=np.float32).reshape(6, 3))
    rows, cursor = ring.read(2, max_items=1)
    assert rows.shape == (1, 3) and rows[0].tolist() == [6, 7, 8] and cursor == 3
    assert ring.latest(10).shape == (4, 3)


def test_ring_concurrent_writer_and_reader_see_every_sample_in_order():
    ring = RingBuffer(4096)
    total = 200_000
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 700, size=2000)

    def writer():
        position = 0
        for size in sizes:
            size = min(int(size), total - position)
            if size <= 0:
                break
            ring.write(np.arange(position, position + size, dtype=np.float32))
            position += size
            if position % 7 == 0:
                time.sleep(0)

    thread = threading.Thread(target=writer)
    thread.start()
    received, cursor = [], 0
    while cursor < total and (thread.is_alive() or cursor < ring.write_index):
        part, cursor = ring.read(cursor, max_items=1000)
        received.append(part)
    thread.join()
    part, cursor = ring.read(cursor)
    received.append(part)
    data = np.concatenate(received)
    if ring.overruns == 0:
        assert np.array_equal(data, np.arange(data.size, dtype=np.float32))
    else:  # the reader was starved on a busy machine: what it got is still in order
        assert np.all(np.diff(data) > 0)


# --------------------------------------------------------------------------- fake PortAudio
class FakeStatus:
    def __init__(self, overflow: bool):
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


def make_fake_sounddevice(devices, default_input=0, native_rate=48000, frequency_hz=440.0, open_error=None,
                          abort_blocks: threading.Event | None = None):
    """A stand-in for the sounddevice module: devices from a list, a stream that calls back with a sine."""
    module = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    module.PortAudioError = PortAudioError
    module.default = types.SimpleNamespace(device=[default_input, -1])
    module.query_devices = lambda: [dict(d, index=i) for i, d in enumerate(devices)]
    module.query_hostapis = lambda: [{"name": "FakeAPI"}]

    def check_input_settings(device=None, channels=None, dtype=None, samplerate=None):
        if samplerate != native_rate:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    module.check_input_settings = check_input_settings

    class InputStream:
        def __init__(self, device, samplerate, channels, dtype, blocksize, callback, finished_callback):
            if open_error:
                raise PortAudioError(open_error)
            self.rate, self.block, self.callback = samplerate, blocksize, callback
            self.finished_callback = finished_callback
            self.active = False
            self._thread = None
            self.position = 0

        def _run(self):
            blocks = 0
            while self.active:
                t = (self.position + np.arange(self.block)) / self.rate
                block = (0.5 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)[:, None]
                self.callback(block, self.block, None, FakeStatus(blocks == 3))
                self.position += self.block
                blocks += 1
                time.sleep(0.001)

        def start(self):
            self.active = True
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

        def abort(self, ignore_errors=True):
            if abort_blocks is not None:  # as PortAudio on a dead sound server: until the test lets go
                abort_blocks.wait()
            self.active = False
            if self._thread:
                self._thread.join()

        def close(self, ignore_errors=True):
            pass

    module.InputStream = InputStream
    module.rescans = 0
    module._terminate = lambda: None

    def initialize():
        module.rescans += 1

    module._initialize = initialize
    module._exit_handler = lambda: None
    return module


DEVICES = [
    {"name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "hostapi": 0, "max_input_channels": 2,
     "max_output_channels": 2, "default_samplerate": 48000.0},
    {"name": "HDMI output", "hostapi": 0, "max_input_channels": 0, "max_output_channels": 8,
     "default_samplerate": 48000.0},
    {"name": "USB Audio Device: Mic (hw:1,0)", "hostapi": 0, "max_input_channels": 1,
     "max_output_channels": 0, "default_samplerate": 44100.0},
]


@pytest.fixture
def fake_sd(monkeypatch):
    def install(**kwargs):
        module = make_fake_sounddevice(kwargs.pop("devices", DEVICES), **kwargs)
        monkeypatch.setitem(sys.modules, "sounddevice", module)
        return module

    return install


def test_devices_are_listed_and_chosen_by_index_or_name(fake_sd):
    fake_sd()
    devices = list_input_devices()
    assert [d.index for d in devices] == [0, 2]  # the output-only device is not an input
    assert devices[0].is_default and not devices[1].is_default
    assert find_device(None).index == 0
    assert find_device(2).name.startswith("USB")
    assert find_device("2").name.startswith("USB")
    assert find_device("usb").index == 2  # case-insensitive name part
    with pytest.raises(DeviceError, match="no input device matches 'bluetooth'"):
        find_device("bluetooth")
    with pytest.raises(DeviceError, match="no input device with index 1"):
        find_device(1)
    with pytest.raises(DeviceError, match="matches several input devices"):
        find_device("hw:")


def test_no_input_device_is_a_clear_error(fake_sd):
    fake_sd(devices=[DEVICES[1]], default_input=-1)
    assert list_input_devices() == []
    with pytest.raises(DeviceError, match="no audio input device found"):
        Microphone()


def test_busy_device_is_a_clear_error_and_retry_gives_up_when_told(fake_sd):
    fake_sd(open_error="Device unavailable [PaErrorCode -9985]")
    with pytest.raises(DeviceError, match="cannot open input device 0 .*Device unavailable.*another program"):
        Microphone().start()
    errors = []
    with pytest.raises(DeviceError):
        open_microphone(lambda: Microphone(), attempts=2, delay_s=0.01, on_error=errors.append)
    assert len(errors) == 1  # the first failure was reported, the second raised


def test_retries_keep_the_audio_libraries_quiet_after_the_first_attempt(capfd):
    """ALSA and PortAudio write their diagnostics straight to file descriptor 2 on every failed
    open: the first attempt's are shown, the retries' (every 2 s while a microphone is away) are not."""
    def make():
        os.write(2, b"ALSA lib pulse.c: Connection refused\n")  # as the C libraries write it
        raise DeviceError("no audio input device found")

    errors = []
    with pytest.raises(DeviceError):
        open_microphone(make, attempts=4, delay_s=0.01, on_error=errors.append)
    assert len(errors) == 3
    assert capfd.readouterr().err.count("Connection refused") == 1
    with native_stderr_silenced():
        os.write(2, b"hidden\n")
    os.write(2, b"shown again\n")
    assert capfd.readouterr().err == "shown again\n"


def test_rescans_thin_out_as_a_device_stays_away():
    """Each PortAudio rescan keeps a few KiB of ALSA's: before every attempt soon after a loss (a
    device plugged in again at once is found at once), then every 10 s, then once a minute; not
    before each of a day's 43,200 attempts (one every 2 s)."""
    assert [attempt for attempt in range(0, 21) if rescan_due(attempt)] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20]
    assert [attempt for attempt in range(140, 241) if rescan_due(attempt)] == [140, 145, 150, 180, 210, 240]
    assert sum(rescan_due(attempt) for attempt in range(1, 43_201)) < 1_500
    opened = []

    def make():
        opened.append(1)
        raise DeviceError("no audio input device found")

    with pytest.raises(DeviceError):
        open_microphone(make, attempts=10, delay_s=0.0)
    assert len(opened) == 10


def test_a_stream_portaudio_cannot_close_is_left_closing_and_no_rescan_waits_on_it(fake_sd, monkeypatch):
    """Closing a dead device's stream can block for ever inside PortAudio: the listener gives it
    STOP_TIMEOUT_S, goes on, and from then on reopens devices without rescans (which would block)."""
    import speechrnn.audio.capture as capture

    monkeypatch.setattr(capture, "STOP_TIMEOUT_S", 0.2)
    release = threading.Event()
    module = fake_sd(abort_blocks=release)
    mic = Microphone().start()
    started = time.monotonic()
    mic.stop()
    assert time.monotonic() - started < 2.0 and mic.stuck
    tries = []

    def make():
        tries.append(1)
        if len(tries) < 3:
            raise DeviceError("no audio input device found")
        return Microphone()

    again = open_microphone(make, delay_s=0.0, rescan=not mic.stuck)
    assert again.running and len(tries) == 3 and module.rescans == 0
    release.set()
    again.stop()
    assert not again.stuck
    open_microphone(lambda: Microphone(), delay_s=0.0).stop()


class _RaiseOSErrorOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_missing_portaudio_library_is_a_device_error(monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_RaiseOSErrorOnImport(), *sys.meta_path])
    with pytest.raises(DeviceError, match="cannot load the PortAudio library.*libportaudio2"):
        list_input_devices()


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def test_device_rate_is_resampled_to_16k_and_overflows_counted(fake_sd):
    fake_sd(native_rate=48000, frequency_hz=440.0)
    with Microphone(sample_rate_hz=16000, block_ms=10) as mic:
        assert mic.capture_rate_hz == 48000  # the device cannot do 16 kHz: opened at its own rate
        reader = mic.reader()
        audio = reader.read_at_least(16000, timeout_s=20)
    assert mic.overflows == 1  # the fake flagged one block
    assert abs(_dominant_frequency(audio[4000:16000], 16000) - 440.0) < 3.0
    steady = audio[4000:16000]
    assert 0.3 < np.sqrt(np.mean(steady**2)) * np.sqrt(2) < 0.6  # amplitude 0.5 survives resampling
    assert mic._stream is None  # the context manager stopped it


def test_a_stalled_device_raises_instead_of_hanging(fake_sd):
    module = fake_sd(native_rate=16000)
    mic = Microphone(stall_s=0.3).start()
    try:
        reader = mic.reader()
        reader.read_at_least(800, timeout_s=10)
        mic._stream.active = False  # the device went away: no more callbacks
        mic._stream._thread.join()
        with pytest.raises(DeviceError, match="stopped|no audio"):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                reader.read()
                time.sleep(0.05)
    finally:
        mic.stop()
    assert module is sys.modules["sounddevice"]


# ------------------------------------------------------------------------- live virtual mic
LIVE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from speechrnn.audio.capture import Microphone, list_input_devices
    devices = [d.name for d in list_input_devices()]
    with Microphone(sample_rate_hz=16000, capture_rate_hz=48000) as mic:
        reader = mic.reader()
        print("ready", flush=True)
        audio = reader.read_at_least(16000 * 3, timeout_s=20)
    print(json.dumps({"devices": devices, "rate": mic.capture_rate_hz, "audio": audio.tolist()}))
    """
)


@pytest.mark.audio
def test_live_48k_capture_of_a_played_sine_is_resampled(virtual_mic, tmp_path):
    from speechrnn.audio.io import write_wav_atomic

    from virtual_mic import Watched

    rate = 16000
    t = np.arange(int(1.5 * rate)) / rate
    wav = write_wav_atomic(tmp_path / "sine.wav", 0.4 * np.sin(2 * np.pi * 1000.0 * t), rate)
    watched = Watched([sys.executable, "-c", LIVE_SCRIPT], env={**os.environ, **virtual_mic.env()})
    assert watched.wait_for("ready", 60), watched.output()
    virtual_mic.play(wav)
    assert watched.finish(60) == 0, watched.output()
    result = json.loads(watched.stdout[-1])
    assert result["rate"] == 48000
    assert any("pulse" in name or "default" in name for name in result["devices"])
    audio = np.array(result["audio"], dtype=np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.2)
    assert loud[-1] - loud[0] > rate  # the sine arrived (about 1.5 s of it)
    segment = audio[loud[0] + 1000 : loud[0] + 1000 + rate // 2]
    assert abs(_dominant_frequency(segment, rate) - 1000.0) < 5.0


@pytest.mark.audio
def test_devices_command_lists_the_virtual_microphone(virtual_mic):
    result = subprocess.run([sys.executable, "-m", "speechrnn", "devices"], env={**os.environ, **virtual_mic.env()},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "default" in result.stdout and "*" in result.stdout


def _has_sound_card() -> bool:
    cards = Path("/proc/asound/cards")
    return cards.exists() and "no soundcards" not in cards.read_text()


@pytest.mark.skipif(_has_sound_card(), reason="this machine has a sound card, so there is an input device")
def test_listen_without_any_input_device_is_one_line_error(tmp_path, random_model):
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/no-such-socket"}
    result = subprocess.run([sys.executable, "-m", "speechrnn", "listen", str(random_model), "--duration", "1"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no audio input device found" in result.stderr
    assert "Traceback" not in result.stderr
