"""Streaming evaluation: what a user of a live recognizer experiences, in numbers.

:func:`stream_eval` builds a long synthetic stream - words from a labelled folder, placed at
random times with gaps, over continuous background noise at a chosen signal-to-noise ratio, all
seeded - runs the :class:`~speechrnn.recognizer.Recognizer` over it exactly as ``listen`` would,
and counts:

* **hits**: a word of the model's vocabulary detected with the right label between its start and
  ``tolerance_s`` after its end; **latency** = detection time - word end (the word's end comes
  from the energy of its clean clip);
* **wrong**: detected, but only with other labels; **misses**: nothing detected;
* **false accepts** (per hour of stream): detections outside every word, and detections during
  words outside the vocabulary (the folder's other labels, played as distractors);
  **duplicates**: extra detections of a word already hit (reported, not counted as false accepts).
* **drift**: a stream of two ``drift_hour_s`` spans or more ends with its first span replayed
  (the same words over the same noise), and each of those words is scored early and late: what
  differs is only the state the recognizer carried in between.

SNR: each word is scaled so that its 1 s clip's power over the power of the noise under it equals
``snr_db`` (the same definition as training-time noise mixing, :func:`speechrnn.data.augment.noise_gain`);
a single gain then brings the words back to their original average loudness.

Also here: :func:`measure_recognizer_speed` (microseconds per frame, real-time factor), which the
benchmarks call.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from speechrnn.audio.io import load_audio, pad_or_crop
from speechrnn.errors import DataError
from speechrnn.events import CancelToken, EventStream, Finished, Message, Progress, Stage
from speechrnn.record import TrimConfig, frame_levels_db, speech_bounds

FADE_MS = 10.0  # raised-cosine fade in/out of each placed word (no clicks at the cut)
PUSH_S = 1.0  # audio pushed into the recognizer per call (results do not depend on it)
PROGRESS_EVERY_S = 30.0  # stream seconds between progress events
PLAN_PROGRESS_EVERY = 50  # placed words between progress events while planning
SECONDS_PER_HOUR = 3600.0
PERCENTILE_95 = 95.0
SAME_TIME_S = 0.01  # a replayed detection is the same as an early one at this distance (one frame)
CLIP_LIMIT = 1.0  # full scale: the mixed stream is clipped to +-1 like a real ADC


DRAW_BY_WORD, DRAW_BY_CLIP = "word", "clip"  # StreamConfig.distractor_draw
DISTRACTOR_DRAWS = (DRAW_BY_WORD, DRAW_BY_CLIP)


@dataclass(frozen=True)
class StreamConfig:
    """How the synthetic stream is built."""

    minutes: float = 10.0
    snr_db: float = 10.0
    seed: int = 0
    gap_min_s: float = 1.5  # silence (noise only) between one word's end and the next word's start
    gap_max_s: float = 4.0
    distractor_fraction: float = 0.2  # share of words outside the model's vocabulary (if the folder has any)
    # how a distractor is drawn: DRAW_BY_WORD, an other word, then one of its clips (every word as
    # often: the few clips of a scarce word repeat many times), or DRAW_BY_CLIP, any clip of the
    # other words (every clip as often: more distinct utterances, common words more often)
    distractor_draw: str = DRAW_BY_WORD
    tolerance_s: float = 1.0  # a detection counts for a word up to this long after its end
    per_noise: bool = True  # one stream of ``minutes`` per noise recording (a table row each); else all looped
    noise_only_hours: float = 0.0  # also run each noise alone this long: false accepts with no speech at all
    drift_hour_s: float = 3600.0  # the drift check compares the hit rate of the first and last such span
    # a stream that holds two drift spans ends with its first span again (the same words over the same
    # noise), so the drift check hears the same audio early and late: what differs is the carried state
    replay_first_span: bool = True

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise ValueError("minutes must be positive")
        if self.drift_hour_s <= 0:
            raise ValueError("drift_hour_s must be positive")
        if self.noise_only_hours < 0:
            raise ValueError("noise_only_hours must not be negative")
        if not 0 < self.gap_min_s <= self.gap_max_s:
            raise ValueError("need 0 < gap_min_s <= gap_max_s")
        if self.gap_min_s < self.tolerance_s:
            raise ValueError("gap_min_s must be at least tolerance_s (so words do not share detections)")
        if not 0 <= self.distractor_fraction < 1:
            raise ValueError("distractor_fraction must be in [0, 1)")
        if self.distractor_draw not in DISTRACTOR_DRAWS:
            raise ValueError(f"distractor_draw must be one of {', '.join(DISTRACTOR_DRAWS)}")


@dataclass(frozen=True)
class PlacedWord:
    """A word in the stream: where its speech is (seconds) and which file it came from."""

    label: str
    path: str
    start_s: float
    end_s: float
    target: bool  # in the model's vocabulary


@dataclass
class StreamEvalResult:
    hits: int
    misses: int
    wrong: int
    false_accepts: int
    duplicates: int
    targets: int
    distractors: int
    hours: float
    latencies_ms: list[float]
    per_label: dict[str, dict[str, int]]
    false_accepts_on_distractors: int = 0  # of false_accepts: detections during a distractor word
    hit_times_s: list[tuple[float, bool]] = field(default_factory=list)  # (word end, hit) per target word
    per_noise: dict[str, dict[str, Any]] = field(default_factory=dict)  # noise file -> summary of its stream
    noise_only: dict[str, dict[str, float]] = field(default_factory=dict)  # noise file -> hours, false accepts
    settings: dict[str, Any] = field(default_factory=dict)
    words: list[PlacedWord] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    # (hit early, hit late) per target word of a first span replayed at the stream's end
    replayed_pairs: list[tuple[bool, bool]] = field(default_factory=list)
    # detections in the first span, in its replay, and in both (same label, same time within SAME_TIME_S)
    replayed_detections: dict[str, int] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.targets if self.targets else 0.0

    @property
    def hit_rate_ci95(self) -> tuple[float, float]:
        """95 % interval (Wilson) of the hit rate: what these few words can tell apart."""
        from speechrnn.evaluate import wilson_interval

        return wilson_interval(self.hit_rate, self.targets)

    @property
    def distractor_rate_ci95(self) -> tuple[float, float]:
        """95 % interval (Wilson) of the false accepts per distractor word (a word that fired
        twice counts once more, up to one per word)."""
        from speechrnn.evaluate import wilson_interval

        rate = min(1.0, self.false_accepts_on_distractors / self.distractors) if self.distractors else 0.0
        return wilson_interval(rate, self.distractors)

    @property
    def false_accepts_per_hour(self) -> float:
        return self.false_accepts / self.hours if self.hours else 0.0

    @property
    def noise_only_false_accepts_per_hour(self) -> float | None:
        hours = sum(row["hours"] for row in self.noise_only.values())
        return sum(row["false_accepts"] for row in self.noise_only.values()) / hours if hours else None

    def drift(self, span_s: float) -> dict[str, Any] | None:
        """Hit rate of the targets in the first and in the last ``span_s`` of the stream (None when
        the stream is shorter than two spans): a model whose carried state drifts loses hits late.

        When the last span replayed the first (``StreamConfig.replay_first_span``), the two rates
        are of the same words over the same noise, and ``lost`` / ``gained`` count the words hit
        early and missed late, and the other way round; otherwise they are of different words."""
        if self.replayed_pairs:
            pairs = self.replayed_pairs
            return {"span_s": span_s, "replayed": True, "words": len(pairs),
                    "first_hit_rate": sum(first for first, _ in pairs) / len(pairs),
                    "last_hit_rate": sum(last for _, last in pairs) / len(pairs),
                    "lost": sum(first and not last for first, last in pairs),
                    "gained": sum(last and not first for first, last in pairs),
                    "detections": dict(self.replayed_detections)}
        if not self.hit_times_s or self.hours * SECONDS_PER_HOUR < 2 * span_s:
            return None
        end = max(t for t, _ in self.hit_times_s)
        first = [hit for t, hit in self.hit_times_s if t < span_s]
        last = [hit for t, hit in self.hit_times_s if t >= end - span_s]
        if not first or not last:
            return None
        return {"span_s": span_s, "replayed": False, "first_hit_rate": sum(first) / len(first),
                "last_hit_rate": sum(last) / len(last)}

    def latency_ms(self, percentile: float) -> float | None:
        return float(np.percentile(self.latencies_ms, percentile)) if self.latencies_ms else None

    def to_dict(self, include_events: bool = False) -> dict[str, Any]:
        """JSON-ready summary (``include_events`` adds every word and detection)."""
        out = {
            "hit_rate": self.hit_rate,
            "false_accepts_per_hour": self.false_accepts_per_hour,
            "latency_median_ms": self.latency_ms(50.0),
            "latency_p95_ms": self.latency_ms(PERCENTILE_95),
            "hits": self.hits,
            "misses": self.misses,
            "wrong": self.wrong,
            "false_accepts": self.false_accepts,
            "false_accepts_on_distractors": self.false_accepts_on_distractors,
            "false_accepts_per_100_distractors": (100.0 * self.false_accepts_on_distractors / self.distractors
                                                  if self.distractors else None),
            "hit_rate_ci95": list(self.hit_rate_ci95),
            "false_accepts_per_100_distractors_ci95": (
                [100.0 * x for x in self.distractor_rate_ci95] if self.distractors else None),
            "noise_only_false_accepts_per_hour": self.noise_only_false_accepts_per_hour,
            "noise_only": self.noise_only,
            "per_noise": self.per_noise,
            "drift": self.drift(self.settings.get("stream", {}).get("drift_hour_s", SECONDS_PER_HOUR)),
            "duplicates": self.duplicates,
            "targets": self.targets,
            "distractors": self.distractors,
            "hours": self.hours,
            "per_label": self.per_label,
            "settings": self.settings,
        }
        if include_events:
            out["words"] = [asdict(word) for word in self.words]
            out["detections"] = self.detections
        return out

    def _places_note(self) -> str:
        """"; at 1 place of its recordings, each played 30 times": what the noise-alone count is made of
        when the recordings loop (a word spoken in a babble recording fires once a loop), else ""."""
        rows = [row for row in self.noise_only.values() if row.get("places")]
        if not rows:
            return ""
        loops = sorted({round(row["loops"]) for row in rows})
        played = f"{loops[0]}" if len(loops) == 1 else f"{loops[0]}-{loops[-1]}"
        return f"; at {_places(sum(row['places'] for row in rows))} of its recordings, each played {played} times"

    def table(self) -> str:
        """The summary as an aligned text table."""
        median, p95 = self.latency_ms(50.0), self.latency_ms(PERCENTILE_95)
        rows = [
            ("stream", f"{self.hours * 60:.1f} min, {self.targets} words + {self.distractors} distractors"),
            ("hit rate", f"{100 * self.hit_rate:.1f} %  ({self.hits} / {self.targets}; 95 % interval "
                         f"{100 * self.hit_rate_ci95[0]:.1f}-{100 * self.hit_rate_ci95[1]:.1f} %)"),
            ("misses", str(self.misses)),
            ("wrong label", str(self.wrong)),
            ("false accepts", f"{self.false_accepts}  ({self.false_accepts_per_hour:.1f} per hour of stream)"),
            ("  on distractors", f"{self.false_accepts_on_distractors}" + (
                f"  ({100.0 * self.false_accepts_on_distractors / self.distractors:.1f} per 100 distractor words; "
                f"95 % interval {100 * self.distractor_rate_ci95[0]:.1f}-{100 * self.distractor_rate_ci95[1]:.1f})"
                if self.distractors else "")),
            ("duplicates", str(self.duplicates)),
            ("latency median", "-" if median is None else f"{median:.0f} ms after word end"),
            ("latency p95", "-" if p95 is None else f"{p95:.0f} ms"),
        ]
        alone = self.noise_only_false_accepts_per_hour
        if alone is not None:
            hours = sum(row["hours"] for row in self.noise_only.values())
            rows.append(("noise alone", f"{alone:.2f} false accepts per hour ({hours:.2f} h, no speech)"
                                        + self._places_note()))
        drift = self.drift(self.settings.get("stream", {}).get("drift_hour_s", SECONDS_PER_HOUR))
        if drift is not None:
            minutes = drift["span_s"] / 60
            if drift["replayed"]:
                rows.append(("drift", f"the first {minutes:.0f} min replayed at the end: hit rate "
                                      f"{100 * drift['first_hit_rate']:.1f} % early, {100 * drift['last_hit_rate']:.1f} % "
                                      f"late (of {drift['words']} words: {drift['lost']} lost, "
                                      f"{drift['gained']} gained; detections the same: "
                                      f"{drift['detections']['same']} of {drift['detections']['early']} "
                                      f"early and {drift['detections']['late']} late)"))
            else:
                rows.append(("drift", f"hit rate first {minutes:.0f} min {100 * drift['first_hit_rate']:.1f} %, "
                                      f"last {100 * drift['last_hit_rate']:.1f} %"))
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        if len(self.per_noise) > 1 or self.noise_only:
            lines.append("")
            lines.append(f"{'noise':<24} {'hits':>7} {'FA/h':>7} {'FA/100 distr.':>13} {'alone FA/h':>10}")
            for name in sorted(set(self.per_noise) | set(self.noise_only)):
                row, alone_row = self.per_noise.get(name, {}), self.noise_only.get(name)
                hit = f"{100 * row['hit_rate']:.1f} %" if row else "-"
                per_hour = f"{row['false_accepts_per_hour']:.1f}" if row else "-"
                per_100 = (f"{row['false_accepts_per_100_distractors']:.1f}"
                           if row and row.get("false_accepts_per_100_distractors") is not None else "-")
                alone_text = f"{alone_row['false_accepts'] / alone_row['hours']:.2f}" if alone_row else "-"
                places = (f"  at {_places(alone_row['places'])} of the recording, played "
                          f"{alone_row['loops']:.0f} times" if alone_row and alone_row.get("places") else "")
                lines.append(f"{name:<24} {hit:>7} {per_hour:>7} {per_100:>13} {alone_text:>10}{places}")
        lines.append("")
        lines.append(f"{'word':<12} {'hits':>5} {'miss':>5} {'wrong':>6}")
        for label, counts in sorted(self.per_label.items()):
            lines.append(f"{label:<12} {counts['hits']:>5} {counts['misses']:>5} {counts['wrong']:>6}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ the stream
def _fade(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    length = min(samples.size // 2, round(sample_rate_hz * FADE_MS / 1000))
    if length == 0:
        return samples
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length, dtype=np.float32))
    out = samples.copy()
    out[:length] *= ramp
    out[-length:] *= ramp[::-1]
    return out


@dataclass(frozen=True)
class _Word:
    """A loaded word: its trimmed samples and where the speech lies inside them."""

    samples: np.ndarray
    speech_start: int
    speech_end: int
    clip_power: float  # mean square of the 1 s clip (the SNR reference)


def _load_word(path: Path, sample_rate_hz: int, clip_samples: int, trim: TrimConfig) -> _Word | None:
    audio = load_audio(path, sample_rate_hz)
    frame = max(1, round(sample_rate_hz * trim.frame_ms / 1000))
    bounds = speech_bounds(frame_levels_db(audio, frame), trim.frame_ms, trim)
    if bounds is None:
        return None
    pad = round(sample_rate_hz * trim.pad_ms / 1000)
    start, end = max(0, bounds[0] * frame - pad), min(audio.size, bounds[1] * frame + pad)
    clip = pad_or_crop(audio, clip_samples)
    return _Word(
        samples=_fade(audio[start:end].astype(np.float32), sample_rate_hz),
        speech_start=bounds[0] * frame - start,
        speech_end=min(bounds[1] * frame, audio.size) - start,
        clip_power=float(np.mean(np.square(clip, dtype=np.float64))),
    )


def places_in_loop(times_s: list[float], loop_s: float, tolerance_s: float) -> int:
    """How many places of a looped recording (``loop_s`` long, played from time 0) the detections at
    ``times_s`` stand at: those within ``tolerance_s`` of each other on the loop count as one place."""
    if not times_s:
        return 0
    positions = sorted(t % loop_s for t in times_s)
    gaps = [b - a for a, b in zip(positions, positions[1:])] + [positions[0] + loop_s - positions[-1]]
    return max(1, sum(gap > tolerance_s for gap in gaps))


def _places(count: int) -> str:
    return f"{count} place" + ("" if count == 1 else "s")


class _NoiseLoop:
    """All noise recordings end to end, read as an endless loop from a random offset."""

    def __init__(self, paths: list[Path], sample_rate_hz: int, rng: np.random.Generator):
        parts = [load_audio(path, sample_rate_hz) for path in paths]
        self.samples = np.concatenate(parts).astype(np.float32)
        self.offset = int(rng.integers(self.samples.size))

    def segment(self, start: int, length: int) -> np.ndarray:
        index = (self.offset + start + np.arange(length)) % self.samples.size
        return self.samples[index]


def _word_gain(word: _Word, noise_power: float, snr_db: float) -> float:
    """Scale for a word so that its clip power / noise power is ``snr_db`` (noise level fixed)."""
    import torch

    from speechrnn.data.augment import noise_gain

    gain = noise_gain(torch.tensor(word.clip_power), torch.tensor(max(noise_power, 1e-10)), snr_db)
    return 1.0 / max(float(gain), 1e-6)


@dataclass
class _Plan:
    words: list[PlacedWord]
    placements: list[tuple[int, int, float]]  # (start sample, index into loaded, gain)
    loaded: list[_Word]
    total_samples: int
    replay_from: int | None = None  # from this sample on, the stream (noise and words) replays its start
    replayed: list[tuple[int, int]] = field(default_factory=list)  # (word, its replay): indices into words

    @cached_property
    def starts(self) -> list[int]:
        return [start for start, _, _ in self.placements]


def _replay_first_span(plan: _Plan, span_samples: int, sample_rate_hz: int) -> _Plan:
    """``plan`` with its last ``span_samples`` replaced by its first: the words wholly inside the
    first span again, at the same offsets, over the same stretch of noise (see ``_render``)."""
    import dataclasses

    start = plan.total_samples - span_samples
    size = [plan.loaded[index].samples.size for _, index, _ in plan.placements]
    kept = [i for i, (position, _, _) in enumerate(plan.placements) if position + size[i] <= start]
    early = [i for i, (position, _, _) in enumerate(plan.placements) if position + size[i] <= span_samples]
    shift_s = start / sample_rate_hz
    words = [plan.words[i] for i in kept] + [_shifted(plan.words[i], shift_s) for i in early]
    placements = ([plan.placements[i] for i in kept]
                  + [(position + start, index, gain) for position, index, gain in (plan.placements[i] for i in early)])
    replayed = [(n, len(kept) + n) for n in range(len(early))]  # the early words are the first ones kept
    return dataclasses.replace(plan, words=words, placements=placements, replay_from=start, replayed=replayed)


def _plan_stream(
    clips: list, vocabulary: set[str], config: StreamConfig, sample_rate_hz: int, clip_samples: int,
    noise: _NoiseLoop, rng: np.random.Generator, cancel: CancelToken | None,
) -> EventStream:
    trim = TrimConfig()
    total = round(config.minutes * 60 * sample_rate_hz)
    targets = sorted({c.label for c in clips if c.label in vocabulary})
    others = sorted({c.label for c in clips if c.label not in vocabulary})
    if not targets:
        raise DataError(f"no folder of the data matches the model's words ({', '.join(sorted(vocabulary))})")
    by_label: dict[str, list] = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    other_clips = [clip for clip in clips if clip.label not in vocabulary]  # for DRAW_BY_CLIP
    cache: dict[Path, int | None] = {}
    loaded: list[_Word] = []
    words, placements = [], []
    position = round(rng.uniform(config.gap_min_s, config.gap_max_s) * sample_rate_hz)
    yield Stage("plan", "placing words in the stream")
    while True:
        if cancel is not None:
            cancel.check()
        distractor = bool(others) and rng.random() < config.distractor_fraction
        if distractor and config.distractor_draw == DRAW_BY_CLIP:
            clip = other_clips[rng.integers(len(other_clips))]
            label = clip.label
        else:
            label = others[rng.integers(len(others))] if distractor else targets[rng.integers(len(targets))]
            clip = by_label[label][rng.integers(len(by_label[label]))]
        if clip.path not in cache:
            word = _load_word(clip.path, sample_rate_hz, clip_samples, trim)
            cache[clip.path] = None if word is None else len(loaded)
            if word is not None:
                loaded.append(word)
        index = cache[clip.path]
        if index is None:  # no speech found in this file: never draw it again
            by_label[label].remove(clip)
            if distractor:
                other_clips.remove(clip)
            if not by_label[label]:
                (others if distractor else targets).remove(label)
                if not targets:
                    raise DataError(f"no speech found in any clip of the model's words "
                                    f"({', '.join(sorted(vocabulary))})")
            continue
        word = loaded[index]
        if position + word.samples.size > total:
            break
        noise_power = float(np.mean(np.square(noise.segment(position, clip_samples), dtype=np.float64)))
        gain = _word_gain(word, noise_power, config.snr_db)
        placements.append((position, index, gain))
        words.append(PlacedWord(label, str(clip.path), (position + word.speech_start) / sample_rate_hz,
                                (position + word.speech_end) / sample_rate_hz, not distractor))
        position += word.samples.size + round(rng.uniform(config.gap_min_s, config.gap_max_s) * sample_rate_hz)
        if len(words) % PLAN_PROGRESS_EVERY == 0:
            yield Progress("plan", min(position, total) / sample_rate_hz, total / sample_rate_hz, unit="s")
    if not words:
        raise DataError("the stream is too short for a single word; use more minutes")
    # one gain for everything: words back at their original average loudness (SNR unchanged)
    powers = np.array([loaded[i].clip_power for _, i, _ in placements])
    gains = np.array([g for _, _, g in placements])
    overall = float(np.sqrt(np.mean(powers) / max(np.mean(powers * gains**2), 1e-12)))
    placements = [(start, i, g * overall) for start, i, g in placements]
    yield Finished((_Plan(words, placements, loaded, total), overall))


def _render(plan: _Plan, noise: _NoiseLoop, noise_scale: float, start: int, length: int) -> np.ndarray:
    """Samples ``[start, start + length)`` of the stream: scaled noise plus the words in it."""
    if plan.replay_from is None or start + length <= plan.replay_from:
        out = noise.segment(start, length) * noise_scale
    else:  # from replay_from on, the noise of the stream's start again
        cut = max(0, plan.replay_from - start)
        out = np.concatenate([noise.segment(start, cut),
                              noise.segment(start + cut - plan.replay_from, length - cut)]) * noise_scale
    first = max(0, bisect.bisect_right(plan.starts, start) - 1)  # words are placed in order, apart
    for position, index, gain in plan.placements[first:]:
        word = plan.loaded[index].samples
        if position >= start + length:
            break
        if position + word.size <= start:
            continue
        lo, hi = max(position, start), min(position + word.size, start + length)
        out[lo - start : hi - start] += gain * word[lo - position : hi - position]
    return np.clip(out, -CLIP_LIMIT, CLIP_LIMIT)


# ------------------------------------------------------------------------------- scoring
def score_detections(
    words: list[PlacedWord], detections: list, tolerance_s: float, hours: float, labels: list[str] | None = None
) -> StreamEvalResult:
    """Match detections (``label``, ``time_s``) to words; count hits, misses, wrong, false accepts."""
    ends = np.array([w.end_s + tolerance_s for w in words])
    starts = np.array([w.start_s for w in words])
    assigned: dict[int, list] = {}
    false_accepts = 0
    for detection in detections:
        index = int(np.searchsorted(ends, detection.time_s, side="left"))  # first word not yet over
        if index < len(words) and starts[index] <= detection.time_s:
            assigned.setdefault(index, []).append(detection)
        else:
            false_accepts += 1
    hits = misses = wrong = duplicates = 0
    latencies = []
    per_label: dict[str, dict[str, int]] = {
        label: {"hits": 0, "misses": 0, "wrong": 0} for label in (labels or []) if not label.startswith("_")
    }
    on_distractors = 0
    hit_times = []
    for index, word in enumerate(words):
        found = assigned.get(index, [])
        if not word.target:
            false_accepts += len(found)
            on_distractors += len(found)
            continue
        counts = per_label.setdefault(word.label, {"hits": 0, "misses": 0, "wrong": 0})
        correct = [d for d in found if d.label == word.label]
        hit_times.append((word.end_s, bool(correct)))
        if correct:
            hits += 1
            counts["hits"] += 1
            latencies.append(1000.0 * (correct[0].time_s - word.end_s))
            duplicates += len(correct) - 1
            false_accepts += len(found) - len(correct)  # other labels around a hit are false alarms
        elif found:
            wrong += 1
            counts["wrong"] += 1
        else:
            misses += 1
            counts["misses"] += 1
    targets = sum(w.target for w in words)
    return StreamEvalResult(
        hits=hits, misses=misses, wrong=wrong, false_accepts=false_accepts, duplicates=duplicates,
        targets=targets, distractors=len(words) - targets, hours=hours, latencies_ms=latencies,
        per_label=per_label, false_accepts_on_distractors=on_distractors, hit_times_s=hit_times,
    )


def _aliased(clips: list, vocabulary: set[str]) -> list:
    """FSDD's ``0`` .. ``9`` folders read as ``zero`` .. ``nine`` for a model that knows the words
    (as ``speechrnn evaluate --task digits`` maps them)."""
    import dataclasses

    from speechrnn.data.spec import DIGIT_ALIASES

    aliases = {digit: word for digit, word in DIGIT_ALIASES if word in vocabulary and digit not in vocabulary}
    return [dataclasses.replace(c, label=aliases[c.label]) if c.label in aliases else c for c in clips]


def _merge(parts: list[StreamEvalResult], labels: list[str]) -> StreamEvalResult:
    """One result for several streams (one per noise): counts added, latencies pooled."""
    per_label: dict[str, dict[str, int]] = {}
    for part in parts:
        for label, counts in part.per_label.items():
            row = per_label.setdefault(label, {"hits": 0, "misses": 0, "wrong": 0})
            for key in row:
                row[key] += counts[key]
    offset, hit_times = 0.0, []
    for part in parts:  # streams played one after the other
        hit_times += [(offset + t, hit) for t, hit in part.hit_times_s]
        offset += part.hours * SECONDS_PER_HOUR
    total = {key: sum(getattr(p, key) for p in parts) for key in
             ("hits", "misses", "wrong", "false_accepts", "duplicates", "targets", "distractors",
              "false_accepts_on_distractors")}
    return StreamEvalResult(**total, hours=sum(p.hours for p in parts),
                            latencies_ms=[x for p in parts for x in p.latencies_ms], per_label=per_label,
                            hit_times_s=hit_times)


def stream_eval(
    checkpoint_path: str | Path | None,
    data: str | Path,
    noise_dir: str | Path,
    config: StreamConfig = StreamConfig(),
    detector=None,
    cancel: CancelToken | None = None,
) -> EventStream:
    """Build the streams, run the recognizer, score them. Events; ``Finished(StreamEvalResult)``.

    With ``config.per_noise`` (and several recordings in ``noise_dir``) every recording gets its
    own stream of ``config.minutes`` and its own row in ``per_noise``; ``noise_only_hours`` adds a
    run of each recording alone (every detection there is a false accept). ``checkpoint_path``
    None means the bundled default model; ``detector`` is a
    :class:`~speechrnn.recognizer.DetectorConfig` (default settings when None).
    """
    from speechrnn.data.layout import audio_files_in, scan_folder
    from speechrnn.recognizer import Recognizer, is_background

    recognizer = Recognizer.from_checkpoint(checkpoint_path, detector)
    rate = recognizer.sample_rate_hz
    clip_samples = recognizer.feature_config.clip_samples
    vocabulary = {label for label in recognizer.labels if not is_background(label)}
    noises = audio_files_in(Path(noise_dir))
    groups = [[path] for path in noises] if config.per_noise and len(noises) > 1 else [noises]
    clips = _aliased(scan_folder(Path(data)), vocabulary)
    if recognizer.engine_note:
        yield Message(recognizer.engine_note, "warning")
    parts, words, detections, per_noise, noise_only = [], [], [], {}, {}
    started, audio_s = time.perf_counter(), 0.0
    for group in groups:
        name = group[0].name if len(group) == 1 else Path(noise_dir).name
        rng = np.random.default_rng(config.seed)
        yield Stage("load", f"loading noise {name}")
        noise = _NoiseLoop(group, rate, rng)
        plan, noise_scale = None, 1.0
        for event in _plan_stream(clips, vocabulary, config, rate, clip_samples, noise, rng, cancel):
            if isinstance(event, Finished):
                plan, noise_scale = event.result
            else:
                yield event
        assert plan is not None
        span = round(config.drift_hour_s * rate)
        if config.replay_first_span and plan.total_samples >= 2 * span:
            plan = _replay_first_span(plan, span, rate)
        yield Stage("recognize", f"{name}: running the recognizer over {plan.total_samples / rate / 60:.1f} min of audio")
        recognizer.reset()
        found = yield from _run(recognizer, lambda start, length: _render(plan, noise, noise_scale, start, length),
                                plan.total_samples, cancel)
        hours = plan.total_samples / rate / SECONDS_PER_HOUR
        part = score_detections(plan.words, found, config.tolerance_s, hours, recognizer.labels)
        # score_detections gives one (end, hit) per target word, in the order of plan.words
        hit = dict(zip((i for i, w in enumerate(plan.words) if w.target), (h for _, h in part.hit_times_s)))
        part.replayed_pairs = [(hit[early], hit[late]) for early, late in plan.replayed if early in hit]
        if plan.replay_from is not None:
            part.replayed_detections = _same_detections(found, span / rate, plan.replay_from / rate)
        per_noise[name] = {k: v for k, v in part.to_dict().items()
                           if k not in ("per_label", "settings", "noise_only", "per_noise", "drift")}
        offset = sum(p.hours for p in parts) * SECONDS_PER_HOUR
        words += [_shifted(w, offset) for w in plan.words]
        detections += [{**asdict(d), "noise": name, **{key: getattr(d, key) + offset for key in SHIFTED_TIMES}}
                       for d in found]  # on the words' clock: streams played one after the other
        parts.append(part)
        audio_s += plan.total_samples / rate
        if config.noise_only_hours > 0:
            total = round(config.noise_only_hours * SECONDS_PER_HOUR * rate)
            yield Stage("noise-only", f"{name}: {config.noise_only_hours:g} h of the noise alone")
            recognizer.reset()
            alone = yield from _run(recognizer, lambda start, length: noise.segment(start, length) * noise_scale,
                                    total, cancel)
            loop_s = noise.samples.size / rate
            noise_only[name] = {"hours": config.noise_only_hours, "false_accepts": len(alone),
                                "labels": sorted({d.label for d in alone}),
                                # a recording shorter than the run plays again and again: a word spoken in
                                # it fires once a loop, at one place
                                "loops": total / noise.samples.size,
                                "places": places_in_loop([noise.offset / rate + d.time_s for d in alone], loop_s,
                                                         config.tolerance_s)}
            audio_s += total / rate
    elapsed = time.perf_counter() - started
    result = _merge(parts, recognizer.labels)
    result.per_noise, result.noise_only = per_noise, noise_only
    result.replayed_pairs = [pair for part in parts for pair in part.replayed_pairs]
    result.replayed_detections = {key: sum(p.replayed_detections.get(key, 0) for p in parts)
                                  for key in ("early", "late", "same")} if result.replayed_pairs else {}
    result.words, result.detections = words, detections
    result.settings = {
        "model": str(recognizer.checkpoint.path if recognizer.checkpoint else checkpoint_path),
        "data": str(data),
        "noise": str(noise_dir),
        "stream": asdict(config),
        "detector": {**asdict(recognizer.config), "label_thresholds": dict(recognizer.config.label_thresholds)},
        "recognizer": recognizer.describe(),
        "real_time_factor": elapsed / audio_s,
    }
    yield Finished(result)


def _same_detections(found: list, span_s: float, replay_s: float) -> dict[str, int]:
    """Detections in ``[0, span_s)``, in its replay from ``replay_s`` on, and how many of the replay's
    have the same label at the same time (within ``SAME_TIME_S``) as one of the first span's."""
    early = [(d.label, d.time_s) for d in found if d.time_s < span_s]
    late = [(d.label, d.time_s - replay_s) for d in found if d.time_s >= replay_s]
    same = sum(any(label == e_label and abs(time_s - e_time) <= SAME_TIME_S for e_label, e_time in early)
               for label, time_s in late)
    return {"early": len(early), "late": len(late), "same": same}


