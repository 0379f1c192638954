"""One expensive operation in flight per caller: a second waits its turn, or gets 429;
other callers never wait for it."""

import asyncio

import pytest

from app.core.costs import HeavyTurns
from app.core.problems import ProblemError


def test_a_callers_second_request_waits_for_its_first():
    async def scenario() -> list[str]:
        turns, order = HeavyTurns(wait_seconds=5, pace=0), []

        async def work(name: str) -> None:
            async with turns.turn("sam"):
                order.append(f"{name} starts")
                await asyncio.sleep(0.05)
                order.append(f"{name} ends")

        await asyncio.gather(work("first"), work("second"))
        await asyncio.sleep(0)  # the last turn's end (paced by nothing here)
        assert len(turns) == 0  # nothing kept for callers not in flight
        return order

    assert asyncio.run(scenario()) == ["first starts", "first ends", "second starts", "second ends"]


def test_a_caller_that_waits_too_long_gets_429_with_retry_after():
    async def scenario() -> ProblemError:
        turns = HeavyTurns(wait_seconds=0.05, pace=0)
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
        await asyncio.sleep(0)
        assert len(turns) == 0
        return refused.value

    problem = asyncio.run(scenario())
    assert problem.status == 429
    assert problem.headers == {"Retry-After": "1"}


def test_a_callers_turn_ends_after_its_work_for_as_long_as_the_pace_says():
    """Heavy work back to back holds the process a part of the time: the next turn of the
    same caller starts no sooner than `pace` times what the last one's work took after it;
    another caller's turn is not held up."""

    async def scenario() -> None:
        turns = HeavyTurns(wait_seconds=5, pace=2)
        loop = asyncio.get_running_loop()
        async with turns.turn("sam"):
            began = loop.time()
            await asyncio.sleep(0.1)
        ended = loop.time()
        took = ended - began
        async with turns.turn("alex"):
            assert loop.time() - ended < 2 * took  # not paced by sam's work
        await asyncio.sleep(0.01)  # alex's turn ends (its work took no time)
        assert len(turns) == 1  # sam's turn still running out
        async with turns.turn("sam"):
            assert loop.time() - ended >= 2 * took * 0.9
        await asyncio.sleep(took * 2.5)
        assert len(turns) == 0

    asyncio.run(scenario())
