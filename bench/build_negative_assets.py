"""Rebuild the bundled negative speech (``assets/negatives/``) and noise (``assets/noise/``).

    .venv/bin/python -m bench.build_negative_assets --data-root ../shared/data

Every custom-word model learns "not my word" from these (``speechrnn.negatives``). Deterministic:
the same data gives byte-identical files. What is selected and why is written into each folder's
ATTRIBUTION.txt (and explained in ``speechrnn/negatives.py``):

* negatives: clips of every Speech Commands word (digits and command words included: people say
  them, and a custom word must not fire on them; a custom word set that holds one of them takes
  its folder as examples of that word, not as other words), one clip per speaker, speakers chosen
  in the order of a hash of their id, round-robin over the words so that every word gets as many
  speakers as it can; no speaker of the v2 half test set's ``testing_list.txt`` (held-out material
  of the bundled models) or ``validation_list.txt`` (the speakers ``bench.custom_word
  --split validation`` chooses settings on).
* noise: cuts of the Speech Commands background-noise recordings (without ``dude_miaowing.wav``
  and ``exercise_bike.wav``, the held-out test noises of the digits recipe), a babble track of
  several negative speakers talking at once, and a hum track (generated mains hum under the
  recordings' pink noise, low-passed like a fan or fridge).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE_HZ = 16000
# Sources of negative clips under --data-root, with the speaker ids to leave out.
NEGATIVE_SOURCES = ("speech_commands_v1_bed_cat_happy", "speech_commands_v2_testset_half", "speech_commands_sample")
HELD_OUT_SOURCE = "speech_commands_v2_testset_half"  # the speakers of its lists are held out
HELD_OUT_LISTS = ("testing_list.txt", "validation_list.txt")
NOISE_SOURCE = "speech_commands_background_noise"
# The digits recipe's held-out test noises (speechrnn.recipes.TEST_NOISES): never bundled.
EXCLUDED_NOISES = ("dude_miaowing.wav", "exercise_bike.wav")
# Speech Commands has thousands of speakers of bed/cat/happy and a few dozen of most other words
# here: every clip of the scarce words, and this many of the plentiful ones (about 800 clips of
# 35 words, 12 MB of FLAC).
CLIPS_PER_WORD = 40
# Seconds cut from each recording (from its start), and the constructed tracks' lengths.
NOISE_CUTS_S = {"doing_the_dishes.wav": 50.0, "running_tap.wav": 35.0, "pink_noise.wav": 10.0,
                "white_noise.wav": 10.0}
BABBLE_S = 60.0
BABBLE_VOICES = 5  # speakers talking at once (4-6 make babble: single words are no longer followed)
BABBLE_SPEAKERS_PER_VOICE = 12  # each voice is a group of speakers (no speaker in two voices)
BABBLE_GAP_S = (0.05, 0.4)  # pause between one voice's words
BABBLE_PEAK = 0.5  # output peak (the augmenter rescales noise to the drawn SNR anyway)
HUM_S = 30.0
HUM_MAINS_HZ = (50.0, 60.0)  # first half of the track at 50 Hz (Europe), second at 60 Hz (Americas)
HUM_HARMONICS = 6  # mains hum is rich in odd and even harmonics (transformer magnetostriction)
HUM_RUMBLE_CUTOFF_HZ = 300.0  # the pink noise low-passed here sounds like a fan or fridge
HUM_TONE_LEVEL = 0.05  # peak of the harmonic tone
HUM_RUMBLE_LEVEL = 0.1  # RMS-ish level of the rumble
SEED = 0
FLAC_SUBTYPE = "PCM_16"
LICENSE_FILE = "LICENSE"


@dataclass(frozen=True)
class Candidate:
    source: str
    word: str
    speaker: str
    path: Path


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _speaker(path: Path) -> str:
    return path.name.split("_nohash_")[0]


def held_out_speakers(data_root: Path) -> set[str]:
    lines = []
    for name in HELD_OUT_LISTS:
        lines += (data_root / HELD_OUT_SOURCE / name).read_text(encoding="utf-8").split()
    return {_speaker(Path(line)) for line in lines}


def candidates(data_root: Path) -> list[Candidate]:
    from speechrnn.data.layout import is_audio_file

    skip_speakers = held_out_speakers(data_root)
    found = []
    for source in NEGATIVE_SOURCES:
        root = data_root / source
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
            for path in sorted(folder.iterdir()):
                if is_audio_file(path) and "_nohash_" in path.name and _speaker(path) not in skip_speakers:
                    found.append(Candidate(source, folder.name, _speaker(path), path))
    return found


def select_negatives(found: list[Candidate], per_word: int) -> list[Candidate]:
    """At most ``per_word`` clips per word, one per speaker and word, fresh speakers first.

    Words with the fewest speakers choose first; each word takes speakers no other word has taken
    yet before it takes any speaker again, in the order of a hash of the speaker id.
    """
    by_word: dict[str, dict[str, Candidate]] = {}
    for cand in sorted(found, key=lambda c: _digest(f"{c.source}/{c.word}/{c.path.name}")):
        by_word.setdefault(cand.word, {}).setdefault(cand.speaker, cand)  # one clip per speaker and word
    used: set[str] = set()
    chosen = []
    for word in sorted(by_word, key=lambda w: (len(by_word[w]), w)):
        speakers = sorted(by_word[word], key=lambda s: (s in used, _digest(s)))[:per_word]
        used.update(speakers)
        chosen += [by_word[word][s] for s in speakers]
    return sorted(chosen, key=lambda c: (c.word, c.path.name))


def _write_flac(path: Path, samples: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(samples, -1.0, 1.0), SAMPLE_RATE_HZ, subtype=FLAC_SUBTYPE, format="FLAC")


def write_negatives(chosen: list[Candidate], out: Path) -> None:
    from speechrnn.audio.io import load_audio

    for cand in chosen:
        name = Path(cand.path.name).with_suffix(".flac").name
        _write_flac(out / cand.word / name, load_audio(cand.path, SAMPLE_RATE_HZ))


def babble(chosen: list[Candidate], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """``BABBLE_VOICES`` streams of different speakers' words, overlapped at random offsets."""
    from speechrnn.audio.io import load_audio
    from speechrnn.record import trim_to_speech

    length = int(seconds * SAMPLE_RATE_HZ)
    speakers = sorted({c.speaker for c in chosen}, key=_digest)
    groups = np.array_split(np.array(speakers[: BABBLE_VOICES * BABBLE_SPEAKERS_PER_VOICE]), BABBLE_VOICES)
    clips = {}
    for cand in chosen:
        clips.setdefault(cand.speaker, []).append(cand.path)
    mix = np.zeros(length, dtype=np.float64)
    for group in groups:
        voice = np.zeros(length, dtype=np.float64)
        position = int(rng.uniform(0, 1.0) * SAMPLE_RATE_HZ)  # each voice starts at its own offset
        while position < length:
            speaker = str(group[rng.integers(len(group))])
            path = clips[speaker][rng.integers(len(clips[speaker]))]
            word, _, _ = trim_to_speech(load_audio(path, SAMPLE_RATE_HZ), SAMPLE_RATE_HZ)
            if word.size == 0:
                continue
            word = word / max(float(np.sqrt(np.mean(word ** 2))), 1e-6)  # equal loudness per word
            end = min(length, position + word.size)
            voice[position:end] += word[: end - position]
            position = end + int(rng.uniform(*BABBLE_GAP_S) * SAMPLE_RATE_HZ)
        mix += voice
    return (mix * (BABBLE_PEAK / np.abs(mix).max())).astype(np.float32)


