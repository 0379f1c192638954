"""The ceiling: a bare FastAPI app with one trivial JSON endpoint.

Served exactly like HipFix (`uvicorn --loop uvloop --http httptools`, same worker count and
log level), so the ratio of an endpoint's requests/s to this one's is what HipFix's own
work costs on this machine at this moment.

    .venv/bin/uvicorn bench.bare_app:app --loop uvloop --http httptools --workers 1
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, bool]:
    return {"ok": True}
