"""Plans off the event loop: worker processes, shared results, progress, time limit and cancel.

A plan is CPU-bound numpy work, so threads would queue behind the GIL: :class:`PlanPool` runs
plans in ``workers`` processes (one per core by default, each a fresh Python that imports
gpuplan: no thread state of the server is forked, and the server's ``__main__`` is never
re-run). Results are cached by the scenario text's SHA-256 and shared:
many clients asking for the same plan get one computation, and a cached one never reaches a
worker. Each job reports its progress (hardware options done of all, Monte Carlo samples done)
from the pipeline's ``progress`` callback; a job past its time limit, or cancelled by every
client that waited for it, is stopped by ending its worker process (a fresh one takes its
place). When ``max_queue`` jobs already wait for a worker, a new one is refused with the queue
length (:class:`PoolFull`, answered 503 with ``Retry-After``).

The worker's plan function is passed in by reference (``compute``), so this module imports
nothing of the web app (no import cycle with :mod:`~gpuplan.web.state`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from gpuplan.checks import check_number, check_whole
from gpuplan.errors import UserError

#: Longest one plan may compute, and one request may wait for it [s]. The slowest documented
#: scenario (20 options × 10^6 Monte Carlo samples, issue 16) takes 65-80 s on 2 cores.
DEFAULT_TIME_LIMIT_S = 60.0
#: Longest time limit one may set [s] (a day: beyond, a plan is not interactive work).
MAX_TIME_LIMIT_S = 86400.0
#: Most worker processes [1].
MAX_WORKERS = 1024
#: Jobs that may wait for a free worker, per worker [1]; more are refused (503, Retry-After).
QUEUE_PER_WORKER = 4
#: Plans whose results are kept (a plan with its JSON is ~2 MB), least recently used out first.
RESULT_CACHE_ENTRIES = 32
#: Finished jobs kept for their ``GET /api/jobs/{id}`` [1].
FINISHED_JOBS_KEPT = 64
#: How often a dispatcher looks at its worker's pipe, the job's deadline and cancel flag [s].
DISPATCH_POLL_S = 0.02
#: Longest a fresh worker process may take to start (import numpy, the pipeline) [s].
WORKER_START_TIMEOUT_S = 60.0
#: Environment variable that tells a worker process the file descriptor of its socket.
WORKER_FD_ENV = "GPUPLAN_WORKER_FD"
#: Retry-After when no plan has finished yet to time one by [s].
DEFAULT_PLAN_S = 1.0


def default_workers() -> int:
    """Worker processes: the cores this process may run on [1]."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not on Linux
        return max(os.cpu_count() or 1, 1)


def text_key(text: str) -> str:
    """Cache key of a scenario text: SHA-256 of its UTF-8 (lone surrogates kept as such)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class PoolFull(Exception):
    """Every worker is busy and ``max_queue`` jobs already wait (answered 503)."""

    def __init__(self, queue_length: int, retry_after_s: int) -> None:
        super().__init__(f"plan queue full: {queue_length} plans wait for a worker; retry in "
                         f"{retry_after_s} s")
        self.queue_length = queue_length
        self.retry_after_s = retry_after_s


class PlanTimeLimit(Exception):
    """A plan ran, or a request waited, past the time limit (answered 503)."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"time limit: the plan did not finish within the server's limit of "
                         f"{limit_s:g} s per request (fewer risk.samples or hardware_options "
                         f"make it faster)")
        self.limit_s = limit_s


class WorkerStartError(RuntimeError):
    """A worker process did not start (answered 500 with its message)."""


class PlanCancelled(Exception):
    """Every client that waited for the plan cancelled it."""


@dataclass
class Job:
    """One plan computation, shared by every client that asked for the same text."""

    id: str
    key: str
    text: str
    state: str = "queued"  # queued, running, done, error, cancelled, timeout
    created_s: float = field(default_factory=time.monotonic)
    started_s: float | None = None
    finished_s: float | None = None
    stages_total: int | None = None
    stages_done: int = 0
    stage: str = ""
    samples_per_stage: int = 0
    samples_in_stage: int = 0
    waiters: int = 1
    cancel_requested: bool = False
    future: Future[Any] = field(default_factory=Future)

    def progress(self) -> dict[str, Any]:
        """What the page shows: state, options done of all, Monte Carlo samples, seconds.

        Samples done count every chunk the Monte Carlo of the current option has finished
        (:data:`gpuplan.money.montecarlo.SAMPLE_PROGRESS`), not only whole options.
        """
        now = time.monotonic()
        total = self.stages_total
        samples_total = None if total is None else total * self.samples_per_stage
        done = (self.stages_done * self.samples_per_stage
                + min(self.samples_in_stage, self.samples_per_stage))
        return {"job": self.id, "state": self.state, "stage": self.stage,
                "stages_done": self.stages_done, "stages_total": total,
                "samples_done": done if samples_total is None else min(done, samples_total),
                "samples_total": samples_total,
                "elapsed_s": round((self.finished_s or now) - self.created_s, 3),
                "running_s": None if self.started_s is None
                else round((self.finished_s or now) - self.started_s, 3)}


