"""ApplyThread: batches applied one at a time, in order, in a worker thread; a failed batch
stops the next one; close waits for the batch in flight."""

from __future__ import annotations

import threading

import pytest

from strangler.materializers.apply_thread import ApplyThread

pytestmark = pytest.mark.unit


class Recorder:
    """An apply function that records its batches, fails on one, and can be held."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.applied: list[int] = []
        self.running = 0
        self.most_running = 0
        self.fail_on = fail_on
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def __call__(self, batch: int) -> None:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        assert self.release.wait(5)
        with self.lock:
            self.running -= 1
        if batch == self.fail_on:
            raise RuntimeError(f"batch {batch} refused")
        self.applied.append(batch)


def test_batches_are_applied_in_order_one_at_a_time_while_the_caller_goes_on() -> None:
    apply = Recorder()
    applying = ApplyThread(apply, "test")
    apply.release.clear()
    applying.submit(1)  # held in the worker: submit returned anyway
    assert apply.applied == []
    apply.release.set()
    for batch in range(2, 20):
        applying.submit(batch)
    applying.close()
    assert apply.applied == list(range(1, 20))
    assert apply.most_running == 1


def test_a_failed_batch_is_raised_before_the_next_one_begins() -> None:
    apply = Recorder(fail_on=2)
    applying = ApplyThread(apply, "test")
    applying.submit(1)
    applying.submit(2)
    with pytest.raises(RuntimeError, match="batch 2 refused"):
        applying.submit(3)
    applying.close()  # the error was raised once: nothing left in flight
    assert apply.applied == [1]


def test_close_waits_for_the_batch_in_flight_and_raises_its_error() -> None:
    apply = Recorder(fail_on=2)
    applying = ApplyThread(apply, "test")
    apply.release.clear()
    applying.submit(2)
    threading.Timer(0.05, apply.release.set).start()
    with pytest.raises(RuntimeError, match="batch 2 refused"):
        applying.close()
    assert apply.running == 0


def test_wait_returns_once_nothing_is_in_flight() -> None:
    apply = Recorder()
    applying = ApplyThread(apply, "test")
    apply.release.clear()
    applying.submit(1)
    threading.Timer(0.05, apply.release.set).start()
    applying.wait()
    assert apply.applied == [1]
    applying.close()


def test_unthreaded_batches_are_applied_in_the_callers_thread() -> None:
    threads: list[threading.Thread] = []
    applying: ApplyThread[int] = ApplyThread(
        lambda batch: threads.append(threading.current_thread()), "t", False
    )
    applying.submit(1)
    assert threads == [threading.current_thread()]  # done before submit returned
    applying.close()
