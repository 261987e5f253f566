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


def test_each_word_runs_its_own_command_and_the_rest_the_any_word_one(tmp_path):
    """The app's Listen > Actions table: "lights" and "music" each have a command, every other word
    the ANY_WORD one; an empty command is no command."""
    from speechrnn.detection_command import ANY_WORD

    log = tmp_path / "log"
    table = {"lights": f'echo "light $SPEECHRNN_WORD" >> {log}', "music": "  ",
             ANY_WORD: f'echo "other $SPEECHRNN_WORD $SPEECHRNN_SCORE" >> {log}'}
    command = DetectionCommand(table, "model.pt", source="Action")
    assert command.command_for("music") == table[ANY_WORD]  # its own is blank
    assert [command(detection(word, 1.0)) for word in ("lights", "music", "up")] == [True, True, True]
    command.close()
    assert sorted(log.read_text().splitlines()) == ["light lights", "other music 0.90", "other up 0.90"]

    only_lights = DetectionCommand({"lights": "exit 5"}, "model.pt", (lines := []).append, source="Action")
    assert not only_lights(detection("up", 1.0)) and only_lights.started == 0  # no command of its own, no "*"
    assert only_lights(detection("lights", 2.0))
    only_lights.close()
    assert lines == ["Action: the command for 'lights' exited with status 5"]
