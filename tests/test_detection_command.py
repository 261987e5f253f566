"""speechrnn.detection_command: a command per detection, never more than a few at once."""

from __future__ import annotations

import time

from speechrnn.detection_command import DetectionCommand
from speechrnn.recognizer import Detection


def detection(label: str, time_s: float) -> Detection:
    return Detection(label=label, score=0.9, time_s=time_s, start_s=time_s - 0.5, end_s=time_s)


def test_commands_that_hang_do_not_pile_up_and_the_listener_waits_for_the_last(tmp_path):
    release = tmp_path / "release"
    done = tmp_path / "done"
    lines: list[str] = []
    command = DetectionCommand(f'while [ ! -e {release} ]; do sleep 0.02; done; echo "$SPEECHRNN_WORD" >> {done}',
                               "model.pt", lines.append, max_running=2)
    for index, word in enumerate(["yes", "no", "up"]):
        command(detection(word, float(index)))
    assert command.started == 2 and command.running == 2
    assert lines == ["--exec: 2 commands still running; not run for 'up' at t=2.00 s"]
    command.close(timeout_s=0.1)  # still waiting for the file: left running, and said so
    assert command.running == 2 and len(lines) == 3 and "still running" in lines[-1]
    release.touch()
    command.close()
    assert command.running == 0 and command.failed == 0
    assert sorted(done.read_text().split()) == ["no", "yes"]


def test_a_command_that_fails_is_reported_when_it_is_reaped():
    lines: list[str] = []
    command = DetectionCommand("exit 7", "model.pt", lines.append)
    command(detection("yes", 1.0))
    deadline = time.monotonic() + 10
    while command.running and time.monotonic() < deadline:
        time.sleep(0.01)
        command.reap()
    assert lines == ["--exec: the command for 'yes' exited with status 7"] and command.failed == 1
