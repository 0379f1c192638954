"""Worker threads that run the units of work for the event loop, and hand their answers back.

A lane is a few threads taking calls from one queue in arrival order. What it adds to a
thread pool is the way back: `loop.run_in_executor` wakes the event loop once per call (and
the admission slot's release once more), and on a busy server those wake-ups cost more than
a short read itself (bench/RESULTS.md, "the hop"). Here a finished call joins the answers
already waiting for the loop, and the loop is woken only when none were: one wake-up hands
back every answer finished meanwhile.

Nothing queues for long: a call not started within `admission_seconds` is answered with
`busy()` (503, Retry-After) at that moment, and never runs (counted in `hipfix_refused`).

Each call's wait for a thread and its run are observed in `app/core/metrics.py`'s histograms,
by lane, on the thread that ran it; a lane made with `observe=False` observes nothing.
"""

import asyncio
import contextvars
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

from app.core.metrics import UNIT_QUEUE, UNIT_RUN, refused
from app.core.problems import ProblemError

_WAITING: Final = 0
_RUNNING: Final = 1
_EXPIRED: Final = 2


def busy() -> ProblemError:
    return ProblemError(
        503,
        "busy",
        "The service is at capacity; nothing was stored. Retry shortly.",
        headers={"Retry-After": "1"},
    )


class _Call:
    __slots__ = (
        "call",
        "context",
        "failed",
        "future",
        "loop",
        "outcome",
        "queued",
        "state",
        "timer",
    )

    def __init__(
        self,
        call: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
        future: "asyncio.Future[Any]",
    ) -> None:
        self.call = call
        self.context = contextvars.copy_context()
        self.loop = loop
        self.future = future
        self.state = _WAITING
        self.outcome: Any = None
        self.failed = False
        self.timer: asyncio.TimerHandle | None = None
        self.queued = time.perf_counter()


class _Queue:
    """What the threads share. It holds no reference to its `Lane`, so that a lane nobody
    uses any more (a test's app) is collected, and its threads told to stop."""

    def __init__(self, leave: Callable[[], None] | None, name: str, observe: bool) -> None:
        self.leave = leave
        # The lane's histogram children, found once (None: not observed).
        self.waited = UNIT_QUEUE.labels(name) if observe else None
        self.ran = UNIT_RUN.labels(name) if observe else None
        self.calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        # Answers finished and not yet handed back, by loop; a key present means that loop
        # has been woken for them.
        self.finished: dict[asyncio.AbstractEventLoop, list[_Call]] = {}

    def serve(self) -> None:
        try:
            while (item := self.calls.get()) is not None:
                with self.lock:
                    if item.state != _WAITING:
                        continue  # expired: already answered busy
                    item.state = _RUNNING
                started = time.perf_counter()
                try:
                    item.outcome = item.context.run(item.call)
                except BaseException as exc:  # handed to the awaiting request, as run_in_executor
                    item.outcome, item.failed = exc, True
                if self.waited is not None and self.ran is not None:
                    self.waited.observe(started - item.queued)
                    self.ran.observe(time.perf_counter() - started)
                self._finish(item)
        finally:
            if self.leave is not None:
                self.leave()  # on this thread: let go of what it kept (its connection)

    def _finish(self, item: _Call) -> None:
        with self.lock:
            waiting = self.finished.get(item.loop)
            if waiting is not None:
                waiting.append(item)
                return
            self.finished[item.loop] = [item]
        try:
            item.loop.call_soon_threadsafe(self.hand_back, item.loop)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            with self.lock:
                self.finished.pop(item.loop, None)

    def hand_back(self, loop: asyncio.AbstractEventLoop) -> None:
        with self.lock:
            done = self.finished.pop(loop, [])
        for item in done:
            if item.timer is not None:
                item.timer.cancel()
            if item.future.done():  # the request was abandoned meanwhile
                continue
            if item.failed:
                item.future.set_exception(item.outcome)
            else:
                item.future.set_result(item.outcome)

    def expire(self, item: _Call) -> None:
        with self.lock:
            if item.state != _WAITING:
                return
            item.state = _EXPIRED
        if not item.future.done():
            refused("busy")
            item.future.set_exception(busy())


def _stop(calls: "queue.SimpleQueue[_Call | None]", threads: int) -> None:
    for _ in range(threads):
        calls.put(None)


class Lane:
    """`threads` worker threads, started on first use. Each calls `leave()` as it stops."""

    def __init__(
        self,
        name: str,
        threads: int,
        admission_seconds: float,
        leave: Callable[[], None] | None = None,
        *,
        observe: bool = True,
    ) -> None:
        self.name = name
        self._name = name
        self._threads = threads
        self._admission_seconds = admission_seconds
        self._queue = _Queue(leave, name, observe)
        self._started = False
        self._starting = threading.Lock()
        weakref.finalize(self, _stop, self._queue.calls, threads)

    def _start(self) -> None:
        with self._starting:
            if self._started:
                return
            for number in range(self._threads):
                threading.Thread(
                    target=self._queue.serve, name=f"{self._name}-{number}", daemon=True
                ).start()
            self._started = True

    async def run(self, call: Callable[[], Any]) -> Any:
        """`call()`'s answer from one of the lane's threads."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        item = _Call(call, loop, loop.create_future())
        item.timer = loop.call_later(self._admission_seconds, self._queue.expire, item)
        self._queue.calls.put(item)
        try:
            return await item.future
        except asyncio.CancelledError:
            self._queue.expire(item)  # abandoned before it started: it never runs
            raise

    def waiting(self) -> int:
        """Calls queued and not yet taken by a thread (approximate: for metrics)."""
        return self._queue.calls.qsize()

    def close(self) -> None:
        """Let the threads finish what they hold and stop."""
        if self._started:
            _stop(self._queue.calls, self._threads)
            self._started = False
