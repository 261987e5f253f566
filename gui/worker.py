"""Run the library's long operations (event generators) off the GUI thread.

:class:`Task` starts a ``QThread`` that iterates an :data:`~speechrnn.events.EventStream` and
forwards each event as a Qt signal (queued to the GUI thread). Cancel sets the library's
:class:`~speechrnn.events.CancelToken`; the generator stops at its next safe point.

Signals, in order: any number of ``stage``/``progress``/``message``/``epoch``; then exactly one of
``succeeded(result)``, ``failed(message)`` or ``cancelled()``; then ``done()``.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any, Callable, Iterable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from speechrnn.errors import SpeechRNNError
from speechrnn.events import CancelToken, Cancelled, EpochEnd, Finished, Message, Progress, Stage

PROGRESS_INTERVAL_S = 0.05  # forward at most ~20 progress events per second (the eye sees no more)

EventFactory = Callable[[CancelToken], Iterable[Any]]


def describe_error(exc: BaseException) -> str:
    """One line for the user: a SpeechRNNError's own message, else the type and first line."""
    if isinstance(exc, SpeechRNNError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class _TaskSignals(QObject):
    """The signals of a running operation (the worker emits them, the Task re-emits them)."""

    stage = Signal(object)
    progress = Signal(object)
    message = Signal(object)
    epoch = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()


class _Runner(_TaskSignals):
    def __init__(self, make_events: EventFactory, token: CancelToken):
        super().__init__()
        self._make_events = make_events
        self._token = token

    @Slot()
    def run(self) -> None:
        result, pending, last_emit = None, None, 0.0
        try:
            for event in self._make_events(self._token):
                if isinstance(event, Progress):
                    now = time.monotonic()
                    final = event.total is not None and event.done >= event.total
                    if final or now - last_emit >= PROGRESS_INTERVAL_S:
                        self.progress.emit(event)
                        last_emit, pending = now, None
                    else:
                        pending = event
                    continue
                if pending is not None:
                    self.progress.emit(pending)
                    pending = None
                if isinstance(event, Stage):
                    self.stage.emit(event)
                elif isinstance(event, Message):
                    self.message.emit(event)
                elif isinstance(event, EpochEnd):
                    self.epoch.emit(event)
                elif isinstance(event, Finished):
                    result = event.result
            if self._token.cancelled:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except SpeechRNNError as exc:
            self.failed.emit(describe_error(exc))
        except Exception as exc:  # a bug or an environment problem: keep the window alive, tell the user
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(describe_error(exc))
        finally:
            self.done.emit()


class Task(_TaskSignals):
    """One long operation in its own thread.

    A started task stays referenced (``Task.running_tasks``) until its thread has finished, so
    neither the garbage collector nor a closing panel can destroy a running QThread, which would
    abort the process. ``Task.stop_all()`` cancels and joins them when the app closes.
    """

    running_tasks: set["Task"] = set()  # lifetime guard for running threads, not shared state

    def __init__(self, make_events: EventFactory):
        super().__init__()  # no Qt parent: owned by Python, and by the registry while running
        self.token = CancelToken()
        self._thread = QThread()
        self._runner = _Runner(make_events, self.token)
        self._runner.moveToThread(self._thread)
        for name in ("stage", "progress", "message", "epoch", "succeeded", "failed", "cancelled"):
            getattr(self._runner, name).connect(getattr(self, name))
        # quit() is thread-safe: called directly from the worker, so wait() in the GUI thread never
        # deadlocks on a queued quit that only the (blocked) GUI thread could deliver.
        self._runner.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self.done)
        self._thread.started.connect(self._runner.run)
        self._running = False
        self.done.connect(self._mark_stopped)  # first, so later ``done`` slots see running == False

    def start(self) -> "Task":
        self._running = True
        Task.running_tasks.add(self)
        self._thread.start()
        return self

    def _mark_stopped(self) -> None:
        self._running = False
        Task.running_tasks.discard(self)

    @property
    def running(self) -> bool:
        return self._running

    def cancel(self) -> None:
        self.token.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the thread ends (closing the app); True if it ended. ``running`` is False
        from then on: the ``done`` signal is only delivered once the event loop runs again."""
        ended = self._thread.wait() if timeout_ms < 0 else self._thread.wait(timeout_ms)
        if ended:
            self._mark_stopped()
        return ended

    @classmethod
    def stop_all(cls) -> None:
        """Cancel every running task and wait for its thread (the app is closing)."""
        for task in list(cls.running_tasks):
            task.cancel()
        for task in list(cls.running_tasks):
            task.wait()
            cls.running_tasks.discard(task)


def run_call(function: Callable[[], Any]) -> Task:
    """A :class:`Task` for a plain blocking call (loading a model, a quick computation)."""

    def events(_token: CancelToken):
        yield Finished(function())

    return Task(events)
