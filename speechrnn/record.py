"""Recording your own words: find the spoken part, fit it to a 1 s clip, save it atomically.

Pure DSP (unit-tested, no devices): :func:`frame_levels_db` (RMS level per short frame),
:func:`speech_bounds` (where the loudest stretch of speech is, from those levels),
:func:`trim_to_speech` and :func:`process_take` (trim, pad to the clip length, sanity checks).
Files: :func:`next_take_path` / :func:`save_take` write ``ROOT/<word>/<speaker>_nohash_<n>.wav``
(the Speech Commands layout) through a temp file and a rename, so an interrupted session keeps
every take already saved. :class:`RecordingSession` collects a take from a
:class:`~speechrnn.audio.capture.Microphone`, blocking (CLI) or polled (GUI).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechrnn.audio.io import pad_or_crop, write_wav_atomic
from speechrnn.errors import SpeechRNNError
from speechrnn.events import CancelToken

SILENCE_DB = -100.0  # level reported for digital silence (RMS 0)
MIN_RMS = 1e-5  # RMS floor before taking the log (= SILENCE_DB)
NOHASH = "_nohash_"  # Speech Commands: speaker id, this marker, take number
SAFE_NAME = re.compile(r"[^A-Za-z0-9.-]+")  # speaker ids: no "_" (the layout splits on "_nohash_")
TAKE_NUMBER = re.compile(r"_nohash_(\d+)$")
CLIP_MARGIN_S = 0.25  # a take is recorded this much longer than the clip, the word is cut out of it
WORD_TOO_LONG_MS = 1000.0  # speech longer than the clip is cropped (and reported)
CLIPPING_LEVEL = 0.99  # |sample| at or above this counts as clipped
HEARD_SPEAKER = "heard"  # speaker id of words kept from listening (save_heard)


@dataclass(frozen=True)
class TrimConfig:
    """How speech is told from background by energy alone (works for clean and noisy takes)."""

    frame_ms: float = 10.0  # level frame
    floor_percentile: float = 10.0  # the background level = this percentile of frame levels
    min_snr_db: float = 10.0  # peak must stand this far above the background to count as speech
    dynamic_range_db: float = 35.0  # frames within this of the peak may be speech ...
    above_floor_db: float = 8.0  # ... and must stand this far above the background
    max_gap_ms: float = 250.0  # pauses shorter than this stay inside the word ("six", "eight")
    pad_ms: float = 60.0  # context kept before and after the detected speech
    min_speech_ms: float = 60.0  # shorter bursts (clicks) are not speech


def frame_levels_db(samples: np.ndarray, frame_samples: int) -> np.ndarray:
    """RMS level in dBFS of consecutive non-overlapping frames (a trailing partial frame is dropped)."""
    count = samples.size // frame_samples
    frames = np.asarray(samples[: count * frame_samples], dtype=np.float64).reshape(count, frame_samples)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    return (20.0 * np.log10(np.maximum(rms, MIN_RMS))).astype(np.float32)


def speech_bounds(levels_db: np.ndarray, frame_ms: float, config: TrimConfig = TrimConfig()) -> tuple[int, int] | None:
    """``(first, end)`` frame indices of the loudest stretch of speech, or None if there is none.

    Frames loud enough (near the peak and clearly above the background) are grouped, bridging
    pauses up to ``max_gap_ms``; the group holding the loudest frame is the word. No padding here.
    """
    if levels_db.size == 0:
        return None
    floor = float(np.percentile(levels_db, config.floor_percentile))
    peak_index = int(np.argmax(levels_db))
    peak = float(levels_db[peak_index])
    if peak - floor < config.min_snr_db:
        return None
    threshold = max(peak - config.dynamic_range_db, floor + config.above_floor_db)
    loud = np.flatnonzero(levels_db >= threshold)
    max_gap = max(1, round(config.max_gap_ms / frame_ms))
    # split the loud frames into groups wherever the gap between neighbours is too long
    breaks = np.flatnonzero(np.diff(loud) > max_gap)
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]]) + 1
    group = int(np.searchsorted(starts, peak_index, side="right") - 1)
    first, end = int(starts[group]), int(ends[group])
    if (end - first) * frame_ms < config.min_speech_ms:
        return None
    return first, end


def trim_to_speech(
    samples: np.ndarray, sample_rate_hz: int, config: TrimConfig = TrimConfig()
) -> tuple[np.ndarray, int, int]:
    """Cut ``samples`` to the spoken part (plus ``pad_ms``): ``(trimmed, start, end)`` in samples.

    When no speech stands out of the background, ``trimmed`` is empty and ``start == end == 0``.
    """
    frame = max(1, round(sample_rate_hz * config.frame_ms / 1000))
    bounds = speech_bounds(frame_levels_db(samples, frame), config.frame_ms, config)
    if bounds is None:
        return samples[:0].astype(np.float32), 0, 0
    pad = round(sample_rate_hz * config.pad_ms / 1000)
    start = max(0, bounds[0] * frame - pad)
    end = min(samples.size, bounds[1] * frame + pad)
    return np.asarray(samples[start:end], dtype=np.float32), start, end


# -------------------------------------------------------------------------------------- takes
@dataclass(frozen=True)
class Take:
    """A processed recording: ``clip`` is exactly one clip long, ``speech`` marks the word in ``raw``."""

    raw: np.ndarray
    clip: np.ndarray
    speech_start: int  # samples into raw (0, 0 when no speech was found)
    speech_end: int
    sample_rate_hz: int
    problems: tuple[str, ...]  # reasons to redo the take ("no speech heard", "clipped", ...)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def speech_ms(self) -> float:
        return 1000.0 * (self.speech_end - self.speech_start) / self.sample_rate_hz


def process_take(
    raw: np.ndarray, sample_rate_hz: int, clip_samples: int, config: TrimConfig = TrimConfig()
) -> Take:
    """Trim ``raw`` to the word and pad (or centre-crop) it to ``clip_samples``; list any problems."""
    trimmed, start, end = trim_to_speech(raw, sample_rate_hz, config)
    problems = []
    if end <= start:
        problems.append("no speech heard (too quiet?)")
        clip = np.zeros(clip_samples, dtype=np.float32)
    else:
        speech_ms = 1000.0 * (end - start) / sample_rate_hz
        if speech_ms > WORD_TOO_LONG_MS + 2 * config.pad_ms:
            problems.append(f"speech lasts {speech_ms:.0f} ms, longer than the clip: cropped")
        clip = pad_or_crop(trimmed, clip_samples).astype(np.float32)
    if raw.size and float(np.max(np.abs(raw))) >= CLIPPING_LEVEL:
        problems.append("clipped (too loud): move away from the microphone")
    return Take(raw=raw, clip=clip, speech_start=start, speech_end=end, sample_rate_hz=sample_rate_hz,
                problems=tuple(problems))


def safe_speaker(name: str) -> str:
    """A speaker id usable in ``<speaker>_nohash_<n>.wav`` (letters, digits, ``.``, ``-``)."""
    cleaned = SAFE_NAME.sub("-", name.strip()).strip("-.")
    if not cleaned:
        raise SpeechRNNError(f"speaker name {name!r} has no letters or digits")
    return cleaned


def next_take_path(root: str | Path, word: str, speaker: str) -> Path:
    """``root/<word>/<speaker>_nohash_<n>.wav`` with ``n`` one above the speaker's highest take."""
    speaker = safe_speaker(speaker)
    folder = Path(root) / word
    highest = -1
    if folder.is_dir():
        for path in folder.glob(f"{speaker}{NOHASH}*.wav"):
            match = TAKE_NUMBER.search(path.stem)
            if match and path.stem[: match.start()] == speaker:
                highest = max(highest, int(match.group(1)))
    return folder / f"{speaker}{NOHASH}{highest + 1}.wav"


