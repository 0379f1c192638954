"""The delivery worker: one per process, started and stopped with the app.

It claims due deliveries through the unit of work, sends them concurrently with httpx (a
timeout on every call, no redirects followed, each URL checked again and pinned to the
address checked), and records the outcomes in another unit of work. Between rounds with
nothing due it sleeps `webhooks_poll_seconds`; a stop request wakes it at once.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx

from app import __version__
from app.core.db import Database
from app.core.problems import ProblemError
from app.models.base import utcnow
from app.webhooks import delivery, urls
from app.webhooks.delivery import Claimed, Outcome

log = logging.getLogger("hipfix.webhooks")

# Every phase bounded: a receiver that never answers holds a slot 10 s at most, far inside
# the claim's lease.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
BATCH = 50  # deliveries claimed per round, sent concurrently
USER_AGENT = f"HipFix-Webhooks/{__version__}"


class Sender:
    """Sends one claimed delivery and says how it went; never raises for the receiver's
    faults."""

    def __init__(
        self,
        *,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: urls.Resolver = urls.resolve,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.clock = clock
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would bypass the address pin
            transport=transport,
            limits=httpx.Limits(max_connections=BATCH, max_keepalive_connections=BATCH),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, claimed: Claimed) -> Outcome:
        at = self.clock()
        started = time.perf_counter()

        def outcome(status_code: int | None = None, error: str | None = None) -> Outcome:
            duration = round((time.perf_counter() - started) * 1000)
            return Outcome(claimed.id, claimed.claim, at, duration, status_code, error)

        try:
            target = await urls.target(
                claimed.url, allow_private=self.allow_private, resolver=self.resolver
            )
        except urls.UrlRefusedError as exc:
            return outcome(error=f"refused: {exc}")
        # The signature's time is the attempt's: receivers refuse timestamps 5 minutes off.
        signed_at = datetime.now(UTC)
        headers = {
            "webhook-id": claimed.message_id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": delivery.signature(
                claimed.secrets, claimed.message_id, signed_at, claimed.body
            ),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.host_header,
        }
        if claimed.request_id is not None:
            headers["x-request-id"] = claimed.request_id
        request = self._http.build_request(
            "POST",
            target.url,
            content=claimed.body.encode(),
            headers=headers,
            # TLS is checked against the name, though the connection goes to the address.
            extensions={"sni_hostname": target.host},
        )
        try:
            # The body is never read: only the status matters, and a huge one costs nothing.
            response = await self._http.send(request, stream=True)
            await response.aclose()
        except httpx.HTTPError as exc:
            return outcome(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return outcome(status_code=response.status_code)


class DeliveryWorker:
    """Claims, sends, records, until stopped. `clock` and `rand` are swappable so tests
    drive time and jitter; `run_once` is one round, for tests and benches."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.allow_private = allow_private
        self.transport = transport
        self.clock: Callable[[], datetime] = utcnow
        self.rand: Callable[[], float] = random.random
        self._sender: Sender | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            self._sender = Sender(
                allow_private=self.allow_private,
                transport=self.transport,
                clock=lambda: self.clock(),
            )
        return self._sender

    async def send_now(self, claimed: Claimed) -> Outcome:
        """Send one delivery outside the rounds (a ping) and record it."""
        outcome = await self.sender.send(claimed)
        await self.db.write(delivery.record, [outcome], now=self.clock(), rand=self.rand())
        return outcome

    async def run_once(self) -> int:
        """One round: claim what is due, send it, record it. How many were sent."""
        claimed = await self.db.write(delivery.claim, now=self.clock(), limit=BATCH)
        if not claimed:
            return 0
        sender = self.sender
        outcomes = await asyncio.gather(*(sender.send(c) for c in claimed))
        await self.db.write(delivery.record, outcomes, now=self.clock(), rand=self.rand())
        return len(claimed)

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="hipfix-webhooks")

    async def stop(self) -> None:
        """Finish the round in hand (its outcomes recorded), then stop; close connections."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._sender is not None:
            await self._sender.close()
            self._sender = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            sent = 0
            try:
                sent = await self.run_once()
            except ProblemError as exc:  # the database busy (503): try again next round
                log.info("webhook round skipped: %s", exc.detail)
            except Exception:
                # A bug or the database gone: say so, keep the worker alive for the next round.
                log.exception("webhook round failed")
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)


@contextlib.asynccontextmanager
async def running(worker: DeliveryWorker, *, enabled: bool) -> AsyncIterator[None]:
    """The worker's life within the app's (the lifespan): started unless turned off by the
    settings, stopped cleanly on the way out either way."""
    if enabled:
        worker.start()
    try:
        yield
    finally:
        await worker.stop()
