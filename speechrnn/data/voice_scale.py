"""Voice-scaled copies of real clips: each clip read as if it had been recorded ``scale`` times as
fast, so that pitch, formants and pace move together (a shorter or longer vocal tract, as the
speed perturbation of Ko et al., 2015), written as training clips of new speakers
``<speaker>-vs<scale %>``. The digits recipe trains on such copies of its real clips
(``Recipe.real_voice_scales``); ``bench.custom_word --take-copies`` measured them on a custom
word's takes (docs/custom-words.md: not adopted).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from speechrnn.events import CancelToken, EventStream, Progress

PERCENT = 100


def copy_name(speaker: str, scale: float, stem: str) -> str:
    """The file name of ``scale``'s copy of clip ``stem`` by ``speaker``: a speaker of its own."""
    return f"{speaker}-vs{round(PERCENT * scale)}_nohash_{stem}.wav"


def write_copies(clips: Iterable, scales: tuple[float, ...], out: Path, rate_hz: int, stage: str,
                 cancel: CancelToken | None = None) -> EventStream:
    """Write ``scales`` copies of each of ``clips`` (layout ``Clip``\\ s) into ``out/<label>/`` at
    ``rate_hz``; one ``Progress(stage)`` per clip."""
    from speechrnn.audio.io import load_audio, resample, write_wav_atomic

    clips = list(clips)
    for done, clip in enumerate(clips):
        if cancel is not None:
            cancel.check()
        samples = load_audio(clip.path, rate_hz)
        for scale in scales:
            # read as if recorded at rate * scale: pitch and formants times `scale`
            scaled = resample(samples, round(rate_hz * scale), rate_hz)
            write_wav_atomic(out / clip.label / copy_name(clip.speaker, scale, clip.path.stem), scaled, rate_hz)
        yield Progress(stage, done + 1, len(clips), unit="clips")