SHIFTED_TIMES = ("time_s", "start_s", "end_s")  # a detection's times, moved as its stream's words are


def _shifted(word: PlacedWord, offset_s: float) -> PlacedWord:
    """``word`` moved by ``offset_s`` (streams of several noises are reported end to end)."""
    import dataclasses

    return dataclasses.replace(word, start_s=word.start_s + offset_s, end_s=word.end_s + offset_s)


def _run(recognizer, render, total_samples: int, cancel: CancelToken | None) -> EventStream:
    """Push ``render(start, length)`` through the recognizer in ``PUSH_S`` chunks, flush at the end;
    ``return`` the detections (``found = yield from _run(...)``)."""
    rate = recognizer.sample_rate_hz
    push = round(PUSH_S * rate)
    detections: list = []
    next_progress = 0
    for start in range(0, total_samples, push):
        if cancel is not None:
            cancel.check()
        detections.extend(recognizer.push(render(start, min(push, total_samples - start))))
        if start >= next_progress:
            yield Progress("recognize", start / rate, total_samples / rate, unit="s")
            next_progress = start + round(PROGRESS_EVERY_S * rate)
    detections.extend(recognizer.flush())
    return detections


# ---------------------------------------------------------------------------------- speed
@dataclass(frozen=True)
class SpeedResult:
    """Cost of the recognizer per 10 ms frame, features and detection included."""

    mode: str
    engine: str
    lanes: int
    window_stride_ms: float | None
    chunk_ms: float
    threads: int
    frames: int
    seconds: float  # wall clock
    us_per_frame: float  # wall clock
    real_time_factor: float  # wall clock / audio duration
    cpu_us_per_frame: float  # CPU time of this process: the cost on an idle core, even on a busy machine
    cpu_real_time_factor: float


