"""Pure CPU work in a process of its own, off the serving process's GIL.

A thread that computes for tens of milliseconds (the simulator's engine over hundreds of
entries) holds the GIL for whole switch intervals (app/core/costs.py): every other request in
the process, which asks for it at each await and each database round trip, waits for it a
little each time. In another process that work takes nothing from them, and it runs at a
lower OS priority, so that on a small machine the server's and the database's own processes
come first.

`CpuPool` holds one worker process (`processes` in the settings; 0 runs the work on a thread
as before). It is made in the app's lifespan and shut down there; the worker starts then, in
the background, so that its imports (about a second of CPU) are done before a request needs
it. Work is fed plain picklable data read in a unit of work, and answers bytes.
"""

import asyncio
import importlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

# Added to the worker's nice value: it yields the CPU to the server and the database.
NICENESS = 10


def _lower_priority() -> None:
    os.nice(NICENESS)


class CpuPool:
    """Pure functions run in a worker process (or, with no process, on a thread)."""

    def __init__(self, processes: int, warm: tuple[str, ...] = ()) -> None:
        """`warm`: modules the worker imports as it starts (named by the app, which knows
        what work it sends)."""
        self.processes = processes
        self.warm = warm
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.processes > 0 and self._executor is None:
            # Spawned, not forked: the serving process holds threads and open connections.
            self._executor = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
            )
            self._executor.submit(_warm, self.warm)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the worker; its exceptions are raised here (they must pickle)."""
        executor = self._executor
        if executor is None:
            return await run_in_threadpool(work, *args)
        try:
            return await asyncio.wrap_future(executor.submit(work, *args))
        except BrokenProcessPool:
            # The worker died (killed, out of memory): a new one, and this work once more.
            if self._executor is executor:
                executor.shutdown(wait=False)
                self._executor = None
                self.start()
            if self._executor is None:  # shut down meanwhile
                raise
            return await asyncio.wrap_future(self._executor.submit(work, *args))

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def cpu_pool_of(request: Request) -> CpuPool:
    pool: CpuPool = request.app.state.cpu_pool
    return pool


def _warm(modules: tuple[str, ...]) -> None:
    # The work's modules, imported while nothing waits for them.
    for module in modules:
        importlib.import_module(module)
