"""A word of your own, trained the way it was measured on real strangers.

One recipe for the Train panel, ``speechrnn train --words`` and ``bench.custom_word`` (which
measures it): the user's takes (a folder of one or two speakers, which the library splits by take:
:func:`speechrnn.data.layout.split_clips`), synthetic voices saying each word
(:class:`SynthPlan`, split by clip: :func:`write_take_split`), the bundled other words and
similar-sounding words (:mod:`speechrnn.negatives`), ``_silence_`` and ``_unknown_`` about one
word's worth of clips each (:func:`class_share_pct`), many short epochs (:func:`small_data_epochs`)
and, on a bundled network, the detection threshold its model records (:data:`DETECTION_THRESHOLD`).

:class:`TrainRequest` is a run as asked for (library configs plus what to render first); its
:meth:`~TrainRequest.events` renders the voices and the similar words, then trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechrnn.events import CancelToken, EventStream, Finished

# Without a large dataset (your words, synthetic voices) an epoch is a few dozen steps: a GRU needs
# ~100 of them to learn a new word under noise/shift/SpecAugment (measured: 30 leave it near chance).
SMALL_DATA_EPOCHS = 100
# On a bundled network a custom word takes more of them: measured on validation streams
# (bench.custom_word --split validation), 150 epochs against 100 gave the same hits (85.8 / 86.2 %)
# and 0.8 false accepts per 100 other words instead of 3.0.
START_FROM_EPOCHS = 150
# Synthetic voices saying each of your words. Chosen on real people (stop 38): with one person's
# takes, 40 voices hear the word in far more real strangers than 120 do, though 120 hear more
# synthetic ones. Validation speakers ("happy", bench.custom_word --real-voices --split validation on
# a network that never heard them, two people's takes x two training seeds): 83.1 % of the word heard
# against 56.2 % (20 voices: 66.5 %), 0.2 against 0.0-0.4 false accepts per 100 real other words;
# then test speakers on the Commands network: 90.3 / 83.0 % against 68.8 / 65.9 %.
SYNTH_VOICES_PER_WORD = 40
# The detection threshold a custom word's model records (TrainConfig.detection_threshold: Listen
# uses it unless the user set one) when it learned on a bundled network with other words. Chosen
# with 120 voices; re-checked with 40 on validation speakers (stop 39, docs/custom-words.md): 0.6
# hears 4-5 points more of the word ("happy" 87.3 against 83.1 %, "cat" 27.5 / 22.0, "bed" 32.9 /
# 29.2) for more real other words taken for it (0.25 / 0.2, 3.1 / 2.0, 3.2 / 2.8 per 100): along
# the curve, and false words matter more to a listener left running.
DETECTION_THRESHOLD = 0.7
# Synthetic _unknown_ words get this many times fewer clips each than the user's words (there are
# 25 of them: together they still outnumber each word, as unknown does in Speech Commands).
UNKNOWN_PER_WORD_DIVISOR = 4
# The synthetic voices say every word, so with a speaker split whole classes would miss from
# validation, which then cannot tell a trained network from an untrained one: they are split by
# take instead, one clip in this many of each word validates.
VALIDATION_EVERY = 5
CLASS_SHARE_MIN_PCT, CLASS_SHARE_MAX_PCT = 10.0, 100.0  # _silence_ / _unknown_ as a share of the words


def class_share_pct(words: int) -> float:
    """_silence_ and _unknown_ get about as many clips as one word (Speech Commands: 10 % of 10 words)."""
    return float(min(CLASS_SHARE_MAX_PCT, max(CLASS_SHARE_MIN_PCT, CLASS_SHARE_MAX_PCT / max(1, words))))


def small_data_epochs(start_from: bool) -> int:
    """Epochs for a few hundred clips: on a bundled model's network, or on a new one."""
    return START_FROM_EPOCHS if start_from else SMALL_DATA_EPOCHS


