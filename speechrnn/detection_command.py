"""Run a command for each detection (``speechrnn listen --exec CMD``, the app's Listen > Actions): a
word said turns a light on.

The command runs through the shell (``/bin/sh -c``), beside the listener, which never waits for
it. What was heard reaches it in environment variables, never pasted into the command line, so
nothing a model hears can become shell code:

* ``SPEECHRNN_WORD``: the word (``yes``, ``lights``);
* ``SPEECHRNN_SCORE``: its smoothed score (``0.93``);
* ``SPEECHRNN_TIME_S``: when it was heard, seconds since the listener started (or into the file);
* ``SPEECHRNN_MODEL``: the model's file.

Its output goes to the listener's stderr, so the listener's stdout stays one line per detection
for whatever reads it. One command can serve every word, or each word can have its own
(:data:`ANY_WORD` stands for the words without one). A command that fails is reported in one
line and listening goes on; at most :data:`MAX_RUNNING` run at once (a command that hangs cannot
pile up processes), and the listener waits up to :data:`WAIT_AT_EXIT_S` for the last ones when it
stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Callable, Mapping

MAX_RUNNING = 4  # commands running at once; a detection beyond that is reported and not acted on
WAIT_AT_EXIT_S = 10.0  # how long the listener waits for running commands when it stops
ANY_WORD = "*"  # in a word -> command table: the command for the words that have none of their own


class DetectionCommand:
    """``command(detection)`` starts the detected word's command; ``reap()`` collects finished
    ones (call it now and then); ``close()`` waits for the rest.

    ``commands``: one command for every word, or a table ``{word: command}`` where :data:`ANY_WORD`
    is the command of the words not in it (a word with neither is not acted on). ``source`` begins
    every reported line (``--exec``, ``Action``)."""

    def __init__(self, commands: str | Mapping[str, str], model: str, report: Callable[[str], None] = print,
                 max_running: int = MAX_RUNNING, source: str = "--exec"):
        self.set_commands(commands)
        self.model = model
        self.report = report  # one line per problem (the CLI prints it to stderr)
        self.max_running = max_running
        self.source = source
        self.started = 0
        self.failed = 0
        self._running: list[tuple[subprocess.Popen, str]] = []

    def set_commands(self, commands: str | Mapping[str, str]) -> None:
        """Change what the words run (commands already running are still watched)."""
        table = {ANY_WORD: commands} if isinstance(commands, str) else dict(commands)
        self.commands = {word: command for word, command in table.items() if command.strip()}

    def command_for(self, word: str) -> str | None:
        """The command ``word`` runs, or None."""
        return self.commands.get(word, self.commands.get(ANY_WORD))

    def __call__(self, detection) -> bool:
        """Start the command of ``detection``'s word; True if it started."""
        command = self.command_for(detection.label)
        if command is None:
            return False
        self.reap()
        if len(self._running) >= self.max_running:
            self.report(f"{self.source}: {len(self._running)} commands still running; not run for "
                        f"{detection.label!r} at t={detection.time_s:.2f} s")
            return False
        env = {**os.environ, "SPEECHRNN_WORD": detection.label, "SPEECHRNN_SCORE": f"{detection.score:.2f}",
               "SPEECHRNN_TIME_S": f"{detection.time_s:.2f}", "SPEECHRNN_MODEL": self.model}
        try:
            process = subprocess.Popen(command, shell=True, env=env, stdin=subprocess.DEVNULL,
                                       stdout=_stderr_fd())
        except OSError as exc:  # no shell, out of processes
            self.failed += 1
            self.report(f"{self.source}: cannot run {command!r}: {exc.strerror or exc}")
            return False
        self.started += 1
        self._running.append((process, detection.label))
        return True

    @property
    def running(self) -> int:
        """Commands started and not yet seen to finish."""
        return len(self._running)

    def reap(self) -> None:
        """Collect the commands that finished; report each one that failed."""
        still = []
        for process, label in self._running:
            code = process.poll()
            if code is None:
                still.append((process, label))
            elif code != 0:
                self.failed += 1
                self.report(f"{self.source}: the command for {label!r} exited with status {code}")
        self._running = still

    def close(self, timeout_s: float = WAIT_AT_EXIT_S) -> None:
        """Wait up to ``timeout_s`` for the commands still running (then leave them be)."""
        deadline = time.monotonic() + timeout_s
        for process, label in self._running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.report(f"{self.source}: the command for {label!r} is still running; left to finish on its own")
        self.reap()


def _stderr_fd() -> int | None:
    """The listener's stderr for the command's output (None: inherit, where stderr has no descriptor)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
