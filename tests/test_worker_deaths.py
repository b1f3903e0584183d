"""Worker processes that die: before they start the job handed to them (rerun, not failed), over and over at
start-up (the sweep stops with one clear line instead of respawning forever), and the pool's queues closed."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from alscope_autoal.identity import resolve
from alscope_autoal.results import is_done
from alscope_autoal.runner import RunOptions, run_sweep
from alscope_autoal.runner import local
from alscope_autoal.runner.claims import claim_files
from alscope_autoal.runner.local import Slot, WorkerPool

from conftest import smoke_spec


def kill_on_start(monkeypatch, how_many: int | None) -> list[int]:
    """Kill the first `how_many` worker processes (None: all) the moment they are started, before they take a job."""
    real, killed = WorkerPool.start, []

    def start(pool, slot):
        worker = real(pool, slot)
        if how_many is None or len(killed) < how_many:
            os.kill(worker.process.pid, signal.SIGKILL)
            killed.append(worker.process.pid)
        return worker

    monkeypatch.setattr(WorkerPool, "start", start)
    return killed


@pytest.mark.slow
def test_a_job_handed_to_a_worker_that_died_before_starting_it_is_rerun_not_failed(tmp_path, monkeypatch):
    specs = [resolve(smoke_spec(strategy, rounds=1)) for strategy in ("random", "margin")]
    killed = kill_on_start(monkeypatch, 1)
    outcome = run_sweep(specs, tmp_path, options=RunOptions(workers=2, threads=1))
    assert len(killed) == 1
    assert not outcome.failed and not (tmp_path / "failures").exists()
    assert all(is_done(tmp_path, spec) for spec in specs)


@pytest.mark.slow
def test_workers_that_die_at_start_up_stop_the_sweep_with_one_line_after_backing_off(tmp_path, monkeypatch):
    specs = [resolve(smoke_spec(strategy, rounds=1)) for strategy in ("random", "margin")]
    killed = kill_on_start(monkeypatch, None)
    started = time.monotonic()
    with pytest.raises(local.WorkersDying) as stop:
        run_sweep(specs, tmp_path, options=RunOptions(workers=2, threads=1))
    message = str(stop.value)
    assert "\n" not in message and "start-up" in message and "--workers 1" in message
    assert len(killed) <= 2 + local.MAX_STARTUP_DEATHS  # not a respawn every 0.2 s
    assert time.monotonic() - started >= 1.0  # backed off between respawns
    assert not (tmp_path / "failures").exists()  # the jobs never ran: nothing is recorded as failed
    assert not claim_files(tmp_path)  # and they are free for the next sweep


@pytest.mark.slow
def test_a_worker_killed_while_sending_an_event_does_not_silence_the_others(tmp_path, monkeypatch):
    """SIGKILL in the middle of a message leaves that queue's write lock held for good: if the workers shared one
    event queue, every other worker would block on its next message and the sweep would wait forever."""
    specs = [resolve(smoke_spec(strategy, rounds=1)) for strategy in ("random", "margin")]
    real, killed = WorkerPool.start, []

    def start(pool, slot):
        worker = real(pool, slot)
        if not killed:
            events = getattr(worker, "events", None) or pool.events
            events._wlock.acquire()  # as a worker killed while sending would leave it (a private lock: no API)
            os.kill(worker.process.pid, signal.SIGKILL)
            killed.append(worker.process.pid)
        return worker

    monkeypatch.setattr(WorkerPool, "start", start)
    result = {}
    thread = threading.Thread(target=lambda: result.update(outcome=run_sweep(
        specs, tmp_path, options=RunOptions(workers=2, threads=1))), daemon=True)
    thread.start()
    thread.join(timeout=180)
    assert not thread.is_alive(), "the sweep is stuck: the other worker's events never arrive"
    assert not result["outcome"].failed and all(is_done(tmp_path, spec) for spec in specs)


def test_closing_the_pool_closes_its_queues(tmp_path):
    pool = WorkerPool([Slot(None, 1)], tmp_path, RunOptions(threads=1))
    pool.close(graceful=True)
    for worker in pool.workers:
        for queue in (worker.tasks, getattr(worker, "events", None) or pool.events):
            with pytest.raises(ValueError, match="closed"):
                queue.put(None)
