"""Teaching a model your voice: its own words, learned again from a few takes of yours.

A run that starts from a bundled model's network (``speechrnn train --init-from digits``, the Train
panel's "Start from") with words that are all words of that model does not learn new words: it
adapts the model to the voices of the takes. Its head keeps the model's rows for those words
(:func:`speechrnn.training.base_network.initial_weights`), so the run only has to move a network
that already knows the words towards one more speaker and microphone.

The custom-word recipe (:mod:`speechrnn.custom_word`) would undo that: its synthetic voices and
hundreds of similar-sounding words ("line", "fine", "mine" for "nine") teach a network that already
knows the words to reject most of them. Measured on FSDD's test speaker (five takes of each digit,
scored on his 45 others; the shipped digits model): the custom-word recipe took his streams from
90.6 % of the digits heard to 47.4 %. An adaptation therefore keeps the bundled other words as
``_unknown_`` (real speakers, the model's own words among them) and drops the synthetic voices and
the similar words.

Its schedule was chosen on the digits recipe's validation speaker (FSDD ``nicolas``, never heard by
the fifth-stage network it started from; five takes of each digit), against the same network
unadapted: clips 73.8 % -> 91.1 %, his streams at 10 dB 64.2 % -> 82.7 % of the digits heard, and
the other validation speakers' streams 48.8 % -> 52.1 % with 8.3 instead of 11.5 false accepts per
100 of their other words. Half the learning rate for half the epochs adapted less (85.1 / 79.4 %);
fewer other words (``unknown_pct`` 40) heard the speaker as well but took twice as many other
people's words (22.9 per 100).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The schedule of an adaptation (see the module docstring for how it was chosen).
ADAPT_EPOCHS = 40
ADAPT_LR = 1e-3
# Similar-sounding words and synthetic voices are not added to an adaptation (0 of each).
ADAPT_CONFUSABLES = 0
ADAPT_SYNTH_VOICES = 0


def adapts(words: Iterable[str], base: Any) -> bool:
    """Whether a run on ``words`` from ``base`` (a :class:`~speechrnn.training.base_network.BaseNetwork`)
    adapts that model to new voices: it is a bundled model, the run has words, and the model already
    says every one of them. A model of your own keeps the recipe it was trained with (a custom word
    learned to reject similar-sounding words, which an adaptation would no longer show it)."""
    words = tuple(words)
    return base.bundled is not None and bool(words) and set(words) <= set(base.labels)


def adaptation_note(model_name: str, words: Iterable[str]) -> str:
    """One line saying that a run adapts ``model_name`` to the voices of its takes, and how."""
    return (f"adapting {model_name} to the voices of your takes of {', '.join(words)}: {ADAPT_EPOCHS} epochs at "
            f"lr {ADAPT_LR:g} by default, with the bundled other words and no synthetic voices or similar words "
            "(speechrnn.voice_adaptation)")