def hum(pink: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 Hz, then 60 Hz) with harmonics over low-passed pink noise (fan / fridge rumble)."""
    import torch
    import torchaudio.functional as AF

    length = int(seconds * SAMPLE_RATE_HZ)
    start = int(rng.integers(0, pink.size - length))
    rumble = AF.lowpass_biquad(torch.from_numpy(pink[start : start + length].copy()), SAMPLE_RATE_HZ,
                               HUM_RUMBLE_CUTOFF_HZ).numpy()
    rumble *= HUM_RUMBLE_LEVEL / max(float(np.sqrt(np.mean(rumble ** 2))), 1e-6)
    t = np.arange(length) / SAMPLE_RATE_HZ
    half = length // 2
    tone = np.zeros(length)
    for part, mains in zip((slice(0, half), slice(half, length)), HUM_MAINS_HZ):
        for harmonic in range(1, HUM_HARMONICS + 1):
            phase = rng.uniform(0, 2 * np.pi)
            tone[part] += np.sin(2 * np.pi * mains * harmonic * t[part] + phase) / harmonic
    tone *= HUM_TONE_LEVEL / np.abs(tone).max()
    return (rumble + tone).astype(np.float32)


def write_noise(data_root: Path, chosen: list[Candidate], out: Path) -> dict[str, float]:
    from speechrnn.audio.io import load_audio

    rng = np.random.default_rng(SEED)
    seconds = {}
    for name, cut_s in NOISE_CUTS_S.items():
        wave = load_audio(data_root / NOISE_SOURCE / name, SAMPLE_RATE_HZ)[: int(cut_s * SAMPLE_RATE_HZ)]
        _write_flac(out / Path(name).with_suffix(".flac").name, wave)
        seconds[Path(name).stem] = wave.size / SAMPLE_RATE_HZ
    _write_flac(out / "babble.flac", babble(chosen, BABBLE_S, rng))
    seconds["babble"] = BABBLE_S
    pink = load_audio(data_root / NOISE_SOURCE / "pink_noise.wav", SAMPLE_RATE_HZ)
    _write_flac(out / "hum.flac", hum(pink, HUM_S, rng))
    seconds["hum"] = HUM_S
    return seconds


def negatives_attribution(chosen: list[Candidate]) -> str:
    words: dict[str, int] = {}
    for cand in chosen:
        words[cand.word] = words.get(cand.word, 0) + 1
    sources: dict[str, int] = {}
    for cand in chosen:
        sources[cand.source] = sources.get(cand.source, 0) + 1
    return f"""Bundled negative speech ("other words") for custom-word models
