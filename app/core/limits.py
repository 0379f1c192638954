"""Refuse oversized request bodies as problems, before they are read in full.

A declared Content-Length over the limit is answered at once; a body sent without one
(chunked) is counted as it arrives and stopped when it passes the limit. (FastAPI's own
`max_body_size` answers the first case in plain text, so it is not used.)
"""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.problems import problem_response


class BodyTooLargeError(HTTPException):
    """Raised from `receive` inside the route, so the problem handlers answer it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body may be at most {limit} bytes.")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            too_large = not declared.isdigit() or int(declared) > self.limit
            if too_large:
                response = problem_response(
                    Request(scope),
                    413 if declared.isdigit() else 400,
                    "content-too-large" if declared.isdigit() else "bad-request",
                    f"The request body may be at most {self.limit} bytes."
                    if declared.isdigit()
                    else "The Content-Length header is not a number.",
                )
                await response(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLargeError(self.limit)
            return message

        await self.app(scope, counted, send)
