"""What every HTTP request meets first: the body's size limit, and security headers on every
response. One ASGI layer for both, since each layer costs every request a call and a wrapped
`send` (the catalogue reads are within a few microseconds of the bare endpoint's time).

Bodies: a declared Content-Length over the limit is answered at once; a body sent without
one (chunked) is counted as it arrives and stopped when it passes the limit. (FastAPI's own
`max_body_size` answers the first case in plain text, so it is not used.)

Headers: the JSON API allows nothing to be framed or sniffed; the offline docs pages may run
their own bundled scripts and styles, and nothing else.

Writes: a principal writing faster than `HIPFIX_WRITE_RATE_LIMIT` gets 429 with `Retry-After`
(app/core/rate_limit.py), decided from the method, path and headers alone, before the body is
read or any route runs, and answered after a short hold. A principal whose writes made the
engine re-evaluate more than `HIPFIX_REPLAY_BUDGET` items within its window gets the same
429 until enough of them are out of it (app/core/replay_budget.py): each write's replays
are counted while it runs, and charged when it returns.
"""

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import refused
from app.core.problems import problem_response
from app.core.rate_limit import HOLD_SECONDS, WriteLimiter, principal, retry_after
from app.core.replay_budget import ReplayBudget, tallied

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_CSP = b"content-security-policy"
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/docs", "/redoc")
_API_HEADERS = [*_COMMON, (_CSP, _API_CSP)]
_DOCS_HEADERS = [*_COMMON, (_CSP, _DOCS_CSP)]


class BodyTooLargeError(HTTPException):
    """Raised from `receive` inside the route, so the problem handlers answer it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body may be at most {limit} bytes.")


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        write_rate_limit: str = "",
        replay_budget: str = "",
    ) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.writes = WriteLimiter(write_rate_limit) if write_rate_limit.strip() else None
        self.replays = ReplayBudget(replay_budget) if replay_budget.strip() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _DOCS_HEADERS if scope["path"].startswith(_DOCS_PATHS) else _API_HEADERS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message["headers"]
                present = {name for name, _ in headers}
                # A response that set one of these itself keeps its own.
                message["headers"] = [*headers, *(h for h in extra if h[0] not in present)]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, with_headers)
            return
        if (self.writes is not None or self.replays is not None) and WriteLimiter.counts(scope):
            await self._write(scope, receive, with_headers)
            return
        await self.app(scope, self._counted(receive), with_headers)

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = principal(scope)
        # The replay budget first: a caller it refuses uses up none of its writes.
        if self.replays is not None and (wait := self.replays.wait(who)) is not None:
            await _too_many(wait, _REPLAYED, "replay_budget")(scope, receive, send)
            return
        if self.writes is None:
            await self._charged(who, scope, receive, send)
            return
        if (wait := self.writes.wait(who)) is not None:
            await _too_many(wait, _WRITES, "write_limit")(scope, receive, send)
            return
        async with self.writes.turn(who):
            await self._charged(who, scope, receive, send)

    async def _charged(self, who: str, scope: Scope, receive: Receive, send: Send) -> None:
        """The write, its replays charged to `who` however it ends: before its answer goes
        out (its units of work are done by then), so its caller's next write finds them."""
        replays = self.replays
        if replays is None:
            await self.app(scope, self._counted(receive), send)
            return

        async def charging(message: Message) -> None:
            if message["type"] == "http.response.start":
                replays.charge(who, tally.items)
                tally.items = 0
            await send(message)

        with tallied() as tally:
            try:
                await self.app(scope, self._counted(receive), charging)
            finally:
                replays.charge(who, tally.items)  # what no answer was sent for

    def _refusal(self, scope: Scope) -> ASGIApp | None:
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is None or (declared.isdigit() and int(declared) <= self.limit):
            return None
        if declared.isdigit():
            return problem_response(
                Request(scope),
                413,
                "content-too-large",
                f"The request body may be at most {self.limit} bytes.",
            )
        return problem_response(
            Request(scope), 400, "bad-request", "The Content-Length header is not a number."
        )

    def _counted(self, receive: Receive) -> Receive:
        received = 0
        limit = self.limit

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        return counted


_WRITES = "Too many writes from this caller"
_REPLAYED = (
    "This caller's recent changes made the engine re-evaluate more stored items than one "
    "caller may in a while (everyone's writes wait for a re-evaluation)"
)


def _too_many(wait: float, why: str, reason: str) -> ASGIApp:
    hold = min(wait, HOLD_SECONDS)
    refused(reason)

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        # Held a moment first (a timer, nothing else): see app/core/rate_limit.py.
        await anyio.sleep(hold)
        seconds = retry_after(wait - hold)
        answer = problem_response(
            Request(scope),
            429,
            "too-many-requests",
            f"{why}; nothing was stored. Try again in "
            f"{seconds} second{'s' if seconds != 1 else ''}.",
            headers={"Retry-After": str(seconds)},
        )
        await answer(scope, receive, send)

    return refuse