def _check_word_folder(word: str) -> None:
    if not word or word.startswith(("_", ".")) or "/" in word or "\\" in word:
        raise SpeechRNNError(f"{word!r} cannot be a word folder name")


def save_take(root: str | Path, word: str, speaker: str, clip: np.ndarray, sample_rate_hz: int) -> Path:
    """Write ``clip`` as the speaker's next take of ``word`` (atomic: temp file, then rename)."""
    _check_word_folder(word)
    return write_wav_atomic(next_take_path(root, word, speaker), clip, sample_rate_hz)


def save_heard(root: str | Path, label: str, audio: np.ndarray, sample_rate_hz: int, clip_samples: int,
               speaker: str = HEARD_SPEAKER) -> Path:
    """Keep what a detection heard (:meth:`~speechrnn.recognizer.Recognizer.heard_audio`) as a clip of
    ``label``: a word (it was right) or ``_unknown_`` (a false alarm: other speech the model must learn
    to reject). Written as ``root/<label>/heard_nohash_<n>.wav``, trimmed to the speech and fitted to
    the clip as a take is, so ``root`` trains as it is (``speechrnn train --data root``)."""
    from speechrnn.data.spec import UNKNOWN

    if label != UNKNOWN:
        _check_word_folder(label)
    audio = np.asarray(audio, dtype=np.float32)
    take = process_take(audio, sample_rate_hz, clip_samples)
    clip = take.clip if take.speech_end > take.speech_start else pad_or_crop(audio, clip_samples)
    return write_wav_atomic(next_take_path(root, label, speaker), clip, sample_rate_hz)


# ---------------------------------------------------------------------------------- recording
class RecordingSession:
    """Collect ``duration_s`` of audio from a started microphone.

    GUI: call :meth:`poll` from a timer (returns the fraction done, never blocks) until
    :attr:`done`, then take :meth:`audio`. CLI: :meth:`record` blocks until done.
    """

    def __init__(self, mic, duration_s: float):
        self.mic = mic
        self.sample_rate_hz = mic.sample_rate_hz
        self.total_samples = round(duration_s * self.sample_rate_hz)
        self._reader = mic.reader(from_now=True)
        self._parts: list[np.ndarray] = []
        self._have = 0

    @property
    def done(self) -> bool:
        return self._have >= self.total_samples

    @property
    def level_db(self) -> float:
        """Level of the newest 10 ms collected, in dBFS (for a meter)."""
        if not self._parts:
            return SILENCE_DB
        tail = self._parts[-1][-self.sample_rate_hz // 100 :]
        return float(20.0 * np.log10(max(float(np.sqrt(np.mean(np.square(tail)))), MIN_RMS)))

    def poll(self) -> float:
        """Fetch what has arrived (raises DeviceError if the device died); fraction done."""
        if not self.done:
            part = self._reader.read()
            if part.size:
                self._parts.append(part)
                self._have += part.size
        return min(1.0, self._have / self.total_samples)

    def record(self, cancel: CancelToken | None = None, poll_s: float = 0.02) -> np.ndarray:
        """Block until the whole duration is recorded; return it."""
        while not self.done:  # a dead or stalled device raises DeviceError from poll()
            if cancel is not None:
                cancel.check()
            self.poll()
            time.sleep(poll_s)
        return self.audio()

    def audio(self) -> np.ndarray:
        """The recorded samples (exactly ``total_samples`` once done)."""
        if not self._parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._parts)[: self.total_samples]
