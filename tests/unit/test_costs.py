"""One expensive operation in flight per caller: a second waits its turn, or gets 429;
other callers never wait for it."""

import asyncio

import pytest

from app.core.costs import HeavyTurns
from app.core.problems import ProblemError


def test_a_callers_second_request_waits_for_its_first():
    async def scenario() -> list[str]:
        turns, order = HeavyTurns(wait_seconds=5), []

        async def work(name: str) -> None:
            async with turns.turn("sam"):
                order.append(f"{name} starts")
                await asyncio.sleep(0.05)
                order.append(f"{name} ends")

        await asyncio.gather(work("first"), work("second"))
        assert len(turns) == 0  # nothing kept for callers not in flight
        return order

    assert asyncio.run(scenario()) == ["first starts", "first ends", "second starts", "second ends"]


def test_a_caller_that_waits_too_long_gets_429_with_retry_after():
    async def scenario() -> ProblemError:
        turns = HeavyTurns(wait_seconds=0.05)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def first() -> None:
            async with turns.turn("sam"):
                holding.set()
                await release.wait()

        task = asyncio.create_task(first())
        await holding.wait()
        with pytest.raises(ProblemError) as refused:
            async with turns.turn("sam"):
                pass
        # Another caller is not held up by sam's work.
        async with turns.turn("alex"):
            pass
        release.set()
        await task
        assert len(turns) == 0
        return refused.value

    problem = asyncio.run(scenario())
    assert problem.status == 429
    assert problem.headers == {"Retry-After": "1"}
