"""A listener left running: the memory and CPU of ``speechrnn listen`` or the app over time.

    .venv/bin/python -m bench.listen_soak [--app cli|gui] [--minutes 20] [--model digits] [--json OUT]

A private virtual microphone (``tests/virtual_mic.py``, the one the audio tests use: PulseAudio ->
ALSA -> PortAudio, as on a desktop) plays a stream in a loop: words of ``tests/data`` (digits and
Speech Commands words) every 1-3 s over the bundled babble (``assets/noise``), so the listener
detects, lists and keeps what it heard all along. The listener runs as a user starts it, in a
process of its own (the app offscreen, its settings in a temporary folder); every ``--every``
seconds its resident memory (VmRSS) and CPU time are read from ``/proc``. Reported: memory at the
first sample, the peak and the last; the growth per hour over the second half (the app's lists
of detections and what they heard are bounded, and fill in the first minutes); CPU as a share of
one core. Linux only (``/proc``, PulseAudio).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.context import REPO, TEST_DATA

STREAM_MINUTES = 5.0  # the looped stream's length
NOISE_FILE = REPO / "assets" / "noise" / "babble.flac"
WORD_FOLDERS = ("held_out_digits", "speech_commands")  # folders of tests/data: <word>/<clip>
NOISE_PEAK = 0.09  # the babble's peak level, full scale 1
WORD_PEAK = 0.5  # each word's peak level
GAP_S = (1.0, 3.0)  # silence (babble only) between words
SAMPLE_EVERY_S = 30.0
APPS = ("cli", "gui")


def stream_samples(sample_rate_hz: int, minutes: float = STREAM_MINUTES, seed: int = 0):
    """A stream of words over babble (float32 mono at ``sample_rate_hz``)."""
    import numpy as np

    from speechrnn.audio.io import load_audio

    generator = random.Random(seed)
    clips = sorted(p for folder in WORD_FOLDERS for p in (TEST_DATA / folder).glob("*/*") if p.is_file())
    words = [load_audio(path, sample_rate_hz) for path in clips]
    noise = load_audio(NOISE_FILE, sample_rate_hz)
    out = np.resize(noise, round(minutes * 60 * sample_rate_hz)).astype(np.float32)
    out *= NOISE_PEAK / max(float(np.abs(out).max()), 1e-9)
    position = sample_rate_hz
    while True:
        word = generator.choice(words)
        if position + word.size > out.size:
            break
        out[position : position + word.size] += word * (WORD_PEAK / max(float(np.abs(word).max()), 1e-9))
        position += word.size + round(generator.uniform(*GAP_S) * sample_rate_hz)
    return np.clip(out, -1.0, 1.0)


def growth_per_hour(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) over the second half of ``samples``, in MiB per hour
    (None with fewer than three samples there)."""
    if not samples:
        return None
    half = samples[-1][0] / 2
    tail = [(t, v) for t, v in samples if t >= half]
    if len(tail) < 3:
        return None
    mean_t = sum(t for t, _ in tail) / len(tail)
    mean_v = sum(v for _, v in tail) / len(tail)
    spread = sum((t - mean_t) ** 2 for t, _ in tail)
    return 3600.0 * sum((t - mean_t) * (v - mean_v) for t, v in tail) / spread


def process_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, resident MiB) of process ``pid``, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return cpu_s, int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def listener_command(app: str, model: str) -> list[str]:
    if app == "gui":
        return [sys.executable, "-m", "gui", "--model", model]
    return [sys.executable, "-m", "speechrnn", "listen", "--model", model]


def soak(app: str, model: str, minutes: float, every_s: float, work: Path, mic=None) -> dict:
    """Run the listener ``minutes`` against the virtual microphone (``mic``, a started
    ``VirtualMic``; None starts one of its own); the figures (see the module)."""
    sys.path.insert(0, str(REPO / "tests"))
    from virtual_mic import SINK, VirtualMic

    from speechrnn.audio.io import write_wav_atomic

    rate_hz = 16000
    stream = write_wav_atomic(work / "stream.wav", stream_samples(rate_hz), rate_hz)
    own_mic = mic is None
    if own_mic:
        mic = VirtualMic(rate_hz).start()
    env = {**os.environ, **mic.env()}
    player = subprocess.Popen(["bash", "-c", f'while paplay --device={SINK} "$0"; do :; done', str(stream)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = open(work / "listener.log", "w")
    listener = subprocess.Popen(listener_command(app, model), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**env, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(work / "config"),
                                     "XDG_DATA_HOME": str(work / "data")})
    samples: list[tuple[float, float]] = []
    cpu: list[tuple[float, float]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < minutes * 60:
            time.sleep(every_s)
            if listener.poll() is not None:
                raise RuntimeError(f"the listener stopped (exit status {listener.returncode}); see {log.name}")
            cpu_s, rss_mib = process_usage(listener.pid)
            elapsed = time.monotonic() - started
            samples.append((elapsed, rss_mib))
            cpu.append((elapsed, cpu_s))
            print(f"{elapsed:7.0f} s  {rss_mib:7.1f} MiB  {cpu_s:7.1f} s CPU", flush=True)
    finally:
        listener.terminate()
        listener.wait(30)
        log.close()
        os.killpg(player.pid, signal.SIGTERM)  # the loop and the paplay it runs
        player.wait(30)
        if own_mic:
            mic.stop()
    if len(samples) < 2:
        raise RuntimeError("too short to measure: run for at least two --every periods")
    growth = growth_per_hour(samples)
    return {
        "app": app, "model": model, "minutes": round(samples[-1][0] / 60, 1), "every_s": every_s,
        "rss_mib_first": round(samples[0][1], 1), "rss_mib_peak": round(max(v for _, v in samples), 1),
        "rss_mib_last": round(samples[-1][1], 1),
        "rss_growth_mib_per_hour_second_half": None if growth is None else round(growth, 2),
        "cpu_percent_of_one_core": round(100 * (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0]), 1),
        "samples": [[round(t, 1), round(v, 1)] for t, v in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.listen_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=APPS, default="cli", help="speechrnn listen (cli) or the app (gui)")
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to listen (default 20)")
    parser.add_argument("--model", default="digits", help="digits, commands or a model file (default digits)")
    parser.add_argument("--every", type=float, default=SAMPLE_EVERY_S, help="seconds between samples (default 30)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="speechrnn-soak-") as work:
        result = soak(args.app, args.model, args.minutes, args.every, Path(work))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
