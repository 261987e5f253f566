"""Backgrounds of real rooms: babble from speech clips and steady hum, for training and stream-eval."""

from __future__ import annotations

import numpy as np
import torch
from datapaths import SPEECH_COMMANDS

from speechrnn.audio.io import load_audio
from speechrnn.data.background import (
    BABBLE_PAUSE_S,
    EVAL_LEVEL_RMS,
    babble,
    hum,
    with_room_noises,
    word_bounds,
    write_room_noises,
)

RATE = 16000


def test_hum_is_its_fundamental_and_harmonics():
    generator = torch.Generator().manual_seed(0)
    tone = hum(torch.tensor([100.0]), RATE, RATE, generator)[0].numpy()  # 1 s: 1 Hz bins
    spectrum = np.abs(np.fft.rfft(tone))
    strongest = set(np.argsort(spectrum)[-3:].tolist())
    assert strongest <= {100 * k for k in range(1, 9)}
    assert spectrum[100 * 1] > 10 * np.median(spectrum)
    assert spectrum[150] < 1e-3 * spectrum.max()  # nothing between harmonics


def test_babble_overlaps_several_voices_from_a_pool():
    clips = torch.zeros(4, RATE)
    clips[2] = 0.5  # the only loud clip, and the only one in the pool
    generator = torch.Generator().manual_seed(0)
    out = babble(clips, rows=2, samples=3 * RATE, voices=3, generator=generator, pool=torch.tensor([2]))
    assert out.shape == (2, 3 * RATE)
    assert torch.allclose(out, torch.full_like(out, 1.5))  # three voices of the pool's clip, end to end


def test_room_noise_files_for_stream_eval(tmp_path):
    speech = sorted((SPEECH_COMMANDS / "yes").glob("*.wav")) + sorted((SPEECH_COMMANDS / "no").glob("*.wav"))
    paths = write_room_noises(speech, tmp_path, seconds=4.0, sample_rate_hz=RATE, seed=1)
    assert [p.name for p in paths] == ["babble.wav", "hum.wav"]
    for path in paths:
        audio = load_audio(path, RATE).astype(np.float64)
        assert audio.size == 4 * RATE
        assert abs(np.sqrt(np.mean(audio**2)) - EVAL_LEVEL_RMS) < 1e-3
    chatter = load_audio(paths[0], RATE)
    levels = [np.sqrt(np.mean(chatter[i : i + 1600] ** 2)) for i in range(0, chatter.size, 1600)]
    assert max(levels) > 2 * min(levels)  # speech-like: it comes and goes, unlike the hum


def test_room_noises_join_the_recordings_and_leave_out_the_vocabulary(tmp_path):
    noise = tmp_path / "noise_in"
    noise.mkdir()
    (noise / "fan.wav").symlink_to(sorted((SPEECH_COMMANDS / "two").glob("*.wav"))[0])
    folder = with_room_noises(noise, SPEECH_COMMANDS, tmp_path / "work", seed=0,
                              vocabulary={"yes", "no", "one", "two", "three"})
    assert sorted(p.name for p in folder.iterdir()) == ["babble.wav", "fan.wav", "hum.wav"]
    other = tmp_path / "other_noise_in"
    other.mkdir()
    (other / "tap.wav").symlink_to(sorted((SPEECH_COMMANDS / "one").glob("*.wav"))[0])
    second = with_room_noises(other, SPEECH_COMMANDS, tmp_path / "work", seed=0,
                              vocabulary={"yes", "no", "one", "two", "three"})
    assert sorted(p.name for p in second.iterdir()) == ["babble.wav", "hum.wav", "tap.wav"]  # no fan left over


def test_babble_from_speech_bounds_talks_on_without_silences():
    clips = torch.zeros(3, RATE)
    clips[:, RATE // 5 : 3 * RATE // 5] = 0.5  # 0.4 s of "speech" in each 1 s clip
    bounds = word_bounds(clips, RATE)
    assert bounds[0].tolist() == [RATE // 5, 3 * RATE // 5]
    silent = {}
    for name, kwargs in (("clips", {}), ("speech", {"bounds": bounds, "sample_rate_hz": RATE})):
        out = babble(clips, rows=1, samples=10 * RATE, voices=1, generator=torch.Generator().manual_seed(0), **kwargs)
        quiet = np.concatenate([[False], (out[0] == 0).numpy(), [False]]).astype(int)
        edges = np.flatnonzero(np.diff(quiet))
        silent[name] = int(np.max(edges[1::2] - edges[::2]))  # the longest run of silence, in samples
    assert silent["clips"] >= 0.6 * RATE  # whole clips: each word's silence around it
    assert silent["speech"] <= max(BABBLE_PAUSE_S) * RATE + 1  # only short pauses between words
