"""The lanes that run units of work: each answer reaches its own caller, and nothing queues
past the admission time (app/core/db/lanes.py)."""

import asyncio
import contextlib
import contextvars
import threading

import pytest

from app.core.db.lanes import Lane
from app.core.problems import ProblemError

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_every_caller_gets_its_own_answer_when_many_finish_together():
    lane = Lane("test", 2, admission_seconds=5)

    async def main() -> list[int]:
        return await asyncio.gather(*(lane.run(lambda n=n: n * n) for n in range(300)))

    assert asyncio.run(main()) == [n * n for n in range(300)]
    lane.close()


def test_an_error_reaches_its_caller_only():
    lane = Lane("test", 2, admission_seconds=5)

    def fails() -> int:
        raise ValueError("boom")

    async def main() -> list[object]:
        calls = [lane.run(lambda: 1), lane.run(fails), lane.run(lambda: 3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, error, third = asyncio.run(main())
    assert (first, third) == (1, 3)
    assert isinstance(error, ValueError)
    assert str(error) == "boom"
    lane.close()


def test_a_call_runs_in_the_callers_context():
    lane = Lane("test", 1, admission_seconds=5)

    async def main() -> str:
        WHO.set("caller")
        return await lane.run(WHO.get)

    assert asyncio.run(main()) == "caller"
    lane.close()


def test_a_call_not_started_within_the_admission_time_is_busy_and_never_runs():
    lane = Lane("test", 1, admission_seconds=0.2)
    release = threading.Event()
    ran = threading.Event()

    async def main() -> None:
        holder = asyncio.ensure_future(lane.run(lambda: release.wait(10)))
        await asyncio.sleep(0.05)  # the one thread is now held
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ProblemError) as refused:
            await lane.run(ran.set)
        assert loop.time() - started < 1  # answered at the admission time, not when free
        assert refused.value.status == 503
        assert refused.value.headers == {"Retry-After": "1"}
        release.set()
        assert await holder is True
        assert await lane.run(lambda: "free again") == "free again"

    asyncio.run(main())
    assert not ran.is_set()
    lane.close()


def test_a_call_abandoned_before_it_starts_never_runs():
    lane = Lane("test", 1, admission_seconds=5)
    release = threading.Event()
    ran = threading.Event()

    async def main() -> None:
        holder = asyncio.ensure_future(lane.run(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(lane.run(ran.set))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting  # the cancellation is handled before the thread is free again
        release.set()
        await holder
        assert await lane.run(lambda: "next") == "next"  # ran after the abandoned one's turn

    asyncio.run(main())
    assert not ran.is_set()
    lane.close()