def write_take_split(folder: Path, every: int = VALIDATION_EVERY) -> int:
    """Split lists in ``folder``: every ``every``-th clip of each word validates, the rest trains.

    Returns the number of validation clips. (Unlisted clips train when both lists exist.)
    """
    from speechrnn.atomic import write_text_atomic
    from speechrnn.data.layout import TESTING_LIST, VALIDATION_LIST, clips_by_word

    validation = [f"{word}/{path.name}" for word, paths in clips_by_word(folder).items()
                  for index, path in enumerate(paths) if len(paths) >= every and index % every == every - 1]
    write_text_atomic(folder / VALIDATION_LIST, "".join(f"{line}\n" for line in validation))
    write_text_atomic(folder / TESTING_LIST, "")
    return len(validation)


@dataclass(frozen=True)
class SynthPlan:
    """Synthetic voices to render before training: ``per_word`` clips of each of ``words`` and
    ``per_word // UNKNOWN_PER_WORD_DIVISOR`` of each of ``unknown_words`` (for ``_unknown_``), into
    ``out_dir``, which then gets a split by take."""

    words: tuple[str, ...]
    per_word: int
    out_dir: Path
    unknown_words: tuple[str, ...] = ()

    @classmethod
    def for_words(cls, labels: tuple[str, ...], per_word: int, out_dir: Path, unknown: bool) -> SynthPlan:
        """The voices saying the label folders ``labels`` ("lights_on" is said "lights on") and, with
        ``unknown``, the other Speech Commands words that are not among them."""
        from speechrnn.recipes import UNKNOWN_WORDS
        from speechrnn.synth import label_folder

        others = tuple(w for w in UNKNOWN_WORDS if label_folder(w) not in labels) if unknown else ()
        return cls(tuple(label.replace("_", " ") for label in labels), per_word, Path(out_dir), others)

    def events(self, cancel: CancelToken | None = None) -> EventStream:
        """Render the clips (the library's :func:`~speechrnn.synth.synthesize`), then split them."""
        from speechrnn.synth import SynthConfig, synthesize

        if self.words:
            yield from synthesize(SynthConfig(words=self.words, per_word=self.per_word), self.out_dir, cancel=cancel)
        if self.unknown_words:
            per_word = max(1, self.per_word // UNKNOWN_PER_WORD_DIVISOR)
            yield from synthesize(SynthConfig(words=self.unknown_words, per_word=per_word), self.out_dir,
                                  cancel=cancel)
        if self.out_dir.is_dir():
            write_take_split(self.out_dir)


@dataclass(frozen=True)
class TrainRequest:
    """A training run as asked for: the library's configs, and what to render before it starts."""

    data: Any  # DataSpec
    model: Any  # ModelConfig
    augment: Any  # AugmentConfig
    train: Any  # TrainConfig
    out_dir: Path
    features: Any = None  # FeatureConfig (None: the default features)
    synth: SynthPlan | None = None  # synthetic voices of the words (their folder is one of data's sources)
    recordings: Path | None = None  # the user's takes, if they are a source
    negatives: Any = None  # NegativesConfig: bundled other words + similar-sounding words, or None

    def synth_events(self, cancel: CancelToken | None = None) -> EventStream:
        if self.synth is not None:
            yield from self.synth.events(cancel)

    def data_events(self, cancel: CancelToken | None = None) -> EventStream:
        """Render the similar-sounding words if asked; ``Finished(the DataSpec to train on)``."""
        from speechrnn.negatives import prepare_negatives

        if self.negatives is None:
            yield Finished(self.data)
        else:
            yield from prepare_negatives(self.data, self.negatives, cancel=cancel)

    def events(self, cancel: CancelToken | None = None) -> EventStream:
        """Voices, similar words, then :func:`speechrnn.training.train`; ends with its ``Finished``."""
        from speechrnn.features import FeatureConfig
        from speechrnn.training import train

        yield from self.synth_events(cancel)
        data = self.data
        for event in self.data_events(cancel):
            if isinstance(event, Finished):
                data = event.result
            else:
                yield event
        yield from train(data, self.features or FeatureConfig(), self.model, self.augment, self.train, self.out_dir,
                         cancel=cancel)