===============================================================

Source   : Speech Commands Data Set (Pete Warden, Google; "Speech Commands: A Dataset for
           Limited-Vocabulary Speech Recognition", arXiv:1804.03209), v0.01 and v0.02.
License  : Creative Commons Attribution 4.0 International (CC BY 4.0), full text in LICENSE.
Changes  : selected clips only, decoded and re-encoded as FLAC (lossless, 16 kHz, mono, 16-bit);
           names unchanged (<word>/<speaker hash>_nohash_<n>.flac), so splits by speaker still work.

What     : {len(chosen)} clips of {len(words)} words by {len({c.speaker for c in chosen})} different speakers
           used as _unknown_ examples by every custom-word model
           (speechrnn.negatives; `speechrnn train --negatives bundled`, the Train panel's
           "Other words" box).
Words    : {", ".join(f"{w} ({n})" for w, n in sorted(words.items()))}
From     : {", ".join(f"{s} ({n} clips)" for s, n in sorted(sources.items()))}
           (the project's development copies of Speech Commands; see their ATTRIBUTION.txt)

How they were chosen (bench/build_negative_assets.py, deterministic):
* Every word, digits (zero..nine) and the ten command words (yes, no, up, ...) included: people
  say them, and a custom word must not fire on them. A custom word set that holds one of them
  (say "yes") takes that folder as real speakers of its word, never as other words.
* No speaker of speech_commands_v2_testset_half/testing_list.txt (held-out test material of the
  bundled models) or of its validation_list.txt (the speakers bench/custom_word.py chooses
  custom-word settings on).
* One clip per speaker and word; words choose in turn, the word with the fewest speakers
  first, each preferring speakers that no other word has taken yet, in the order of the SHA-1 of
  the speaker id, up to {CLIPS_PER_WORD} clips a word: many speakers and every available word
  rather than many clips of a few. (The source copies hold fewer speakers than that of most
  words: all of them are taken.)
"""


def noise_attribution(seconds: dict[str, float], speakers: int) -> str:
    total = sum(seconds.values())
    lines = "\n".join(f"  {name + '.flac':22s} {s:5.1f} s" for name, s in seconds.items())
    return f"""Bundled background noise for training
=====================================

Source   : Speech Commands Data Set, folder _background_noise_ (Pete Warden, Google;
           arXiv:1804.03209). The recorded files were collected by Pete Warden in July 2017;
           pink and white noise were generated by the dataset's authors.
License  : Creative Commons Attribution 4.0 International (CC BY 4.0), full text in LICENSE.
           babble.flac is made of Speech Commands clips (CC BY 4.0, see ../negatives/ATTRIBUTION.txt);
           hum.flac is a generated tone over pink_noise.wav (CC BY 4.0) low-passed.
Changes  : cut, mixed and re-encoded as FLAC (16 kHz, mono, 16-bit).

Files ({total / 60:.1f} min in all; mixed into training clips and used as _silence_ by every model
trained without other noise: speechrnn.negatives, `speechrnn train`'s default --noise-dir, the
Train panel's default Noise folder)
{lines}

* doing_the_dishes, running_tap, pink_noise, white_noise: the first seconds of the recordings
  named so.
* dude_miaowing.wav and exercise_bike.wav are left out: they are the held-out test noises of the
  bundled model's recipe (speechrnn.recipes.TEST_NOISES).
* babble: {BABBLE_VOICES} voices talking at once, each a stream of words of the bundled negative
  set's speakers ({min(speakers, BABBLE_VOICES * BABBLE_SPEAKERS_PER_VOICE)} of them, {BABBLE_SPEAKERS_PER_VOICE} per voice) with short pauses, starting at random offsets
  (seed {SEED}): the crowd/TV/conversation background where false alarms come from.
* hum: mains hum with {HUM_HARMONICS} harmonics ({HUM_MAINS_HZ[0]:.0f} Hz in the first half, {HUM_MAINS_HZ[1]:.0f} Hz in the second)
  over pink noise low-passed at {HUM_RUMBLE_CUTOFF_HZ:.0f} Hz (a fan or fridge).

Rebuild: .venv/bin/python -m bench.build_negative_assets --data-root ../shared/data
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.build_negative_assets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="folder with the Speech Commands copies")
    parser.add_argument("--out", default=str(REPO / "assets"), help="assets folder (default: the checkout's)")
    args = parser.parse_args(argv)
    data_root, out = Path(args.data_root), Path(args.out)
    for name in HELD_OUT_LISTS:
        if not (data_root / HELD_OUT_SOURCE / name).is_file():
            print(f"{data_root}: no {HELD_OUT_SOURCE}/{name} (wrong --data-root?)", file=sys.stderr)
            return 2
    chosen = select_negatives(candidates(data_root), CLIPS_PER_WORD)
    negatives, noise = out / "negatives", out / "noise"
    for folder in (negatives, noise):
        if folder.exists():
            shutil.rmtree(folder)
    write_negatives(chosen, negatives)
    shutil.copyfile(data_root / NEGATIVE_SOURCES[1] / LICENSE_FILE, negatives / LICENSE_FILE)
    (negatives / "ATTRIBUTION.txt").write_text(negatives_attribution(chosen), encoding="utf-8")
    seconds = write_noise(data_root, chosen, noise)
    shutil.copyfile(data_root / NOISE_SOURCE / LICENSE_FILE, noise / LICENSE_FILE)
    (noise / "ATTRIBUTION.txt").write_text(noise_attribution(seconds, len({c.speaker for c in chosen})),
                                           encoding="utf-8")
    print(f"{len(chosen)} negative clips into {negatives}; {sum(seconds.values()) / 60:.1f} min of noise into {noise}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
