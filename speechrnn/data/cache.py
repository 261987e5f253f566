"""Prepared data: every clip decoded once into one float16 waveform array, cached on disk.

``prepare_data(spec, feature_config)`` resolves the sources (downloading ``speech-commands:*``
when missing), scans them, decodes each source's clips once (``load_audio`` -> 16 kHz ->
``pad_or_crop`` to the clip length) into ``<cache>/waves-<key>.npy`` (key: the source's file
list with sizes and mtimes, sample rate, clip length), applies the task and the splits, and
finishes with a :class:`PreparedData` whose splits are in-memory float16 tensors. From the second
run on no audio is decoded. Noise mixing and time shift then happen per batch on these clean
waves (``speechrnn.data.augment``, on the GPU when there is one), so they stay real;
:func:`cached_features` caches clean features for runs without waveform augmentation.

Memory: a split holds ``clips * clip_samples * 2`` bytes (full Speech Commands v2: 105,829 clips,
3.4 GB); see :func:`estimate_peak_ram_bytes`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from speechrnn.atomic import NEW_FILE_MODE, write_text_atomic
from speechrnn.audio.io import load_audio, pad_or_crop
from speechrnn.data.augment import AugmentConfig, WaveAugmenter, generated_noise
from speechrnn.data.layout import (
    SPLITS,
    Clip,
    audio_files_in,
    background_noise_files,
    scan_folder,
    split_clips,
)
from speechrnn.data.spec import SILENCE, UNKNOWN, DataSpec, is_speech_commands_source
from speechrnn.errors import AudioError, DataError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Progress, Stage
from speechrnn.features import FeatureConfig, FeatureExtractor

CACHE_FORMAT = 1  # bump when the cache layout changes: old files are then ignored
WAVE_DTYPE = np.float16  # half the memory of float32; 11-bit mantissa is ample for 16-bit audio
DECODE_CHUNK_CLIPS = 256  # clips decoded (in parallel) and written per step; also the cancel granularity
FEATURE_CHUNK_CLIPS = 1024  # clips per feature pass when filling the feature cache
KEY_CHARS = 24  # hex characters of the SHA-256 used in cache file names
BYTES_PER_WAVE_SAMPLE = np.dtype(WAVE_DTYPE).itemsize
SPEECH_COMMANDS_V2_CLIPS = 105_829
PYTHON_TORCH_BASELINE_BYTES = 600 * 2**20  # interpreter + torch + numpy resident before any data


@dataclass
class ClipSet:
    """One split: waves (N, clip_samples) float16 on the CPU, targets (N,), clips (None = silence)."""

    waves: torch.Tensor
    targets: torch.Tensor
    clips: list[Clip | None]
    fingerprint: str = ""  # identifies the content (for the feature cache); "" = hash the waves

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def is_silence(self) -> torch.Tensor:
        """(N,) bool: generated silence examples (the augmenter refills them every batch)."""
        return torch.tensor([clip is None for clip in self.clips], dtype=torch.bool)

    @property
    def sources(self) -> list[str]:
        """Source name of each example ("" for generated silence)."""
        return [clip.source if clip is not None else "" for clip in self.clips]


@dataclass
class PreparedData:
    labels: list[str]
    train: ClipSet
    validation: ClipSet
    testing: ClipSet
    noise: list[torch.Tensor]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    description: dict = field(default_factory=dict)

    def split(self, name: str) -> ClipSet:
        return {"train": self.train, "validation": self.validation, "testing": self.testing}[name]


def estimate_peak_ram_bytes(num_clips: int, clip_samples: int) -> int:
    """Peak resident memory of ``prepare_data`` when all ``num_clips`` clips are used.

    The splits hold every clip once as float16, read straight from the cache file into them (its
    pages stay in the page cache, not in this process), plus the interpreter with torch.
    Full v2 at 1 s / 16 kHz: 105,829 * 16,000 * 2 B = 3.39 GB + ~0.6 GB = about 4.0 GB
    (measured: 3.87 GiB peak RSS for 105,829 clips).
    """
    return num_clips * clip_samples * BYTES_PER_WAVE_SAMPLE + PYTHON_TORCH_BASELINE_BYTES


# ---------------------------------------------------------------------------------------------
# On-disk arrays: written to a temp file in the cache folder, renamed into place when complete.

def _cache_error(path: Path, exc: OSError) -> DataError:
    return DataError(f"{path}: cannot write the cache ({exc.strerror or exc}); free some space, "
                     "fix the permissions, or choose another cache folder")


class _ArrayWriter:
    """Streams rows into ``path`` as a .npy file of known shape; only a complete file is renamed in."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.written = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, NEW_FILE_MODE)
        self.file = os.fdopen(fd, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(self.file, header)

    def write(self, rows: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.written += rows.shape[0]

    def commit(self) -> None:
        if self.written != self.shape[0]:
            raise RuntimeError(f"wrote {self.written} of {self.shape[0]} rows")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        Path(self.tmp).unlink(missing_ok=True)


def _write_array(path: Path, shape: tuple[int, ...], dtype: np.dtype, chunks: Iterator[np.ndarray]) -> None:
    """Write all ``chunks`` (row blocks) as one .npy; any failure leaves no file behind."""
    for _ in _stream_write(path, shape, dtype, chunks):
        pass


def _stream_write(path: Path, shape: tuple[int, ...], dtype: np.dtype, chunks: Iterator[np.ndarray],
                  stage: str | None = None) -> EventStream:
    """Write ``chunks`` to ``path`` through a temp file; with ``stage``, a Progress per chunk (rows/s)."""
    try:
        writer = _ArrayWriter(path, shape, dtype)
    except OSError as exc:
        raise _cache_error(path.parent, exc) from None
    start = time.monotonic()
    try:
        for rows in chunks:
            writer.write(rows)
            if stage is not None:
                rate = writer.written / max(time.monotonic() - start, 1e-9)
                yield Progress(stage, writer.written, shape[0], unit="clips", metrics={"clips/s": rate})
        writer.commit()
    except OSError as exc:
        writer.discard()
        raise _cache_error(path, exc) from None
    except BaseException:
        writer.discard()
        raise


def _load_array(path: Path, expected_shape: tuple[int, ...], mmap: bool) -> np.ndarray | None:
    """The cached array, or None if it is missing, truncated or of another shape."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return array if array.shape == expected_shape else None


@dataclass(frozen=True)
class WaveCache:
    """A complete cached (count, clip_samples) float16 array on disk and the rows that failed."""

    path: Path
    count: int
    clip_samples: int
    failures: dict[int, str]
    key: str

    def load(self) -> np.ndarray:
        """The whole array, memory-mapped read-only."""
        return np.load(self.path, mmap_mode="r")

    def read_rows(self, rows: np.ndarray, out: np.ndarray, positions: np.ndarray) -> None:
        """``out[positions[i]] = array[rows[i]]``, reading straight from the file into ``out``.

        Runs of consecutive rows going to consecutive positions are one read each. Plain reads
        rather than a memory map: the file's pages stay in the page cache and out of this
        process's resident memory, so the peak is one copy of the selected clips.
        """
        if len(rows) == 0:
            return
        row_bytes = self.clip_samples * BYTES_PER_WAVE_SAMPLE
        breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(positions) != 1)) + 1
        with open(self.path, "rb") as f:
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_2_0(f)
            data_start = f.tell()
            for first, end in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
                f.seek(data_start + int(rows[first]) * row_bytes)
                target = out[positions[first] : positions[first] + (end - first)]
                if f.readinto(target) != target.nbytes:
                    raise DataError(f"{self.path}: cache file is truncated; delete it and run again")


# ---------------------------------------------------------------------------------------------
# Decoding with a cache.

def _file_key(paths: list[Path], *parts: object) -> str:
    """Hash of the file list with sizes and mtimes plus ``parts``: changes when any file changes."""
    digest = hashlib.sha256(repr((CACHE_FORMAT,) + parts).encode())
    for path in map(os.path.abspath, paths):
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:KEY_CHARS]


def _decode_one(path: Path, sample_rate_hz: int, clip_samples: int) -> tuple[np.ndarray | None, str]:
    try:
        wave = load_audio(path, sample_rate_hz)
    except AudioError as exc:
        return None, exc.problem
    except Exception as exc:  # a broken file must never stop a whole dataset from loading
        return None, f"cannot decode audio ({type(exc).__name__}: {exc})"
    return pad_or_crop(wave, clip_samples), ""


def decode_clips(
    paths: list[Path], sample_rate_hz: int, clip_samples: int, cache_dir: Path,
    cancel: CancelToken | None = None, description: str = "",
) -> EventStream:
    """Decode ``paths`` into one (N, clip_samples) float16 array, cached on disk.

    ``Finished(WaveCache)``; its ``failures`` map a row index to why that file could not be read
    (its row is zeros).
    """
    cancel = cancel or CancelToken()
    key = _file_key(paths, sample_rate_hz, clip_samples)
    array_path = Path(cache_dir) / f"waves-{key}.npy"
    meta_path = array_path.with_suffix(".json")
    shape = (len(paths), clip_samples)
    if meta_path.is_file():
        array = _load_array(array_path, shape, mmap=True)
        if array is not None:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            failures = {int(k): v for k, v in meta["failures"].items()}
            yield Finished(WaveCache(array_path, len(paths), clip_samples, failures, key))
            return
    yield Stage("decode", description or f"Decoding {len(paths)} clips once into {array_path.parent}")
    failures: dict[int, str] = {}

    def chunks() -> Iterator[np.ndarray]:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # soundfile and soxr release the GIL
            for first in range(0, len(paths), DECODE_CHUNK_CLIPS):
                cancel.check()
                batch = paths[first : first + DECODE_CHUNK_CLIPS]
                rows = np.zeros((len(batch), clip_samples), dtype=WAVE_DTYPE)
                decoded = pool.map(lambda p: _decode_one(p, sample_rate_hz, clip_samples), batch)
                for offset, (wave, problem) in enumerate(decoded):
                    if wave is None:
                        failures[first + offset] = problem
                    else:
                        rows[offset] = wave
                yield rows

    yield from _stream_write(array_path, shape, WAVE_DTYPE, chunks(), stage="decode")
    try:
        write_text_atomic(meta_path, json.dumps({"format": CACHE_FORMAT, "count": len(paths),
                                            "failures": {str(k): v for k, v in failures.items()}}))
    except OSError as exc:
        array_path.unlink(missing_ok=True)
        raise _cache_error(meta_path, exc) from None
    yield Finished(WaveCache(array_path, len(paths), clip_samples, failures, key))


def decode_noise(paths: list[Path], sample_rate_hz: int, cache_dir: Path) -> tuple[list[torch.Tensor], list[tuple[str, str]]]:
    """Noise recordings at ``sample_rate_hz`` (float32, whole length), cached like the clips."""
    if not paths:
        return [], []
    key = _file_key(paths, sample_rate_hz, "noise")
    array_path = Path(cache_dir) / f"noise-{key}.npy"
    meta_path = array_path.with_suffix(".json")
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        array = _load_array(array_path, (sum(meta["lengths"]),), mmap=False)
        if array is not None:
            return _split_noise(array, meta["lengths"]), [tuple(s) for s in meta["skipped"]]
    waves, lengths, skipped = [], [], []
    for path in paths:
        try:
            wave = load_audio(path, sample_rate_hz)
        except AudioError as exc:
            skipped.append((str(path), exc.problem))
            wave = np.zeros(0, dtype=np.float32)
        waves.append(wave)
        lengths.append(int(wave.size))
    joined = np.concatenate(waves).astype(np.float32)
    _write_array(array_path, joined.shape, np.float32, iter([joined]))
    try:
        write_text_atomic(meta_path, json.dumps({"format": CACHE_FORMAT, "lengths": lengths, "skipped": skipped}))
    except OSError as exc:
        array_path.unlink(missing_ok=True)
        raise _cache_error(meta_path, exc) from None
    return _split_noise(joined, lengths), skipped


def _split_noise(joined: np.ndarray, lengths: list[int]) -> list[torch.Tensor]:
    bounds = np.cumsum([0] + lengths)
    return [torch.from_numpy(np.array(joined[a:b], dtype=np.float32)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


# ---------------------------------------------------------------------------------------------
# Sources, task and splits.

@dataclass
class _Source:
    name: str
    root: Path
    clips: list[Clip]
    splits: list[str]
    cache: WaveCache | None = None
    key: str = ""

    @property
    def failures(self) -> dict[int, str]:
        return self.cache.failures if self.cache is not None else {}


def _resolve_source(source: str, spec: DataSpec, cancel: CancelToken) -> EventStream:
    """``Finished(root folder)``; downloads ``speech-commands:*`` sources when missing."""
    if is_speech_commands_source(source):
        from speechrnn.data.download import download

        version = source.split(":", 1)[1]
        yield from download(version, spec.data_dir, cancel=cancel)
        return
    yield Finished(Path(source).expanduser())


def _source_name(source: str, root: Path, taken: set[str]) -> str:
    name = source if is_speech_commands_source(source) else root.name
    return name if name not in taken else str(root)


def _check_words(spec: DataSpec, labels: set[str]) -> None:
    vocabulary = spec.vocabulary
    if vocabulary is None:
        return
    missing = [w for w in vocabulary if w not in labels]
    if missing:
        available = ", ".join(sorted(labels - {SILENCE, UNKNOWN})) or "none"
        raise DataError(f"unknown word{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                        f"no such label folder in {', '.join(spec.sources)} (available: {available})")


def _unknown_has_words(spec: DataSpec, labels: set[str]) -> bool:
    """Whether an ``_unknown_`` class would get clips: an ``_unknown_`` folder, or words outside the vocabulary."""
    return bool(labels - set(spec.vocabulary or ()) - {SILENCE})


def _class_labels(spec: DataSpec, labels: set[str]) -> list[str]:
    vocabulary = spec.vocabulary
    if vocabulary is None:
        classes = sorted(labels)
        if spec.silence_enabled and SILENCE not in classes:
            classes.insert(0, SILENCE)
    else:
        classes = [SILENCE] if spec.silence_enabled else []
        if spec.unknown_by_word:
            classes += list(vocabulary) + sorted(labels - set(vocabulary) - {SILENCE})  # an _unknown_ folder stays one
        else:
            classes += ([UNKNOWN] if spec.unknown_enabled else []) + list(vocabulary)
    if len(classes) < (1 if spec.scores_only else 2):  # evaluate may score a folder of one word
        found = ", ".join(sorted(labels)) or "none"
        raise DataError(f"{', '.join(spec.sources)}: only one label ({found}); a classifier needs at "
                        "least two label folders (or switch on silence/unknown)")
    return classes


def _role(label: str, vocabulary: tuple[str, ...] | None) -> str:
    """The class a clip's folder maps to before sampling: a class name, or UNKNOWN for other words."""
    if label in (SILENCE, UNKNOWN):
        return label
    if vocabulary is None or label in vocabulary:
        return label
    return UNKNOWN


@dataclass
class _Selection:
    """Rows chosen for one split: (source index, row) pairs with their class index."""

    rows: list[tuple[int, int]] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    silence: int = 0


def _select(spec: DataSpec, sources: list[_Source], classes: list[str]) -> dict[str, _Selection]:
    vocabulary = spec.vocabulary
    index = {label: i for i, label in enumerate(classes)}
    chosen = {split: _Selection() for split in SPLITS}
    candidates: dict[str, list[tuple[int, int]]] = {split: [] for split in SPLITS}
    real_silence = {split: 0 for split in SPLITS}
    real_unknown = {split: 0 for split in SPLITS}
    for s, source in enumerate(sources):
        for row, (clip, split) in enumerate(zip(source.clips, source.splits)):
            if row in source.failures:
                continue
            role = _role(clip.label, vocabulary)
            if role == UNKNOWN and clip.label != UNKNOWN:
                if UNKNOWN in index or spec.unknown_by_word:
                    candidates[split].append((s, row))  # other words: sampled below
                continue
            if role not in index:
                continue
            real_silence[split] += role == SILENCE
            real_unknown[split] += role == UNKNOWN
            chosen[split].rows.append((s, row))
            chosen[split].targets.append(index[role])
    for split_number, split in enumerate(SPLITS):
        selection = chosen[split]
        words = len(selection.rows) - real_silence[split] - real_unknown[split]
        if (UNKNOWN in index or spec.unknown_by_word) and not real_unknown[split] and candidates[split]:
            wanted = min(len(candidates[split]), math.ceil(words * spec.unknown_pct / 100))
            rng = np.random.default_rng([spec.seed, split_number])
            picks = [candidates[split][i] for i in np.sort(rng.choice(len(candidates[split]), size=wanted, replace=False))]
            selection.rows += picks
            selection.targets += ([index[sources[s].clips[row].label] for s, row in picks] if spec.unknown_by_word
                                  else [index[UNKNOWN]] * wanted)
        if SILENCE in index and not real_silence[split] and words:
            selection.silence = math.ceil(words * spec.silence_pct / 100)
    return chosen


def _build_clipset(split: str, selection: _Selection, sources: list[_Source], classes: list[str],
                   noise: list[torch.Tensor], spec: DataSpec, clip_samples: int, sample_rate_hz: int) -> ClipSet:
    """Copy the chosen rows out of the sources' cached arrays; add (and for evaluation fill) silence."""
    count = len(selection.rows) + selection.silence
    waves = np.zeros((count, clip_samples), dtype=WAVE_DTYPE)
    by_source: dict[int, list[int]] = {}
    for position, (s, row) in enumerate(selection.rows):
        by_source.setdefault(s, []).append(position)
    for s, positions in by_source.items():
        rows = np.array([selection.rows[p][1] for p in positions])
        order = np.argsort(rows, kind="stable")  # read the cache file front to back
        sources[s].cache.read_rows(rows[order], waves, np.array(positions)[order])
    clips: list[Clip | None] = [sources[s].clips[row] for s, row in selection.rows] + [None] * selection.silence
    targets = selection.targets + ([classes.index(SILENCE)] * selection.silence if selection.silence else [])
    if selection.silence:
        # Silence is background noise at a random volume, fixed here (seeded) so evaluation is
        # repeatable and feature-cached training (no wave augmentation) sees real silence; the
        # augmenter draws new silence for these rows every batch.
        generator = torch.Generator().manual_seed(spec.seed * len(SPLITS) + SPLITS.index(split))
        fill = WaveAugmenter(AugmentConfig.off(), noise, sample_rate_hz)
        silent = torch.zeros(selection.silence, clip_samples)
        filled = fill(silent, torch.ones(selection.silence, dtype=torch.bool), generator)
        waves[len(selection.rows):] = filled.numpy().astype(WAVE_DTYPE)
    fingerprint = hashlib.sha256(repr((
        [src.key for src in sources], selection.rows, selection.targets, selection.silence, split, spec.seed,
    )).encode()).hexdigest()[:KEY_CHARS]
    return ClipSet(torch.from_numpy(waves), torch.tensor(targets, dtype=torch.int64), clips, fingerprint)


def _describe(spec: DataSpec, sources: list[_Source], classes: list[str], sets: dict[str, ClipSet],
              skipped: list[tuple[str, str]], noise_files: list[Path], feature_config: FeatureConfig) -> dict:
    counts = {}
    per_source = {}
    for split, clipset in sets.items():
        labels = [classes[t] for t in clipset.targets.tolist()]
        counts[split] = {label: labels.count(label) for label in classes}
        names = clipset.sources
        per_source[split] = {name or SILENCE: names.count(name) for name in dict.fromkeys(names)}
    return {
        "spec": spec.to_dict(),
        "labels": classes,
        "sources": [{"name": s.name, "path": str(s.root), "clips": len(s.clips),
                     "speakers": len({c.speaker for c in s.clips})} for s in sources],
        "counts": counts,
        "per_source": per_source,
        "skipped": len(skipped),
        "noise_files": [str(p) for p in noise_files],
        "sample_rate_hz": feature_config.sample_rate_hz,
        "clip_samples": feature_config.clip_samples,
    }


def prepare_data(spec: DataSpec, feature_config: FeatureConfig, cache_dir: Path | None = None,
                 cancel: CancelToken | None = None) -> EventStream:
    """Resolve, scan, decode (once, cached), label and split; ``Finished(PreparedData)``.

    ``cache_dir`` defaults to ``<data dir>/cache`` (see :func:`speechrnn.data.download.default_cache_dir`).
    Unreadable files are skipped (``PreparedData.skipped`` and a warning), never fatal.
    """
    from speechrnn.data.download import default_cache_dir

    cancel = cancel or CancelToken()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(spec.data_dir)
    rate, clip_samples = feature_config.sample_rate_hz, feature_config.clip_samples
    yield Stage("data", "Preparing data from " + ", ".join(spec.sources))
    sources: list[_Source] = []
    noise_files: list[Path] = []
    taken: set[str] = set()
    for source in spec.sources:
        root = None
        for event in _resolve_source(source, spec, cancel):
            if isinstance(event, Finished):
                root = event.result
            else:
                yield event
        name = _source_name(source, root, taken)
        taken.add(name)
        aliases = spec.aliases
        clips = [Clip(c.path, aliases.get(c.label, c.label), c.speaker, c.source) for c in scan_folder(root, name)]
        splits = split_clips(clips, root, spec.validation_pct, spec.testing_pct, spec.is_test_only(source))
        sources.append(_Source(name, root, clips, splits))
        noise_files += background_noise_files(root)
    for folder in spec.noise_dirs:
        noise_files += audio_files_in(Path(folder))
    labels = {clip.label for source in sources for clip in source.clips}
    _check_words(spec, labels)
    classes = _class_labels(spec, labels)
    if UNKNOWN in classes and spec.vocabulary is not None and not _unknown_has_words(spec, labels):
        # Kept (models and their evaluations keep the same classes), but never silently.
        yield Message(f"the {UNKNOWN} class gets no clips: every word folder is in the vocabulary (add folders of "
                      "other words to teach the model what is not a command, or use --no-unknown)", level="warning")

    skipped: list[tuple[str, str]] = []
    for source in sources:
        paths = [clip.path for clip in source.clips]
        for event in decode_clips(paths, rate, clip_samples, cache_dir, cancel,
                                  f"Decoding {len(paths)} clips of {source.name} once (cached in {cache_dir})"):
            if isinstance(event, Finished):
                source.cache = event.result
            else:
                yield event
        source.key = source.cache.key
        skipped += [(str(paths[row]), problem) for row, problem in sorted(source.failures.items())]
    noise, noise_skipped = decode_noise(noise_files, rate, cache_dir)
    skipped += noise_skipped
    if skipped:
        path, problem = skipped[0]
        yield Message(f"skipped {len(skipped)} unreadable audio file{'s' if len(skipped) > 1 else ''} "
                      f"(e.g. {path}: {problem})", level="warning")
    if not noise:
        noise = generated_noise(rate)
        if spec.silence_enabled or not spec.scores_only:  # scoring clips as they are needs no noise
            yield Message("no background noise found (_background_noise_/ or noise folders): "
                          "using generated white/pink noise for silence and noise mixing", level="warning")
    if not any(len(s.clips) > len(s.failures) for s in sources):
        raise DataError(f"{', '.join(spec.sources)}: none of the audio files could be read")

    cancel.check()
    chosen = _select(spec, sources, classes)
    sets = {split: _build_clipset(split, chosen[split], sources, classes, noise, spec, clip_samples, rate)
            for split in SPLITS}
    description = _describe(spec, sources, classes, sets, skipped, noise_files, feature_config)
    yield Finished(PreparedData(classes, sets["train"], sets["validation"], sets["testing"],
                                noise, skipped, description))


# ---------------------------------------------------------------------------------------------
# Feature cache.

def _content_key(clips: ClipSet) -> str:
    if clips.fingerprint:
        return clips.fingerprint
    digest = hashlib.sha256(clips.waves.contiguous().numpy().tobytes())
    digest.update(clips.targets.numpy().tobytes())
    return digest.hexdigest()[:KEY_CHARS]


@torch.no_grad()
def cached_features(clips: ClipSet, extractor: FeatureExtractor, cache_dir: Path | None) -> torch.Tensor:
    """(N, T, F) float16 clean features of ``clips``, computed once per (clips, feature config).

    For runs without waveform augmentation: later epochs and later runs read the cache.
    ``cache_dir`` None means the default cache folder.
    """
    from speechrnn.data.download import default_cache_dir

    cfg = extractor.config
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha256(repr((CACHE_FORMAT, _content_key(clips), sorted(asdict(cfg).items()))).encode())
    path = cache_dir / f"features-{key.hexdigest()[:KEY_CHARS]}.npy"
    shape = (len(clips), cfg.num_frames(clips.waves.shape[-1]), cfg.feature_dim)
    array = _load_array(path, shape, mmap=False)
    if array is None:
        device = next(iter(extractor.buffers())).device

        def chunks() -> Iterator[np.ndarray]:
            for part in clips.waves.split(FEATURE_CHUNK_CLIPS):
                frames = extractor(part.to(device=device, dtype=torch.float32))
                yield frames.to(torch.float16).cpu().numpy()

        _write_array(path, shape, np.float16, chunks())
        array = _load_array(path, shape, mmap=False)
        if array is None:
            raise DataError(f"{path}: the feature cache could not be read back")
    return torch.from_numpy(array)