def worker_main(conn: Connection, compute: Callable[..., Any], args: tuple[Any, ...],
                warm: Callable[..., None] | None = None) -> None:
    """A worker process: plan each text it is sent, report progress, send back the result.

    ``warm(*args)`` runs first (imports, catalog), so the first plan is as fast as the next.
    Messages to the server: ``("ready",)`` once; per job ``("start", id, options, samples)``
    after the scenario parsed, ``("stage", id, label)`` before each hardware option,
    ``("samples", id, done, n)`` after each chunk of its Monte Carlo, then
    ``("done", id, outcome)``, ``("user_error", id, (message, field))`` or
    ``("error", id, text)``.
    """
    with contextlib.suppress(EOFError, OSError):  # the server went away: end quietly
        _serve_plans(conn, compute, args, warm)


def _serve_plans(conn: Connection, compute: Callable[..., Any], args: tuple[Any, ...],
                 warm: Callable[..., None] | None) -> None:
    if warm is not None:
        warm(*args)
    conn.send(("ready",))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        job_id, text = msg

        def report(*event: Any, _id: str = job_id) -> None:
            conn.send((event[0], _id, *event[1:]))

        try:
            conn.send(("done", job_id, compute(text, *args, report=report)))
        except UserError as err:
            conn.send(("user_error", job_id, (str(err), err.field)))
        except Exception as err:  # any bug is reported to the server, not lost
            conn.send(("error", job_id, f"{type(err).__name__}: {err}"))


def worker_entry() -> None:
    """Entry of a worker process: read (compute, args, warm) from the server, then serve."""
    conn = Connection(int(os.environ[WORKER_FD_ENV]))
    compute, args, warm = conn.recv()
    worker_main(conn, compute, args, warm)


