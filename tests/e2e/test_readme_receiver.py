"""The README's webhook receiver, run as written (its secret filled in) against a served
HipFix: the documented test ping verifies and is answered 2xx."""

import re
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.e2e.server import serving
from tests.e2e.test_webhooks_served import WORKER, coach_headers

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def receiver_code() -> str:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (code,) = [b for b in blocks if "standardwebhooks" in b and "def receive" in b]
    return code


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_readme_receiver_verifies_the_ping_and_a_client_left(tmp_path: Path, capsys) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/hipfix"
    with (
        serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log", env=WORKER) as s,
        httpx.Client(base_url=s.base, timeout=20) as http,
    ):
        headers = coach_headers(http)
        body = {"url": url, "event_types": ["client_left"]}
        created = http.post("/v1/webhook-endpoints", json=body, headers=headers)
        assert created.status_code == 201, created.text
        endpoint = created.json()
        code = receiver_code()
        assert code.count('"whsec_…"') == 1
        namespace: dict[str, Any] = {"__name__": f"readme_receiver_{uuid.uuid4().hex}"}
        exec(code.replace('"whsec_…"', repr(endpoint["secret"])), namespace)
        server = uvicorn.Server(
            uvicorn.Config(namespace["app"], host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.started
            ping = http.post(f"/v1/webhook-endpoints/{endpoint['id']}/ping", headers=headers)
            assert ping.status_code == 200, ping.text
            answer = ping.json()
            assert answer["ok"] is True, answer
            assert answer["delivery"]["response_status_code"] == 204
            # A client_left carries the client's id alone: the receiver takes it too.
            managed = http.post(
                "/v1/clients", json={"display_name": "Sam", "timezone": "UTC"}, headers=headers
            ).json()
            erased = http.delete(f"/v1/clients/{managed['id']}", headers=headers)
            assert erased.status_code == 204, erased.text
            deadline = time.monotonic() + 20
            delivered: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                page = http.get(
                    f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers
                )
                delivered = [d for d in page.json()["items"] if d["type"] == "client_left"]
                if delivered and delivered[0]["status"] != "pending":
                    break
                time.sleep(0.2)
            assert [(d["status"], d["response_status_code"]) for d in delivered] == [
                ("succeeded", 204)
            ]
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    printed = capsys.readouterr().out
    assert "ping" in printed
    assert f"client_left {managed['id']}" in printed
