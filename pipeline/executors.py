"""Where a batch's steps run (pipeline.workers.STEPS): a pool of local worker processes that the parent can kill
(WorkerPool), or a Dask cluster (DaskExecutor). Both offer submit(step, arg) → a future with done() and
result(), poll(), wait(futures) (block until one is done) and close()."""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import wait as wait_for_ready
from typing import Optional

from pipeline.workers import STEPS, call_step, cut_short, timeout_reason, worker_init

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class WorkerError(RuntimeError):
    """The workers cannot work at all (their models do not load): the batch stops with this message."""


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when its parent does, even by kill -9: PR_SET_PDEATHSIG on Linux, else a thread that
    watches the parent's pid."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def worker_main(conn, config_file: Optional[str], parent_pid: int) -> None:
    """A worker process: load the models, then run the tasks the parent sends ((task id, step, arguments); None
    ends), sending each call's outcome as soon as it is done, so that the parent knows which call is running."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        worker_init(config_file)
    except Exception as exc:  # noqa: BLE001 - the parent stops the batch with this message
        conn.send(("init_failed", f"{type(exc).__name__}: {exc}" if not str(exc).startswith("/") else str(exc)))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        task_id, step, args = message
        calls = [args] if STEPS[step].together else [[a] for a in args]
        index = 0
        for call in calls:
            for outcome in STEPS[step].run(call):
                conn.send(("done", task_id, index, outcome))
                index += 1


class Outcome:
    """A future for one call of a step, resolved by its WorkerPool."""

    __slots__ = ("pool", "value", "resolved")

    def __init__(self, pool: "WorkerPool"):
        self.pool, self.value, self.resolved = pool, None, False

    def done(self) -> bool:
        return self.resolved

    def set(self, value) -> None:
        self.value, self.resolved = value, True

    def result(self):
        if not self.resolved:
            self.pool.wait([self])
        return self.value


class Task:
    """Calls of one step sent to one worker together; `next` is the first whose outcome has not come back."""

    __slots__ = ("id", "step", "calls", "next")

    def __init__(self, task_id: int, step: str, calls: list):
        self.id, self.step, self.calls, self.next = task_id, step, calls, 0  # calls: [(arg, Outcome)]


class Worker:
    """One worker process, its pipe, and the task it runs."""

    def __init__(self, ctx, config_file: Optional[str]):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, config_file, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.task: Optional[Task] = None
        self.since = 0.0  # when its current call started (the task was sent, or the previous call came back)

    def send(self, task: Task) -> None:
        self.task, self.since = task, time.monotonic()
        self.conn.send((task.id, task.step, [arg for arg, _ in task.calls]))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class WorkerPool:
    """Worker processes the parent can kill. Calls go out in tasks of up to `batch` calls of one step ([run]
    chunk_size; a task also leaves as soon as the caller waits). The parent gives each call doc_timeout seconds
    plus a grace ([limits] kill_grace; a step that runs its calls together gets doc_timeout per call): past it,
    the worker is killed, however stuck it is (in lxml's C code, say), the call fails with the timeout reason, the
    task's other calls go to the next worker, and a new worker starts. A worker that dies fails its current call
    the same way ("worker error: …", retried by the next run). Workers start on the first call, not before: a run
    with nothing to do starts none. They end with the parent, even when it is killed (die_with_parent)."""

    def __init__(self, workers: int, config_file: Optional[str], *, batch: int, doc_timeout: float,
                 kill_grace: float):
        self.slots, self.config_file, self.batch = workers, config_file, max(1, int(batch))
        self.doc_timeout, self.kill_grace = doc_timeout, kill_grace
        methods = multiprocessing.get_all_start_methods()
        self.ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.workers: list[Worker] = []
        self.queue: deque[Task] = deque()  # tasks waiting for a free worker
        self.open: dict[str, list] = {}  # step → calls not yet sent: [(arg, Outcome)]
        self.task_ids = 0

    # -- the executor interface --

    def submit(self, step: str, arg) -> Outcome:
        outcome = Outcome(self)
        calls = self.open.setdefault(step, [])
        calls.append((arg, outcome))
        if len(calls) >= self.batch:
            self._queue(step, self.open.pop(step))
        return outcome

    def poll(self) -> None:
        """Collect what has come back and hand out work, without blocking."""
        self._step(0.0)

    def wait(self, futures) -> None:
        """Block until one of `futures` is done."""
        for step in list(self.open):
            self._queue(step, self.open.pop(step))
        while not any(f.done() for f in futures):
            self._step(None)

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + self.kill_grace  # workers busy with a task are killed after that
        for w in self.workers:
            w.process.join(timeout=max(0.0, deadline - time.monotonic()))
            w.kill()
        self.workers = []

    # -- inside --

    def _queue(self, step: str, calls: list, front: bool = False) -> None:
        self.task_ids += 1
        task = Task(self.task_ids, step, calls)
        self.queue.appendleft(task) if front else self.queue.append(task)

    def _deadline(self, w: Worker) -> float:
        calls = len(w.task.calls) if STEPS[w.task.step].together else 1
        return w.since + self.doc_timeout * calls + self.kill_grace

    def _step(self, timeout: Optional[float]) -> None:
        """Start workers, send tasks to free ones, take in outcomes (waiting up to `timeout`, None: until something
        happens or a deadline passes), and kill the workers past their deadline."""
        if not self.workers and (self.queue or self.open):
            self.workers = [Worker(self.ctx, self.config_file) for _ in range(self.slots)]
        self._dispatch()
        busy = [w for w in self.workers if w.task is not None]
        if busy and self.doc_timeout > 0:
            until = min(self._deadline(w) for w in busy) - time.monotonic()
            timeout = max(0.0, until if timeout is None else min(timeout, until))
        handles = [h for w in self.workers for h in (w.conn, w.process.sentinel)]
        ready = set(wait_for_ready(handles, timeout)) if handles else set()
        for w in list(self.workers):
            if w.conn in ready or w.process.sentinel in ready:
                self._receive(w)
        now = time.monotonic()
        for w in list(self.workers):
            if w.task is not None and self.doc_timeout > 0 and now > self._deadline(w):
                limit = self.doc_timeout * (len(w.task.calls) if STEPS[w.task.step].together else 1)
                self._replace(w, timeout_reason(limit) + ", killed")
        self._dispatch()

    def _dispatch(self) -> None:
        for w in self.workers:
            if w.ready and w.task is None and self.queue:
                w.send(self.queue.popleft())

    def _receive(self, w: Worker) -> None:
        """Read every message the worker has sent; a closed pipe means it died."""
        try:
            while w.conn.poll():
                self._handle(w, w.conn.recv())
        except (EOFError, OSError):
            self._replace(w, None)
            return
        if not w.process.is_alive():
            self._replace(w, None)

    def _handle(self, w: Worker, message: tuple) -> None:
        if message[0] == "ready":
            w.ready = True
        elif message[0] == "init_failed":
            raise WorkerError(message[1])
        else:
            _, task_id, index, outcome = message
            task = w.task
            task.calls[index][1].set(outcome)
            task.next, w.since = index + 1, time.monotonic()
            if task.next == len(task.calls):
                w.task = None

    def _replace(self, w: Worker, reason: Optional[str]) -> None:
        """Kill worker `w` (or bury it: it died) and start another. Its running call fails with `reason`; the calls
        after it go back to the front of the queue. A dead worker's calls run together are retried one by one."""
        code = w.process.exitcode
        w.kill()
        if not w.ready:
            raise WorkerError(f"a worker process died while loading the models (exit code {code})")
        task = w.task
        self.workers[self.workers.index(w)] = Worker(self.ctx, self.config_file)
        if task is None:
            return
        reason = reason or f"worker error: the worker process died (exit code {code}; out of memory?)"
        rest = task.calls[task.next:]
        if STEPS[task.step].together and len(rest) > 1:
            for call in reversed(rest):  # one by one, so that only the bad call fails
                self._queue(task.step, [call], front=True)
            return
        arg, outcome = rest[0]
        outcome.set(cut_short(task.step, arg, reason))
        if rest[1:]:
            self._queue(task.step, rest[1:], front=True)


class DaskExecutor:
    """The same steps on a Dask distributed cluster: `scheduler` is its address; without one a local cluster of
    `workers` processes is started. Workers need the package (and models/, configs/) installed; each loads the
    models once, on its first task. Only the soft time limit (workers.Alarm) applies there: Dask runs tasks in
    threads, which a signal cannot reach, and offers no way to kill one task."""

    def __init__(self, scheduler: Optional[str], workers: int):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self.slots = max(1, sum(self.client.nthreads().values()))
        self.batch = 1

    def submit(self, step: str, arg):
        return self.client.submit(call_step, step, arg, pure=False)

    def poll(self) -> None:
        pass

    def wait(self, futures) -> None:
        from distributed import wait

        wait(list(futures), return_when="FIRST_COMPLETED")

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
