"""Words that sound like a user's word: what a custom-word model must learn to reject.

A model trained on a handful of takes of "lights" and a few unrelated words learns "one stressed
/aɪ/ syllable ending in a hiss" rather than "lights": "nights" and "likes" then fire it. These
near misses are the most useful ``_unknown_`` examples, so :func:`confusables` proposes them from
a list of common English words shipped with the package (``speechrnn/data/common_words.tsv``:
wordfreq's most frequent words with espeak-ng phonemes; source and license in its header):

* **rhymes**: the same sounds from the stressed vowel on, another onset ("nights", "rights");
* **onsets**: the same consonants and first vowel, another ending ("like", "lime", "life");
* **near**: one or two phonemes inserted, deleted or changed ("lots", "lets").

Words are compared by phonemes, not spelling ("lights" rhymes with "sites", not with "eights").
The user's word is looked up in the list, else pronounced by ``espeak-ng`` (one call, local), else
compared by spelling. Words that sound the same (homophones) or contain the whole word
("highlights") are never proposed: they would teach the model to reject its own word. The result
is deterministic: it depends only on the word, the list and ``count``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from speechrnn.errors import DataError

WORD_LIST = Path(__file__).resolve().parent / "data" / "common_words.tsv"
ESPEAK = "espeak-ng"
ESPEAK_VOICE = "en-us"  # the voice the shipped phonemes were made with (see the list's header)
ESPEAK_TIMEOUT_S = 10.0  # pronouncing one word takes milliseconds; a hang is treated as "no espeak"
PRIMARY_STRESS = "ˈ"
SECONDARY_STRESS = "ˌ"
# Characters that make a phoneme token a vowel (IPA vowels as espeak-ng writes them; also the
# plain letters a e i o u y, so spelled words work the same way).
VOWEL_CHARS = frozenset("aeiouyæɑɒɔəɚɛɜɝɪʊʌʏøœɐᵻɘɵɤ")
DEFAULT_COUNT = 12
# Candidates further than this many phoneme edits (insert, delete, change) from the word are
# not similar-sounding any more, whatever they share.
MAX_EDITS = 3
MAX_NEAR_EDITS = 2  # a word sharing neither onset nor rhyme is "near" within this many edits
KINDS = ("rhyme", "onset", "near")
COMMON_WORDS = 3000  # other_words() draws from this many of the most frequent words ...
MIN_OTHER_LETTERS = 3  # ... of at least this many letters (no "of", "to": too short to be a word alone)
# Sounds espeak-ng's en-us phonemes keep apart but most speakers of North American English (and
# many others) say alike, so that words differing only by them are homophones to a listener:
# "for" / "four", "war" / "wore" (horse-hoarse), "don" / "dawn" (cot-caught), the reduced vowels of
# "addition" / "edition", "were" / "whirr". Used only to decide what sounds *the same*: such a word
# taught as another word would teach a model to reject its own word.
HEARD_ALIKE = {"ɔːɹ": "oːɹ", "ɔɹ": "oːɹ", "ɑː": "ɔː", "ɔ": "ɔː", "ɒ": "ɔː", "ᵻ": "ə", "ɐ": "ə", "ɚ": "ɜː"}


@dataclass(frozen=True)
class Confusable:
    """A proposed word, how it resembles the user's word, and its phoneme edit distance to it."""

    word: str
    kind: str  # "rhyme", "onset" or "near"
    edits: int


@dataclass(frozen=True)
class Lexicon:
    """Words in frequency order with their phoneme tokens (stress marks kept on the vowels)."""

    words: tuple[str, ...]
    phonemes: tuple[tuple[str, ...], ...]

    @classmethod
    def load(cls, path: str | Path = WORD_LIST) -> "Lexicon":
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DataError(f"{path}: cannot read the word list ({exc.strerror or exc}); "
                            "reinstall speechrnn") from None
        words, phonemes = [], []
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.startswith("#"):
                continue
            word, _, sounds = line.partition("\t")
            if not sounds.strip():
                raise DataError(f"{path}:{number}: expected 'word<TAB>phonemes'")
            words.append(word.strip().lower())
            phonemes.append(tuple(sounds.split()))
        return cls(tuple(words), tuple(phonemes))

    def lookup(self, word: str) -> tuple[str, ...] | None:
        try:
            return self.phonemes[self.words.index(word.lower())]
        except ValueError:
            return None