class _Worker:
    """One worker process and the server's end of its socket.

    The process is a fresh ``python -c`` (not :mod:`multiprocessing`'s spawn), so it never
    re-imports the server's ``__main__`` script: it imports gpuplan, receives the plan
    function by reference, and ends when the server's end of the socket closes.
    """

    def __init__(self, compute: Callable[..., Any], args: tuple[Any, ...],
                 warm: Callable[..., None] | None) -> None:
        self.compute, self.args, self.warm = compute, args, warm
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.busy = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.conn is not None

    def idle(self) -> bool:
        """Started, alive and waiting for a plan."""
        return not self.busy and self.alive()

    def ensure(self) -> Connection:
        """The socket of a live worker process, started (and warmed) first if need be."""
        if self.alive() and self.conn is not None:
            return self.conn
        self.stop()
        ours, theirs = socket.socketpair()
        env = dict(os.environ, **{WORKER_FD_ENV: str(theirs.fileno()),
                                  "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from gpuplan.web.jobs import worker_entry; "
                                       "worker_entry()"],
                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
            theirs.close()
            self.conn = Connection(ours.detach())
            self.conn.send((self.compute, self.args, self.warm))
            if not self.conn.poll(WORKER_START_TIMEOUT_S) or self.conn.recv() != ("ready",):
                raise RuntimeError(f"no answer within {WORKER_START_TIMEOUT_S:g} s")
        except Exception as err:  # any start failure becomes one clear message
            theirs.close()
            ours.close()
            self.stop()
            raise WorkerStartError(f"a plan worker process could not start "
                                   f"({type(err).__name__}: {err})") from None
        return self.conn

    def stop(self) -> None:
        """End the worker process (if it runs) and close the socket."""
        proc, conn = self.proc, self.conn
        self.proc = self.conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


class PlanPool:
    """Plans in worker processes, with a shared result cache, progress, time limit, cancel.

    Parameters
    ----------
    compute : callable
        ``compute(text, *args, report=fn)`` → outcome; a module-level function (it is sent to
        the worker processes by reference) [—].
    args : tuple
        The further arguments of ``compute`` (picklable: the catalog, the spec folder) [—].
    workers : int, optional
        Worker processes (default: the cores) [1].
    time_limit_s : float
        Longest a plan may compute [s].
    max_queue : int, optional
        Jobs that may wait for a worker (default :data:`QUEUE_PER_WORKER` per worker) [1].
    warm : callable, optional
        ``warm(*args)``, run once in each worker process before its first plan [—].
    """

    def __init__(self, compute: Callable[..., Any], args: tuple[Any, ...] = (), *,
                 workers: int | None = None, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                 max_queue: int | None = None, warm: Callable[..., None] | None = None) -> None:
        self.workers = check_whole("workers", default_workers() if workers is None else workers,
                                   MAX_WORKERS)
        self.time_limit_s = check_number("plan_time_limit_s", time_limit_s, 0.0,
                                         MAX_TIME_LIMIT_S, lo_open=True)
        self.max_queue = int(max_queue if max_queue is not None
                             else QUEUE_PER_WORKER * self.workers)
        self._compute, self._args, self._warm = compute, args, warm
        self._pending: queue.Queue[Job] = queue.Queue()
        self._stop = threading.Event()  # set by close(): this generation of dispatchers ends
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._inflight: dict[str, Job] = {}
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._workers: list[_Worker] = []
        self._plan_s: list[float] = []

    # -- state -----------------------------------------------------------------------------
    def queue_length(self) -> int:
        """Jobs waiting for a worker [1]."""
        with self._lock:
            return sum(j.state == "queued" for j in self._inflight.values())

    def stats(self) -> dict[str, Any]:
        """Workers, queue length and limit, running jobs, cached plans, time limit."""
        with self._lock:
            running = sum(j.state == "running" for j in self._inflight.values())
            queued = sum(j.state == "queued" for j in self._inflight.values())
            idle = sum(w.idle() for w in self._workers)
            return {"workers": self.workers, "idle_workers": idle, "running": running,
                    "queue_length": queued,
                    "max_queue": self.max_queue, "cached_plans": len(self._cache),
                    "time_limit_s": self.time_limit_s}

    def cached(self, text: str) -> Any | None:
        """The outcome of ``text`` if it was planned before, else None."""
        key = text_key(text)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    # -- submitting and releasing ----------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher threads (and so the worker processes) if not yet running."""
        with self._lock:
            if self._threads:  # after close() a new plan starts the pool again
                return
            for i in range(self.workers):
                t = threading.Thread(target=self._dispatch, args=(self._stop,), daemon=True,
                                     name=f"gpuplan-plan-dispatch-{i}")
                t.start()
                self._threads.append(t)

    def submit(self, text: str) -> Job:
        """A job planning ``text``: done already when cached, shared when in flight.

        Raises :class:`PoolFull` when ``max_queue`` jobs already wait for a worker.
        """
        self.start()
        key = text_key(text)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                job = Job(uuid.uuid4().hex, key, "", state="done", stages_done=0)
                job.finished_s = job.created_s
                job.future.set_result(hit)
                self._remember(job)
                return job
            shared = self._inflight.get(key)
            if shared is not None:
                shared.waiters += 1
                return shared
            queued = sum(j.state == "queued" for j in self._inflight.values())
            if queued >= self.max_queue:
                raise PoolFull(queued, self._retry_after_s(queued))
            job = Job(uuid.uuid4().hex, key, text)
            self._inflight[key] = job
            self._remember(job)
        self._pending.put(job)
        return job

    def release(self, job: Job) -> None:
        """One client stops waiting for ``job``; the last one to leave cancels it."""
        with self._lock:
            if job.future.done():
                return
            job.waiters -= 1
            if job.waiters > 0:
                return
            job.cancel_requested = True
            if job.state == "queued":  # never reaches a worker
                self._finish(job, "cancelled", exc=PlanCancelled("cancelled"))

    def close(self) -> None:
        """Stop the dispatchers and the worker processes (a later plan starts them again).

        Plans still queued stay queued for the next dispatchers; each running one finishes
        first (within the time limit).
        """
        with self._lock:
            threads, self._threads = self._threads, []
            self._workers = []
            stop, self._stop = self._stop, threading.Event()
        stop.set()
        for t in threads:
            t.join(timeout=10)

    # -- inside the pool -------------------------------------------------------------------
    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > FINISHED_JOBS_KEPT:
            old = next((k for k, j in self._jobs.items() if j.future.done()), None)
            if old is None:
                break
            del self._jobs[old]

    def _retry_after_s(self, queued: int) -> int:
        typical = sorted(self._plan_s)[len(self._plan_s) // 2] if self._plan_s else DEFAULT_PLAN_S
        return max(1, math.ceil(typical * (queued + 1) / self.workers))

    def _finish(self, job: Job, state: str, result: Any = None,
                exc: BaseException | None = None) -> None:
        """Settle ``job`` (call with the lock held)."""
        job.state = state
        job.finished_s = time.monotonic()
        self._inflight.pop(job.key, None)
        if state == "done":
            self._cache[job.key] = result
            while len(self._cache) > RESULT_CACHE_ENTRIES:
                self._cache.popitem(last=False)
            if job.started_s is not None:
                self._plan_s = [*self._plan_s[-31:], job.finished_s - job.started_s]
            job.future.set_result(result)
        else:
            job.future.set_exception(exc or RuntimeError(state))
        job.text = ""

    def _dispatch(self, stop: threading.Event) -> None:
        worker = _Worker(self._compute, self._args, self._warm)
        with self._lock:
            self._workers.append(worker)
        try:
            with contextlib.suppress(WorkerStartError):  # start now, not on the first plan
                worker.ensure()
            while not stop.is_set():
                try:
                    job = self._pending.get(timeout=DISPATCH_POLL_S * 10)
                except queue.Empty:
                    continue
                with self._lock:
                    if job.future.done():
                        continue
                    job.state = "running"
                worker.busy = True
                try:
                    self._run_one(worker, job)
                finally:
                    worker.busy = False
        finally:
            worker.stop()

    def _run_one(self, worker: _Worker, job: Job) -> None:
        """Plan ``job`` on ``worker``; whatever happens, the job is settled."""
        try:
            conn = worker.ensure()
            job.started_s = time.monotonic()
            conn.send((job.id, job.text))
            if self._follow(job, conn):
                return
        except Exception as err:  # a broken pipe, a result that does not unpickle, ...
            with self._lock:
                if not job.future.done():
                    self._finish(job, "error", exc=RuntimeError(f"plan worker: {err}"))
        worker.stop()
        with contextlib.suppress(WorkerStartError):  # a fresh process for the next plan now
            worker.ensure()

    def _follow(self, job: Job, conn: Connection) -> bool:
        """Relay the worker's messages to ``job`` until it ends; False if the worker must go."""
        deadline = (job.started_s or time.monotonic()) + self.time_limit_s
        while True:
            try:
                ready = conn.poll(DISPATCH_POLL_S)
                msg = conn.recv() if ready else None
            except (EOFError, OSError):
                with self._lock:
                    self._finish(job, "error", exc=RuntimeError("the plan worker process "
                                                                "ended unexpectedly"))
                return False
            with self._lock:
                if msg is not None and self._handle(job, msg):
                    return True
                if msg is None and job.cancel_requested:
                    self._finish(job, "cancelled", exc=PlanCancelled("cancelled"))
                    return False
                if msg is None and time.monotonic() > deadline:
                    self._finish(job, "timeout", exc=PlanTimeLimit(self.time_limit_s))
                    return False

    def _handle(self, job: Job, msg: tuple[Any, ...]) -> bool:
        """Apply one worker message to ``job`` (lock held); True when the job ended."""
        kind = msg[0]
        if kind == "start":
            job.stages_total, job.samples_per_stage = int(msg[2]), int(msg[3])
        elif kind == "stage":
            job.stages_done += job.stage != ""  # the previous option is done
            job.stage = str(msg[2])
            job.samples_in_stage = 0
        elif kind == "samples":  # a chunk of the current option's Monte Carlo is done
            job.samples_in_stage = int(msg[2])
        elif kind == "done":
            job.stages_done = job.stages_total or job.stages_done
            job.stage = ""
            job.samples_in_stage = 0
            self._finish(job, "done", result=msg[2])
            return True
        elif kind == "user_error":
            message, fld = msg[2]
            self._finish(job, "error", exc=UserError(message, field=fld))
            return True
        elif kind == "error":
            self._finish(job, "error", exc=RuntimeError(str(msg[2])))
            return True
        return False


__all__ = ["DEFAULT_TIME_LIMIT_S", "Job", "PlanCancelled", "PlanPool", "PlanTimeLimit",
           "PoolFull", "default_workers", "text_key", "worker_main"]
