"""Play a clip on the default output device (non-blocking) for review buttons.

Files are read with the library's :func:`~speechrnn.audio.io.load_audio`; sounddevice plays them.
No output device is a one-line message for the status bar, not an exception.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speechrnn.audio.io import load_audio
from speechrnn.errors import SpeechRNNError

PLAYBACK_RATE_HZ = 16000  # files are played at the models' rate; every device resamples that


def play_samples(samples: np.ndarray, sample_rate_hz: int) -> str:
    """Start playing ``samples``; return "" on success, else a one-line reason."""
    try:
        import sounddevice as sd

        sd.stop()
        sd.play(np.asarray(samples, dtype=np.float32), int(sample_rate_hz))
    except OSError as exc:  # PortAudio library missing
        return f"cannot play audio: {exc}"
    except Exception as exc:  # sounddevice.PortAudioError and friends: no or busy output device
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"cannot play audio ({text}): is an output device connected?"
    return ""


def play_file(path: str | Path) -> str:
    """Play an audio file; "" on success, else a one-line reason (unreadable file, no device)."""
    try:
        samples = load_audio(path, PLAYBACK_RATE_HZ)
    except SpeechRNNError as exc:
        return str(exc)
    return play_samples(samples, PLAYBACK_RATE_HZ)


def playing() -> bool:
    """A clip is being played (by :func:`play_samples`)."""
    try:
        import sounddevice as sd

        stream = sd.get_stream()
    except Exception:  # nothing was ever played, or there is no audio library
        return False
    return bool(stream.active)


def stop_playback() -> None:
    try:
        import sounddevice as sd

        sd.stop()
    except Exception:  # nothing is playing or there is no audio library: nothing to stop
        pass


def clip_seconds(path: str | Path, fallback_s: float = 1.0) -> float:
    """How long a clip plays (from its header; ``fallback_s`` when the header cannot tell)."""
    try:
        import soundfile

        return float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError):  # LibsndfileError: a format it cannot read (MP3 on old libsndfile)
        return fallback_s