def measure_recognizer_speed(
    model,
    labels: list[str] | None = None,
    feature_config=None,
    config=None,
    audio_s: float = 30.0,
    chunk_ms: float = 100.0,
    threads: int = 1,
    seed: int = 0,
) -> SpeedResult:
    """Time ``Recognizer.push`` over ``audio_s`` of noisy audio pushed in ``chunk_ms`` chunks.

    Reports wall-clock time and the process's CPU time (which is what the work costs on a free
    core; on a loaded machine the wall clock also counts waiting for a core).

    ``model`` is an :class:`~speechrnn.model.RNNClassifier` (then ``labels`` may be omitted) or
    a checkpoint path. Runs with ``threads`` torch threads (restored afterwards); one second of
    audio warms up first and is not timed.
    """
    import torch

    from speechrnn.recognizer import DetectorConfig, Recognizer

    if isinstance(model, (str, Path)):
        recognizer = Recognizer.from_checkpoint(model, config)
    else:
        labels = labels or [f"word{i}" for i in range(model.config.num_classes)]
        recognizer = Recognizer(model, labels, feature_config, config or DetectorConfig())
    rate = recognizer.sample_rate_hz
    rng = np.random.default_rng(seed)
    audio = (0.05 * rng.standard_normal(round((audio_s + 1.0) * rate))).astype(np.float32)
    chunk = max(1, round(chunk_ms * rate / 1000))
    warm = rate  # first second: warm-up
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for start in range(0, warm, chunk):
            recognizer.push(audio[start : min(start + chunk, warm)])
        frames_before = recognizer.frames_seen
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(warm, audio.size, chunk):
            recognizer.push(audio[start : start + chunk])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        torch.set_num_threads(previous_threads)
    frames = recognizer.frames_seen - frames_before
    seconds_of_audio = (audio.size - warm) / rate
    return SpeedResult(
        mode=recognizer.mode,
        engine=recognizer.engine.name,
        lanes=recognizer.lanes,
        window_stride_ms=recognizer.config.window_stride_ms if recognizer.mode == "window" else None,
        chunk_ms=chunk_ms,
        threads=threads,
        frames=frames,
        seconds=elapsed,
        us_per_frame=1e6 * elapsed / max(frames, 1),
        real_time_factor=elapsed / seconds_of_audio,
        cpu_us_per_frame=1e6 * cpu / max(frames, 1),
        cpu_real_time_factor=cpu / seconds_of_audio,
    )


def compare_recognizer_speeds(model, labels: list[str] | None = None, audio_s: float = 30.0,
                              chunk_ms: float = 100.0) -> list[SpeedResult]:
    """The streaming recognizer (torch and onnxruntime engines, 4 lanes and 1) next to the
    baseline of re-running a 1 s window every 10 ms and every 100 ms. A stream-trained ``model``
    always runs one carried state, so its lane settings give the same figure."""
    from speechrnn.recognizer import DetectorConfig

    settings = [
        DetectorConfig(engine="onnx"),
        DetectorConfig(engine="torch"),
        DetectorConfig(engine="onnx", lanes=1, lane_stride_ms=None),
        DetectorConfig(engine="torch", lanes=1, lane_stride_ms=None),
        DetectorConfig(mode="window", window_stride_ms=100.0),
        DetectorConfig(mode="window", window_stride_ms=10.0),
    ]
    results = []
    for config in settings:
        seconds = audio_s if config.mode != "window" or config.window_stride_ms >= 100 else min(audio_s, 5.0)
        results.append(measure_recognizer_speed(model, labels, None, config, seconds, chunk_ms))
    return results
