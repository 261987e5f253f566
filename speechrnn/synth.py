"""Synthetic voices for custom words: every local TTS engine and voice, in the dataset layout.

A user who wants a model for a new word ("lights on") rarely has more than a few recordings of
it. As openWakeWord does, we widen the range of speakers with text-to-speech: each word is
rendered by every voice of every engine found on this machine (espeak-ng with each of its voice
variants, flite with each of its voices), at a seeded random speed, pitch and voice size, then
resampled to 16 kHz mono, trimmed to the spoken part, padded to the clip length and written as
``OUT/<word>/<voice-id>_nohash_<take>.wav`` -- so each voice is one "speaker" of the
speaker-disjoint split and the folder trains like any recorded one.

Rendering is deterministic: a clip depends only on (seed, word, voice, take), never on which
other voices or words were rendered with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechrnn.audio.io import pad_or_crop, resample, write_wav_atomic
from speechrnn.errors import SpeechRNNError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Progress, Stage
from speechrnn.record import trim_to_speech

ESPEAK = "espeak-ng"
FLITE = "flite"
ENGINES = (ESPEAK, FLITE)
INSTALL_HINT = "sudo apt-get install espeak-ng flite"  # Debian/Ubuntu package names

ESPEAK_DEFAULT_WPM = 175  # espeak-ng's default speaking rate (words per minute)
ESPEAK_DEFAULT_PITCH = 50  # espeak-ng's pitch scale is 0..99, 50 = the voice's normal pitch
ESPEAK_PITCH_MAX = 99
# flite voices that only speak a limited domain (awb_time says clock times) are useless for words.
FLITE_LIMITED_DOMAIN_SUFFIX = "_time"
# flite ships some voices twice (kal at 8 kHz and kal16 at 16 kHz): keep the 16 kHz one only.
FLITE_WIDEBAND_SUFFIX = "16"
PROBE_TEXT = "test"  # what a voice must be able to say to be listed
ENGINE_TIMEOUT_S = 30.0  # one word never takes a TTS engine this long; a hang is an error
SILENT_PEAK = 1e-4  # a rendered clip whose peak stays below this is empty (failed synthesis)
MIN_CLIP_MS = 100  # the shortest clip that can hold a spoken word (a short "no" lasts about 200 ms)
FLITE_LANGUAGE = "en"  # every flite voice speaks English only


@dataclass(frozen=True)
class Voice:
    """One voice of one engine: ``name`` is what the engine takes, ``voice_id`` the speaker name."""

    engine: str
    name: str
    voice_id: str


@dataclass(frozen=True)
class SynthConfig:
    """What to render. Ranges are (low, high) of uniform seeded draws per clip."""

    words: tuple[str, ...]
    per_word: int | None = None  # clips per word; None = every voice once
    seed: int = 0
    language: str = "en"  # espeak-ng language (flite's voices are all English)
    engines: tuple[str, ...] = ENGINES
    sample_rate_hz: int = 16000
    clip_ms: int = 1000
    speed_range: tuple[float, float] = (0.8, 1.25)  # speaking rate relative to the engine default
    pitch_offset_range: tuple[int, int] = (-20, 20)  # espeak-ng pitch steps around 50
    voice_scale_range: tuple[float, float] = (0.9, 1.1)  # pitch+formant scale (resampling), flite and espeak
    peak_dbfs_range: tuple[float, float] = (-12.0, -1.0)  # output level

    def __post_init__(self) -> None:
        if self.clip_ms < MIN_CLIP_MS:
            raise ValueError(f"clip_ms must be at least {MIN_CLIP_MS} (one spoken word), not {self.clip_ms}")
        if self.sample_rate_hz < 1:
            raise ValueError("sample_rate_hz must be positive")

    @property
    def clip_samples(self) -> int:
        return round(self.sample_rate_hz * self.clip_ms / 1000)


@dataclass
class SynthResult:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    voices: list[Voice] = field(default_factory=list)
    cropped: int = 0  # clips whose spoken part was longer than the clip and got centre-cropped
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (voice_id, word, reason)


# ------------------------------------------------------------------------------------ words
def label_folder(word: str) -> str:
    """The dataset label (folder name) of a word or phrase: words joined by "_" ("lights_on")."""
    return "_".join(word.split())


def parse_words(text: str) -> tuple[str, ...]:
    """``"lights on, lights off"`` -> ("lights on", "lights off"); a clear error on bad input."""
    words = tuple(" ".join(part.split()) for part in text.split(",") if part.strip())
    if not words:
        raise SpeechRNNError("no words given (use --words \"word one,word two\")")
    for word in words:
        if not re.fullmatch(r"[\w' -]+", word) or word[0] in "_.-":
            raise SpeechRNNError(f"{word!r}: a word may hold letters, digits, spaces, ' and - only")
    labels = [label_folder(w) for w in words]
    if len(set(labels)) != len(labels):
        raise SpeechRNNError(f"words repeat: {', '.join(words)}")
    return words


# ----------------------------------------------------------------------------------- voices
def find_engines(engines: tuple[str, ...] = ENGINES) -> list[str]:
    """The engines of ``engines`` that are installed (on PATH)."""
    return [engine for engine in engines if shutil.which(engine)]


def no_engine_message(engines: tuple[str, ...] = ENGINES) -> str:
    return f"no text-to-speech engine found (looked for {', '.join(engines)} on PATH); install one: {INSTALL_HINT}"


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=ENGINE_TIMEOUT_S, check=False)


def _safe_id(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _espeak_table(selector: str) -> list[str]:
    """Lines of ``espeak-ng --voices=SELECTOR`` without the header."""
    return _run([ESPEAK, f"--voices={selector}"]).stdout.splitlines()[1:]


def _espeak_voice_files(language: str) -> list[str]:
    """Voice file names (e.g. "gmw/en-US") of ``language``, variants excluded."""
    files = []
    for line in _espeak_table(language):
        tokens = line.split()
        if len(tokens) >= 5 and tokens[1] != "variant" and not tokens[4].startswith("!v/"):
            files.append(tokens[4])
    return files


def _espeak_variants() -> list[str]:
    """Variant names (e.g. "f2", "klatt"); names with spaces cannot be passed to ``-v``."""
    names = []
    for line in _espeak_table("variant"):
        match = re.search(r"!v/(.+?)(?:\s{2,}|\s*\(|\s*$)", line)
        if match and not re.search(r"\s", match.group(1)):
            names.append(match.group(1))
    return names


def _speaks(voice: Voice, workdir: Path) -> bool:
    try:
        samples, _ = _render(voice, PROBE_TEXT, 1.0, 0, workdir)
    except SpeechRNNError:
        return False
    return samples.size > 0 and float(np.abs(samples).max()) > SILENT_PEAK


def _espeak_voices(language: str, workdir: Path) -> list[Voice]:
    bases = []
    for file in _espeak_voice_files(language):
        base = Voice(ESPEAK, file, "espeak-" + _safe_id(file.split("/")[-1]))
        if _speaks(base, workdir):  # mbrola voices are listed even without mbrola installed
            bases.append(base)
    variants = _espeak_variants()
    voices = list(bases)
    for base in bases:
        voices += [Voice(ESPEAK, f"{base.name}+{v}", f"{base.voice_id}-{_safe_id(v)}") for v in variants]
    return voices


def _flite_voices(workdir: Path) -> list[Voice]:
    listing = _run([FLITE, "-lv"]).stdout
    names = listing.split(":", 1)[-1].split()
    names = [
        n for n in names
        if not n.endswith(FLITE_LIMITED_DOMAIN_SUFFIX) and n + FLITE_WIDEBAND_SUFFIX not in names
    ]
    voices = [Voice(FLITE, n, "flite-" + _safe_id(n)) for n in names]
    return [v for v in voices if _speaks(v, workdir)]


def list_voices(language: str = "en", engines: tuple[str, ...] = ENGINES) -> list[Voice]:
    """Every working voice of every installed engine; :class:`SpeechRNNError` when there is none."""
    installed = find_engines(engines)
    if not installed:
        raise SpeechRNNError(no_engine_message(engines))
    english = language.split("-")[0].lower() == FLITE_LANGUAGE
    if ESPEAK in installed and not _espeak_voice_files(language):
        raise SpeechRNNError(f"espeak-ng has no voice for language {language!r} (its languages: espeak-ng --voices)")
    if ESPEAK not in installed and not english:
        raise SpeechRNNError(f"only {', '.join(installed)} is installed and it speaks English only, not "
                             f"{language!r} (install espeak-ng for other languages)")
    voices: list[Voice] = []
    with tempfile.TemporaryDirectory(prefix="speechrnn-synth-") as tmp:
        if ESPEAK in installed:
            voices += _espeak_voices(language, Path(tmp))
        if FLITE in installed and english:
            voices += _flite_voices(Path(tmp))
    if not voices:
        raise SpeechRNNError(f"{', '.join(installed)} installed but no voice speaks {language!r}")
    return voices


# -------------------------------------------------------------------------------- rendering
def _render(voice: Voice, text: str, speed: float, pitch_offset: int, workdir: Path) -> tuple[np.ndarray, int]:
    """Run the engine; returns its samples (mono float32) and sample rate."""
    import soundfile as sf

    text_file = workdir / "text.txt"
    wav_file = workdir / "out.wav"
    text_file.write_text(text + "\n", encoding="utf-8")
    wav_file.unlink(missing_ok=True)
    if voice.engine == ESPEAK:
        pitch = int(np.clip(ESPEAK_DEFAULT_PITCH + pitch_offset, 0, ESPEAK_PITCH_MAX))
        command = [ESPEAK, "-v", voice.name, "-s", str(round(ESPEAK_DEFAULT_WPM * speed)), "-p", str(pitch),
                   "-w", str(wav_file), "-f", str(text_file)]
    elif voice.engine == FLITE:
        command = [FLITE, "-voice", voice.name, "--setf", f"duration_stretch={1.0 / speed:.4f}",
                   "-f", str(text_file), "-o", str(wav_file)]
    else:
        raise ValueError(f"unknown engine {voice.engine!r}")
    try:
        done = _run(command)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechRNNError(f"{voice.engine} failed for voice {voice.name}: {exc}") from None
    if done.returncode != 0 or not wav_file.exists() or wav_file.stat().st_size == 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise SpeechRNNError(f"{voice.engine} failed for voice {voice.name}: {reason}")
    data, rate = sf.read(str(wav_file), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def _clip_rng(config: SynthConfig, word: str, voice: Voice, take: int) -> np.random.Generator:
    key = [config.seed, zlib.crc32(word.encode()), zlib.crc32(voice.voice_id.encode()), take]
    return np.random.default_rng(key)


def render_clip(voice: Voice, word: str, take: int, config: SynthConfig, workdir: Path) -> tuple[np.ndarray, bool]:
    """One finished clip (float32, ``config.clip_samples`` long) and whether it had to be cropped."""
    rng = _clip_rng(config, word, voice, take)
    speed = float(rng.uniform(*config.speed_range))
    pitch_offset = int(rng.integers(config.pitch_offset_range[0], config.pitch_offset_range[1] + 1))
    scale = float(rng.uniform(*config.voice_scale_range))
    peak_dbfs = float(rng.uniform(*config.peak_dbfs_range))
    samples, rate = _render(voice, word, speed, pitch_offset, workdir)
    # Reading the samples as if recorded at rate * scale raises pitch and formants by `scale`
    # (a smaller or larger vocal tract) -- the same for every engine.
    samples = resample(samples, round(rate * scale), config.sample_rate_hz)
    samples, _, _ = trim_to_speech(samples, config.sample_rate_hz)  # the same trim as recorded takes
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak < SILENT_PEAK:
        raise SpeechRNNError(f"{voice.engine} voice {voice.name} rendered silence for {word!r}")
    samples = samples * (10 ** (peak_dbfs / 20) / peak)
    cropped = samples.size > config.clip_samples
    return pad_or_crop(samples, config.clip_samples).astype(np.float32), cropped


def voice_order(voices: list[Voice], seed: int) -> list[Voice]:
    """Voices in a seeded order that alternates engines, so a small --per-word still uses each engine."""
    rng = np.random.default_rng(seed)
    by_engine: dict[str, list[Voice]] = {}
    for voice in voices:
        by_engine.setdefault(voice.engine, []).append(voice)
    queues = [[group[i] for i in rng.permutation(len(group))] for group in by_engine.values()]
    ordered = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


def plan(config: SynthConfig, voices: list[Voice]) -> list[tuple[Voice, int]]:
    """(voice, take) for each clip of one word: voices in turn, takes counted per voice."""
    ordered = voice_order(voices, config.seed)
    count = len(ordered) if config.per_word is None else config.per_word
    return [(ordered[i % len(ordered)], i // len(ordered)) for i in range(count)]


CLIP_NAME = re.compile(r"(?P<voice>.+)_nohash_(?P<take>\d+)\.wav")  # OUT/<word>/<voice-id>_nohash_<take>.wav


def next_takes(folder: Path) -> dict[str, int]:
    """Per voice id, the first take number not yet used in ``folder`` (voices with clips only)."""
    taken: dict[str, int] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = CLIP_NAME.fullmatch(path.name)
            if match:
                voice, take = match.group("voice"), int(match.group("take"))
                taken[voice] = max(taken.get(voice, 0), take + 1)
    return taken


def synthesize(config: SynthConfig, out_dir: str | Path, cancel: CancelToken | None = None,
               voices: list[Voice] | None = None) -> EventStream:
    """Render every word with every voice into ``out_dir``; ends with ``Finished(SynthResult)``.

    Each file is written atomically; a cancelled run keeps the clips already written. Clips already
    in a word's folder are kept: a voice's new takes are numbered after its last one there.
    """
    out_dir = Path(out_dir)
    if config.per_word is not None and config.per_word < 1:
        raise SpeechRNNError("--per-word must be at least 1")
    if voices is None and not find_engines(config.engines):
        raise SpeechRNNError(no_engine_message(config.engines))
    yield Stage("voices", "Looking for text-to-speech voices")
    if voices is None:
        voices = list_voices(config.language, config.engines)
    engines = sorted({v.engine for v in voices})
    yield Message(f"{len(voices)} voices from {', '.join(engines)}")
    result = SynthResult(out_dir=out_dir, voices=list(voices))
    takes = plan(config, voices)
    total = len(takes) * len(config.words)
    counted = f"{len(config.words)} word{'' if len(config.words) == 1 else 's'}"
    yield Stage("synth", f"Rendering {total} clips of {counted} into {out_dir}")
    with tempfile.TemporaryDirectory(prefix="speechrnn-synth-") as tmp:
        for word in config.words:
            folder = out_dir / label_folder(word)
            first_take = next_takes(folder)
            if first_take:
                yield Message(f"{folder}: keeping the clips already there; new clips are numbered after them")
            for voice, take in takes:
                if cancel is not None:
                    cancel.check()
                take += first_take.get(voice.voice_id, 0)
                try:
                    samples, cropped = render_clip(voice, word, take, config, Path(tmp))
                except SpeechRNNError as exc:
                    result.failed.append((voice.voice_id, word, str(exc)))
                else:
                    path = folder / f"{voice.voice_id}_nohash_{take}.wav"
                    result.files.append(write_wav_atomic(path, samples, config.sample_rate_hz))
                    result.cropped += int(cropped)
                yield Progress("synth", len(result.files) + len(result.failed), total, unit="clips")
    if result.cropped:
        yield Message(f"{result.cropped} clips were longer than {config.clip_ms} ms and were "
                      "centre-cropped (raise --clip-ms for long phrases)", level="warning")
    if result.failed:
        yield Message(f"{len(result.failed)} clips failed, first: {result.failed[0][2]}", level="warning")
    yield Finished(result)
