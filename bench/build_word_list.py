"""Rebuild ``speechrnn/data/common_words.tsv``: common English words with their espeak-ng phonemes.

    pip install wordfreq==3.1.1     # only for this script; speechrnn itself does not need it
    .venv/bin/python -m bench.build_word_list

The list feeds :mod:`speechrnn.confusables` (words that rhyme with or start like a user's word).
Words: wordfreq's most frequent English words, letters only, without abbreviations spoken letter
by letter (espeak-ng spells them: "bbc", "dvd") or as numerals ("ii"). Phonemes: espeak-ng's IPA
(American English voice), one token per phoneme, stress marks kept on the vowel they stress.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "speechrnn" / "data" / "common_words.tsv"
WORDS = 8000  # the most frequent words kept (after filtering)
CANDIDATES = 12000  # wordfreq words read to find them
VOICE = "en-us"
VOWEL_LETTERS = set("aeiouy")
MAX_EXTRA_PHONEMES = 2  # more phonemes than letters + this: spelled out letter by letter


def phonemize(words: list[str]) -> list[str]:
    """espeak-ng's phonemes of each word, ``_``-separated (one clause per word: "word.")."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{w}.\n" for w in words))
    done = subprocess.run(["espeak-ng", "-q", "--ipa", "--sep=_", "-v", VOICE, "-f", f.name],
                          capture_output=True, text=True, check=True)
    Path(f.name).unlink()
    lines = [line.strip() for line in done.stdout.splitlines()]
    if len(lines) != len(words):
        raise RuntimeError(f"espeak-ng gave {len(lines)} lines for {len(words)} words")
    return lines


def keep(word: str, phonemes: str) -> bool:
    tokens = phonemes.split("_")
    return (bool(VOWEL_LETTERS & set(word)) and " " not in phonemes and "" not in tokens
            and len(tokens) <= len(word) + MAX_EXTRA_PHONEMES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.build_word_list", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    try:
        import wordfreq
    except ImportError:
        print("needs wordfreq: pip install wordfreq==3.1.1", file=sys.stderr)
        return 2
    from importlib.metadata import version

    words = [w for w in wordfreq.top_n_list("en", CANDIDATES) if re.fullmatch(r"[a-z]{2,}", w)]
    phonemes = phonemize(words)
    rows = [(w, p.replace("_", " ")) for w, p in zip(words, phonemes) if keep(w, p)][:WORDS]
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.split(":")[1].split()[0]
    header = f"""# Common English words, most frequent first, with espeak-ng phonemes (for speechrnn.confusables).
# Words: the {len(rows)} most frequent English words of wordfreq {version('wordfreq')} (Robyn Speer et al.,
#   https://github.com/rspeer/wordfreq), letters only, abbreviations left out. wordfreq's frequency
#   data is licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); it is built from
#   Wikipedia, SUBTLEX, OpenSubtitles, NewsCrawl, GlobalVoices, Google Books Ngrams, Reddit and
#   Twitter counts (see wordfreq's README). This list is a derived work under the same license.
# Phonemes: espeak-ng {espeak} IPA, voice {VOICE}; one token per phoneme, stress marks (primary,
#   secondary) in front of the vowel they stress.
# Rebuild: pip install wordfreq==3.1.1 && python -m bench.build_word_list
# word<TAB>phonemes
"""
    Path(args.out).write_text(header + "".join(f"{w}\t{p}\n" for w, p in rows), encoding="utf-8")
    print(f"{len(rows)} words into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
