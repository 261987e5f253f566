"""Sampling weights that balance the sources of each class.

When one source supplies most clips of a class and another most clips of a different class, the
model can learn the source (its microphones, its room) instead of the word: e.g. Speech Commands
clips mostly as ``_unknown_`` and FSDD clips mostly as digits taught the digits model "sounds like
that microphone -> ``_unknown_``" (assets/README.md). :func:`label_source_weights` draws every
source of a class equally often while each class keeps its share of the examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch


def label_source_weights(targets: Sequence[int] | torch.Tensor, sources: Sequence[str]) -> torch.Tensor:
    """(N,) float64 sampling weights, one per example, from its class and its source.

    Within class ``c`` (``n_c`` examples from ``k_c`` sources), an example of source ``s`` with
    ``n_cs`` examples of that class weighs ``n_c / (k_c * n_cs)``: each source of the class gets
    ``1 / k_c`` of the class's draws and the class keeps ``n_c / N`` of all draws (the weights sum
    to N). ``sources[i]`` is the source name of example i ("" for generated silence: one more
    source). Use with ``torch.multinomial(weights, N, replacement=True)``.
    """
    labels = targets.tolist() if isinstance(targets, torch.Tensor) else list(targets)
    if len(labels) != len(sources):
        raise ValueError(f"{len(labels)} targets but {len(sources)} sources")
    cells = Counter(zip(labels, sources))
    per_class = Counter(labels)
    sources_per_class = Counter(label for label, _ in cells)
    return torch.tensor([per_class[label] / (sources_per_class[label] * cells[label, source])
                         for label, source in zip(labels, sources)], dtype=torch.float64)


def other_word_keys(sources: Sequence[str], targets: Sequence[int], words: Sequence[str | None],
                    unknown: int) -> list[str]:
    """Keys for :func:`label_source_weights` that share the ``unknown`` class's draws by source *and*
    word (``words[i]``: the clip's own label, None for generated silence) and every other class's
    by source: each other word of each source is then drawn as often as any other, so that a large
    source of a few words (Speech Commands v1's bed / cat / happy) does not crowd out the many words
    of the small ones (``TrainConfig.balance_other_words``)."""
    return [f"{source}/{word}" if target == unknown and word is not None else source
            for source, target, word in zip(sources, targets, words)]
