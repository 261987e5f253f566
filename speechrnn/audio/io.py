"""Audio files -> mono float32 at the model's rate, and atomic WAV writing.

WAV/FLAC/OGG (and MP3 where libsndfile supports it) are read with soundfile; anything soundfile
cannot read falls back to librosa (imported only then: its first call is slow). Any sample rate
and channel count becomes mono float32 at ``sample_rate_hz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speechrnn.errors import AudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
FALLBACK_CHECK_RATE_HZ = 16000  # audio_problem decodes at any rate: one that needs no resampling of most files


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """High-quality resampling of a mono float32 signal (soxr, as librosa uses)."""
    if from_hz == to_hz or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, from_hz, to_hz, quality="HQ").astype(np.float32, copy=False)


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def _read_with_librosa(path: Path) -> tuple[np.ndarray, int]:
    """The fallback decoder; its warnings (PySoundFile failed, audioread deprecated) are not the user's."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import librosa

        data, rate = librosa.load(str(path), sr=None, mono=True)
    return data.astype(np.float32), int(rate)


def _decode_problem(error: Exception) -> str:
    """soundfile's message without its "Error opening 'PATH': " prefix; its "File does not exist"
    (said of any file no decoder accepts) becomes what it means for a file that exists."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if text.startswith("Error opening "):
        text = text.split("': ", 1)[-1]
    if not text or "does not exist" in text:
        return "not a supported audio format, or the file is damaged"
    return text.rstrip(".")


def load_audio(path: str | Path, sample_rate_hz: int) -> np.ndarray:
    """Read ``path`` as mono float32 at ``sample_rate_hz``; raise :class:`AudioError` on any problem."""
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        samples, rate = _read_with_soundfile(path)
    except Exception as first_error:  # soundfile raises its own LibsndfileError / RuntimeError types
        try:
            samples, rate = _read_with_librosa(path)
        except Exception:
            raise AudioError(path, f"cannot decode audio ({_decode_problem(first_error)})") from None
    if samples.size == 0:
        raise AudioError(path, "contains no samples")
    if not np.all(np.isfinite(samples)):
        raise AudioError(path, "contains NaN or infinite samples")
    return resample(samples, rate, sample_rate_hz)


def audio_problem(path: str | Path) -> str | None:
    """What :func:`load_audio` would find wrong with ``path`` ("file is empty (0 bytes)", ...), or None
    when it reads. Cheap where soundfile knows the format: the header alone is read; a file it cannot
    open is decoded in full, with the fallback decoder, as :func:`load_audio` would."""
    import soundfile as sf

    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > 0:
            info = sf.info(str(path))
            if info.frames > 0 and info.samplerate > 0:
                return None
    except (OSError, RuntimeError, ValueError):  # soundfile's LibsndfileError is a RuntimeError
        pass
    try:
        load_audio(path, FALLBACK_CHECK_RATE_HZ)
    except AudioError as exc:
        return exc.problem
    return None


def pad_or_crop(samples: np.ndarray, length: int) -> np.ndarray:
    """Centre-crop a long clip or zero-pad a short one (evenly on both sides) to ``length``."""
    n = samples.shape[-1]
    if n == length:
        return samples
    if n > length:
        start = (n - length) // 2
        return samples[..., start : start + length]
    before = (length - n) // 2
    pad = [(0, 0)] * (samples.ndim - 1) + [(before, length - n - before)]
    return np.pad(samples, pad)


def write_wav_atomic(path: str | Path, samples: np.ndarray, sample_rate_hz: int) -> Path:
    """Write 16-bit PCM WAV via a temp file in the same folder and an atomic rename."""
    import soundfile as sf

    from speechrnn.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate_hz, subtype="PCM_16", format="WAV")
    return path
