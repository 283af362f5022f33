"""Ctrl-C and SIGTERM in `model-sync sync`: both stop it, and its in-process run ends at once.

Dagster's in-process executor holds back an interrupt that comes between steps until the next
step starts, and retries a step interrupted inside it (its retry policy). `model-sync sync` stops
instead: an interrupted source step hands the interrupt back (`hold_interrupt`), no step starts
its work once a stop signal came (`stop_point`), and while the run idles (waiting for a retry or
a pool slot) the watcher of `runs.guard` signals the main thread (SIGUSR1) until it is caught in
the executor's bookkeeping, where no step runs and nothing is written, and the interrupt is raised
there. The executor's flag and frames are Dagster internals, checked on 1.13.
"""

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._utils import interrupts as dagster_interrupts

_IDLE_FRAMES = {"sleep_til_ready", "sleep_interval", "interval_to_next_pending_claim_check"}
_STATE: dict = {"armed": False, "stop": None}


class StopSignals:
    """SIGTERM stops `model-sync sync` as Ctrl-C does; tells which of the two came, also while
    Dagster's own handlers are set (they are read from a wakeup fd)."""

    def __enter__(self) -> "StopSignals":
        self.signum: int | None = None
        self._lock = threading.Lock()
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        self._wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._term = signal.signal(signal.SIGTERM, _like_ctrl_c)
        _STATE["stop"] = self
        return self

    def received(self) -> int | None:
        """SIGINT or SIGTERM, whichever came first; None while neither did."""
        with self._lock:
            try:
                came = os.read(self._read, 4096)
            except BlockingIOError:
                came = b""
            stops = [n for n in came if n in (signal.SIGINT, signal.SIGTERM)]
            if self.signum is None and stops:
                self.signum = stops[0]
            return self.signum

    def __exit__(self, *exc) -> None:
        _STATE["stop"] = None
        signal.signal(signal.SIGTERM, self._term)
        signal.set_wakeup_fd(self._wakeup)
        os.close(self._read)
        os.close(self._write)


def _like_ctrl_c(_signum, _frame) -> None:
    raise KeyboardInterrupt


def stopping() -> bool:
    """Ctrl-C or SIGTERM came to this `model-sync sync`."""
    stop = _STATE["stop"]
    return stop is not None and stop.received() is not None


def stop_point() -> None:
    """At the start of a step: once `model-sync sync` was told to stop, no step does its work."""
    if stopping():
        hold_interrupt()
        raise dg.DagsterExecutionInterruptedError()


def hold_interrupt() -> None:
    """Give an interrupt that a step caught back to Dagster's executor: the run ends at its next
    step, or as soon as it idles, instead of retrying the step."""
    if threading.current_thread() is threading.main_thread():  # where Dagster catches signals
        dagster_interrupts._received_interrupt["received"] = True


def end_idle_run() -> None:
    """From the watcher: when an interrupt is held back, have the main thread raise it as soon as
    its run idles."""
    if _STATE["armed"] and (stopping() or dagster_interrupts.check_captured_interrupt()):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)


def _raise_when_idle(_signum, frame) -> None:
    if frame is not None and frame.f_code.co_name in _IDLE_FRAMES and (
            "dagster" in frame.f_code.co_filename):
        dagster_interrupts.pop_captured_interrupt()  # raised here, not again in the teardown
        raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Around a run in the main thread: SIGUSR1 from `end_idle_run` may end it while it idles."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    previous = signal.signal(signal.SIGUSR1, _raise_when_idle)
    _STATE["armed"] = True
    try:
        yield
    finally:
        _STATE["armed"] = False
        signal.signal(signal.SIGUSR1, previous)


def stop_if_interrupted(result: dg.ExecuteInProcessResult) -> None:
    """Raise KeyboardInterrupt when Ctrl-C or SIGTERM ended the run: the sync stops there."""
    if stopping():
        raise KeyboardInterrupt
    for event in result.all_events:
        if event.event_type_value == "PIPELINE_FAILURE":
            reason = getattr(event.event_specific_data, "failure_reason", None)
            if reason is not None and reason.value == "UNEXPECTED_TERMINATION":
                raise KeyboardInterrupt
