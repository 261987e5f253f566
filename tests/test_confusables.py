"""Similar-sounding words for a custom word: rhymes, shared onsets, near words; deterministic."""

from __future__ import annotations

import pytest

from speechrnn import confusables as conf
from speechrnn.confusables import Lexicon, confusables, onset, rhyme, similar_words


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def test_the_shipped_word_list_is_large_attributed_and_has_phonemes(lexicon):
    assert len(lexicon.words) >= 5000 and len(set(lexicon.words)) == len(lexicon.words)
    header = [line for line in conf.WORD_LIST.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any("CC BY-SA 4.0" in line for line in header) and any("wordfreq" in line for line in header)
    assert lexicon.lookup("lights") == ("l", "ˈaɪ", "t", "s")
    assert all(phonemes for phonemes in lexicon.phonemes)


def test_onset_and_rhyme_follow_the_stress():
    lights = ("l", "ˈaɪ", "t", "s")
    assert onset(lights) == ("l", "aɪ") and rhyme(lights) == ("aɪ", "t", "s")
    hello = ("h", "ə", "l", "ˈoʊ")
    assert onset(hello) == ("h", "ə") and rhyme(hello) == ("oʊ",)  # the stressed syllable, not the first
    assert rhyme(tuple("lights")) == tuple("ights")  # spelled words: from the last vowel run


def test_lights_gives_rhymes_and_onsets(lexicon):
    found = similar_words("lights", lexicon, 12)
    kinds = {item.word: item.kind for item in found}
    assert {"nights", "rights"} <= {w for w, k in kinds.items() if k == "rhyme"}
    assert {"like", "likes"} <= {w for w, k in kinds.items() if k == "onset"}
    assert {item.kind for item in found} == {"rhyme", "onset", "near"}  # a small count still mixes kinds
    assert "lights" not in kinds and len(found) == 12
    assert all(item.edits <= conf.MAX_EDITS for item in found)


def test_it_is_deterministic(lexicon):
    assert confusables("lights", lexicon) == confusables("lights", Lexicon.load())
    assert confusables("music", lexicon, 5) == confusables("music", lexicon, 5)


def test_homophones_and_words_containing_the_word_are_never_proposed():
    lexicon = Lexicon(
        words=("lites", "highlights", "nights", "bikes", "cat"),
        phonemes=(("l", "ˈaɪ", "t", "s"), ("h", "ˈaɪ", "l", "aɪ", "t", "s"), ("n", "ˈaɪ", "t", "s"),
                  ("b", "ˈaɪ", "k", "s"), ("k", "ˈæ", "t")),
    )
    target = {"lights": ("l", "ˈaɪ", "t", "s")}
    lexicon = Lexicon(lexicon.words + tuple(target), lexicon.phonemes + tuple(target.values()))
    assert confusables("lights", lexicon) == ["nights", "bikes"]  # not "lites" (same sound), not "highlights"


def test_other_vocabulary_words_are_excluded(lexicon):
    assert "nights" not in confusables("lights", lexicon, 30, exclude=("nights",))
    assert "rights" not in confusables("lights", lexicon, 30, exclude=("lights", "rights"))


def test_a_phrase_gets_variants_with_one_word_swapped(lexicon):
    variants = confusables("lights on", lexicon, 8, exclude=("lights off",))
    assert len(variants) == 8 and "lights off" not in variants
    assert all(len(v.split()) == 2 for v in variants)
    assert any(v.endswith(" on") for v in variants) and any(v.startswith("lights ") for v in variants)


def test_without_espeak_an_unknown_word_is_compared_by_spelling(lexicon, monkeypatch):
    monkeypatch.setattr(conf, "espeak_phonemes", lambda word: None)
    found = confusables("blights", lexicon, 6)  # not in the list
    assert found and all(w != "blights" for w in found)
    assert any(w.endswith("ights") for w in found)


def test_other_words_are_everyday_words_that_sound_unlike_the_word(lexicon):
    from speechrnn.confusables import other_words

    found = other_words(("lights",), lexicon, 40)
    assert len(found) == len(set(found)) == 40 and found == other_words(("lights",), lexicon, 40)
    assert found[:10] == other_words(("lights",), lexicon, 10)  # more words keep the first ones
    similar = set(confusables("lights", lexicon, 200))
    assert not similar & set(found) and "lights" not in found
    assert all(len(w) >= conf.MIN_OTHER_LETTERS and w in lexicon.words[: conf.COMMON_WORDS] for w in found)
    assert other_words(("lights",), lexicon, 40, seed=1) != found


def test_words_a_listener_hears_as_the_word_are_never_proposed(lexicon):
    # espeak-ng writes "for" f ɔːɹ and "four" f oːɹ, "forth" and "fourth" likewise, "don" with ɑː and
    # "dawn" with ɔː; most speakers say each pair alike, so the first of a pair taught as another word
    # would teach a model of the second to reject itself.
    for word, same in (("four", "for"), ("fourth", "forth"), ("wore", "war"), ("dawn", "don"),
                       ("edition", "addition")):
        assert same not in confusables(word, lexicon, 60), (word, same)
        assert same not in conf.other_words((word,), lexicon, 3000)
    assert "door" in confusables("four", lexicon, 60)  # a rhyme: still proposed