def espeak_phonemes(word: str) -> tuple[str, ...] | None:
    """espeak-ng's phoneme tokens of ``word``, or None without espeak-ng (or for no output)."""
    if shutil.which(ESPEAK) is None:
        return None
    try:
        done = subprocess.run([ESPEAK, "-q", "--ipa", "--sep=_", "-v", ESPEAK_VOICE, word],
                              capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    tokens = tuple(t for t in done.stdout.strip().replace(" ", "_").split("_") if t)
    return tokens if done.returncode == 0 and tokens else None


def _bare(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Tokens without stress marks."""
    return tuple(t.lstrip(PRIMARY_STRESS + SECONDARY_STRESS) for t in tokens)


def _heard(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Tokens without stress marks, with the sounds of HEARD_ALIKE made one: what a listener tells apart."""
    return tuple(HEARD_ALIKE.get(token, token) for token in _bare(tokens))


def _is_vowel(token: str) -> bool:
    return any(char in VOWEL_CHARS for char in token)


def onset(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The consonants before the first vowel and that vowel (stress marks removed): "l aɪ"."""
    bare = _bare(tokens)
    for index, token in enumerate(bare):
        if _is_vowel(token):
            return bare[: index + 1]
    return bare


def rhyme(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """From the primary-stressed vowel to the end ("aɪ t s"); unstressed: from the last vowel run."""
    for index, token in enumerate(tokens):
        if token.startswith(PRIMARY_STRESS):
            return _bare(tokens[index:])
    bare = _bare(tokens)
    vowels = [i for i, t in enumerate(bare) if _is_vowel(t)]
    if not vowels:
        return bare
    start = vowels[-1]
    while start > 0 and _is_vowel(bare[start - 1]):
        start -= 1
    return bare[start:]


def edit_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Levenshtein distance over phoneme tokens."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _contains(whole: tuple[str, ...], part: tuple[str, ...]) -> bool:
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


def pronounce(word: str, lexicon: Lexicon) -> tuple[tuple[str, ...], bool]:
    """(tokens, by_sound): phonemes from the list or espeak-ng, else the letters (by_sound False)."""
    tokens = lexicon.lookup(word) or espeak_phonemes(word)
    if tokens:
        return tokens, True
    return tuple(word.lower()), False


def _classify(target: tuple[str, ...], candidate: tuple[str, ...]) -> tuple[str, int] | None:
    heard_target, heard_candidate = _heard(target), _heard(candidate)
    if heard_candidate == heard_target or _contains(heard_candidate, heard_target):
        return None  # a homophone, or a word that contains the whole word
    bare_target, bare_candidate = _bare(target), _bare(candidate)
    if abs(len(bare_candidate) - len(bare_target)) > MAX_EDITS:
        return None
    edits = edit_distance(bare_target, bare_candidate)
    if edits > MAX_EDITS:
        return None
    if rhyme(candidate) == rhyme(target) and onset(candidate) != onset(target):
        return "rhyme", edits
    if onset(candidate) == onset(target) and rhyme(candidate) != rhyme(target):
        return "onset", edits
    if edits <= MAX_NEAR_EDITS:
        return "near", edits
    return None


def similar_words(word: str, lexicon: Lexicon, count: int = DEFAULT_COUNT,
                  exclude: tuple[str, ...] = ()) -> list[Confusable]:
    """Up to ``count`` words of ``lexicon`` that sound like ``word`` (one word, no spaces).

    Rhymes, onsets and near words take turns, each kind closest first (fewest phoneme edits,
    then most frequent), so a small ``count`` still has some of each.
    """
    word = word.strip().lower()
    target, by_sound = pronounce(word, lexicon)
    avoid = {word} | {w.lower() for w in exclude}
    avoid_sounds = [pronounce(w, lexicon)[0] for w in avoid if w != word]
    by_kind: dict[str, list[tuple[int, int, str]]] = {kind: [] for kind in KINDS}
    for rank, (candidate_word, sounds) in enumerate(zip(lexicon.words, lexicon.phonemes)):
        if candidate_word in avoid:
            continue
        candidate = sounds if by_sound else tuple(candidate_word)
        found = _classify(target, candidate)
        if found is None or any(_heard(candidate) == _heard(other) for other in avoid_sounds):
            continue
        kind, edits = found
        by_kind[kind].append((edits, rank, candidate_word))
    queues = [sorted(by_kind[kind]) for kind in KINDS]
    chosen: list[Confusable] = []
    while len(chosen) < count and any(queues):
        for kind, queue in zip(KINDS, queues):
            if queue and len(chosen) < count:
                edits, _rank, candidate_word = queue.pop(0)
                chosen.append(Confusable(candidate_word, kind, edits))
    return chosen


def confusables(phrase: str, lexicon: Lexicon, count: int = DEFAULT_COUNT,
                exclude: tuple[str, ...] = ()) -> list[str]:
    """Up to ``count`` words or phrases that sound like ``phrase`` (e.g. "lights" -> "nights", "like").

    A phrase ("lights on") gives variants with one word swapped for a similar-sounding one
    ("nights on", "lights own"), each word in turn. ``exclude`` (e.g. the other words of the
    vocabulary) is never proposed, nor anything that sounds like it.
    """
    parts = phrase.lower().split()
    if not parts:
        return []
    others = tuple(w for item in exclude for w in item.lower().split())
    excluded_phrases = {" ".join(item.lower().split()) for item in exclude} | {" ".join(parts)}
    options = [similar_words(part, lexicon, count, others) for part in parts]
    out: list[str] = []
    depth = 0
    while len(out) < count and any(depth < len(o) for o in options):
        for position, found in enumerate(options):
            if depth < len(found) and len(out) < count:
                variant = " ".join(parts[:position] + [found[depth].word] + parts[position + 1:])
                if variant not in excluded_phrases and variant not in out:
                    out.append(variant)
        depth += 1
    return out


def other_words(words: tuple[str, ...], lexicon: Lexicon, count: int, seed: int = 0,
                common: int = COMMON_WORDS) -> list[str]:
    """``count`` everyday words that do not sound like any of ``words``: variety for ``_unknown_``.

    Drawn from the ``common`` most frequent words of at least ``MIN_OTHER_LETTERS`` letters in a
    seeded hash order (deterministic; independent of ``count`` for the ones it picks).
    """
    import hashlib

    parts = [part.lower() for word in words for part in word.split()]
    targets = [pronounce(part, lexicon)[0] for part in parts]
    pool = [(w, p) for w, p in zip(lexicon.words[:common], lexicon.phonemes[:common])
            if len(w) >= MIN_OTHER_LETTERS and w not in parts]
    pool.sort(key=lambda item: hashlib.sha1(f"{seed}:{item[0]}".encode()).hexdigest())
    chosen = []
    for word, sounds in pool:
        if len(chosen) == count:
            break
        heard = _heard(sounds)
        if any(_classify(target, sounds) is not None or heard == _heard(target) or _contains(heard, _heard(target))
               for target in targets):
            continue  # sounds like a word of the vocabulary: that is the similar words' job
        chosen.append(word)
    return chosen
