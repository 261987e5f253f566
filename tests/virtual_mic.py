"""A private virtual microphone for tests on machines without sound hardware.

A PulseAudio daemon of our own (own socket in a temp folder, so it never touches a desktop sound
server) with:

* ``virtual_mic_sink``: a 16 kHz mono null sink; :meth:`VirtualMic.play` writes WAVs into it;
* its monitor as the default source: "the microphone";
* a clocked silent source looped into the sink, so the mic streams continuously (silence between
  clips) and a recording starts at once;
* ``virtual_speaker``: the default output, so nothing a program plays leaks into the mic.

Programs using PortAudio (sounddevice) reach it through ALSA's "pulse" plugin when
:meth:`VirtualMic.env` (``PULSE_SERVER``, ``PULSE_COOKIE``) is in their environment. PortAudio
lists devices once, when sounddevice is imported: run code that records in a subprocess started
with that environment (or import sounddevice only after :meth:`start`).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SINK = "virtual_mic_sink"
START_TIMEOUT_S = 10.0
PLAY_LATENCY_MS = 200  # paplay buffer: avoids gaps on a busy machine, does not delay playback
REQUIRED_PROGRAMS = ("pulseaudio", "pactl", "paplay")


class VirtualMicUnavailable(RuntimeError):
    """PulseAudio (or a piece of the audio stack) is missing or would not start."""


def missing_parts() -> list[str]:
    """What this machine lacks for the virtual microphone (empty when all is there)."""
    missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]
    if not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"):
        missing.append("libasound2-plugins (ALSA pulse plugin)")
    if not glob.glob("/usr/lib/*/libportaudio.so.2"):
        missing.append("libportaudio2")
    return missing


class VirtualMic:
    """Start with :meth:`start`, feed with :meth:`play`, stop with :meth:`stop` (or use ``with``)."""

    def __init__(self, rate_hz: int = 16000):
        self.rate_hz = rate_hz
        self.directory: Path | None = None

    # ------------------------------------------------------------------------------ control
    @property
    def socket(self) -> Path:
        assert self.directory is not None
        return self.directory / "native"

    def env(self) -> dict[str, str]:
        """Environment variables that point PulseAudio clients (and PortAudio) at this mic."""
        assert self.directory is not None
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_COOKIE": str(self.directory / "cookie")}

    def _pa(self, *args: str, timeout: float = 5.0) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env={**os.environ, **self.env()}, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def running(self) -> bool:
        if self.directory is None or not self.socket.exists():
            return False
        try:
            return self._pa("pactl", "info").returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self) -> "VirtualMic":
        missing = missing_parts()
        if missing:
            raise VirtualMicUnavailable("missing " + ", ".join(missing))
        # a short path: unix socket paths are limited to ~107 bytes
        self.directory = Path(tempfile.mkdtemp(prefix="vmic-", dir="/tmp"))
        self._launch()
        return self

    def _launch(self) -> None:
        """Start the daemon in :attr:`directory` (its socket there) and wait until the mic streams."""
        assert self.directory is not None
        script = self.directory / "virtual-mic.pa"
        script.write_text(
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1 auth-cookie-enabled=0\n"
            f"load-module module-null-sink sink_name={SINK} format=s16le rate={self.rate_hz} channels=1 "
            "norewinds=1 sink_properties=device.description=Virtual-microphone-input\n"
            f"load-module module-null-source source_name=virtual_mic_clock format=s16le rate={self.rate_hz} channels=1\n"
            f"load-module module-loopback source=virtual_mic_clock sink={SINK} latency_msec=20 "
            "source_dont_move=true sink_dont_move=true\n"
            "load-module module-null-sink sink_name=virtual_speaker sink_properties=device.description=Virtual-speaker\n"
            f"set-default-source {SINK}.monitor\n"
            "set-default-sink virtual_speaker\n"
        )
        env = {**os.environ, "PULSE_RUNTIME_PATH": str(self.directory), "PULSE_STATE_PATH": str(self.directory)}
        env.pop("PULSE_SERVER", None)
        subprocess.run(
            ["pulseaudio", "--daemonize=yes", "--use-pid-file=yes", "-n", "-F", str(script),
             "--exit-idle-time=-1", "--no-cpu-limit=yes", "--realtime=no", "--high-priority=no",
             f"--log-target=file:{self.directory / 'pulseaudio.log'}"],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=START_TIMEOUT_S, check=False,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not self.running():
            time.sleep(0.1)
        if not self.running() or not self._wait_sink_running(deadline):
            log = self.directory / "pulseaudio.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            self.stop()
            raise VirtualMicUnavailable("PulseAudio did not start: " + (" | ".join(tail) or "no log"))

    def _wait_sink_running(self, deadline: float) -> bool:
        """The loopback keeps the sink RUNNING; before that a new recording can stall for ~2 s."""
        while time.monotonic() < deadline:
            sinks = self._pa("pactl", "list", "short", "sinks").stdout
            if any(line.split("\t")[1:2] == [SINK] and "RUNNING" in line for line in sinks.splitlines()):
                time.sleep(0.2)
                return True
            time.sleep(0.1)
        return False

    def play(self, wav: str | Path, timeout_s: float = 30.0) -> None:
        """Play a WAV (any rate/channels) into the microphone; returns once it has been played."""
        result = self._pa("paplay", f"--device={SINK}", f"--latency-msec={PLAY_LATENCY_MS}", str(wav),
                          timeout=timeout_s)
        if result.returncode != 0:
            raise RuntimeError(f"paplay failed: {result.stderr.strip()}")

    def stop(self) -> None:
        """Stop the daemon and remove its folder (idempotent)."""
        if self.directory is None:
            return
        self._shut_down()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def unplug(self) -> None:
        """The microphone goes away as a sound server that dies does (the socket stays where it was),
        until :meth:`plug_in` starts it again at the same address."""
        assert self.directory is not None
        self._shut_down()

    def plug_in(self) -> None:
        """Start the daemon again after :meth:`unplug`: same socket, same devices."""
        self._launch()

    def _shut_down(self) -> None:
        assert self.directory is not None
        pid_file = self.directory / "pid"
        pid = None
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().split()[0])
            except (ValueError, IndexError):
                pid = None
        if self.running():
            try:
                self._pa("pactl", "exit")
            except subprocess.TimeoutExpired:
                pass
        if pid is not None:
            self._wait_or_kill(pid)

    @staticmethod
    def _wait_or_kill(pid: int) -> None:
        """Wait for our daemon to exit; signal it (only if that PID is still a pulseaudio) if not."""
        comm = Path(f"/proc/{pid}/comm")
        status = Path(f"/proc/{pid}/status")
        for step in range(30):
            try:
                if comm.read_text().strip() != "pulseaudio" or "\tZ" in status.read_text().split("State:")[1][:4]:
                    return
            except (OSError, IndexError):
                return  # gone
            if step in (10, 20):
                try:
                    os.kill(pid, 15 if step == 10 else 9)
                except OSError:
                    return
            time.sleep(0.1)

    def __enter__(self) -> "VirtualMic":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class Watched:
    """A subprocess whose output lines are collected by threads, so a test can wait for a line
    (e.g. "listening on ...") before playing audio into the microphone."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: str | Path | None = None):
        import threading

        self.process = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [threading.Thread(target=self._collect, args=(pipe, lines), daemon=True)
                         for pipe, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _collect(pipe, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.stdout) + "\n--- stderr ---\n" + "\n".join(self.stderr)

    def wait_for(self, text: str, timeout_s: float = 60.0) -> bool:
        """True once ``text`` appears in any output line; False on timeout or exit without it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.stdout + self.stderr):
                return True
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader threads drain
                return any(text in line for line in self.stdout + self.stderr)
            time.sleep(0.05)
        return False

    def interrupt(self) -> None:
        """Ctrl-C."""
        import signal

        self.process.send_signal(signal.SIGINT)

    def finish(self, timeout_s: float = 60.0) -> int:
        """Wait for the exit (kill after ``timeout_s``); the return code."""
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        return self.process.returncode
