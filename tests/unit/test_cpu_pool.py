"""The CPU worker process: work runs there, and a worker that dies is replaced."""

import asyncio
import os
import signal

from app.core.cpu_pool import CpuPool


def test_a_dead_worker_is_replaced_and_the_work_runs_again():
    async def scenario() -> tuple[int, int]:
        pool = CpuPool(1)
        pool.start()
        try:
            first = await pool.run(os.getpid)
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.2)
            return first, await pool.run(os.getpid)
        finally:
            pool.shutdown()

    first, second = asyncio.run(scenario())
    assert os.getpid() not in (first, second)  # not this process
    assert first != second
