"""The feed under writers that run at once, mostly on a database of its own with real
commits (not the rolled-back transaction of the other tests): writers that decide something
never wait for each other, and a poller still gets every entry exactly once, in order, after
a restore into a fresh server too."""

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlmodel import Session

from app.content.loader import load_content
from app.core.actors import SYSTEM
from app.core.db import build_engine
from app.core.db.transactions import BLOCK
from app.core.migrations import upgrade_to_head
from app.main import create_app
from app.models import EngineEvent
from app.progression import feed
from tests.conftest import STARTED, Actor, enrol, managed_client, pain_body, signup
from tests.databases import KINDS, fresh_database, require

# How long a write may take while another is held open before the test calls it stuck:
# without the fix it would wait for as long as the other is held.
STUCK_SECONDS = 20

HIPFIX = Path(sys.executable).parent / "hipfix"


@pytest.fixture(scope="module", params=KINDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    require(request.param)
    with fresh_database(request.param, tmp_path_factory.mktemp("feed")) as url:
        upgrade_to_head(url)
        engine = build_engine(url, connections=12)
        with Session(engine) as session:
            load_content(session)
        try:
            yield request.param, engine
        finally:
            engine.dispose()


@pytest.fixture
def api(served) -> Iterator[TestClient]:
    _, engine = served
    with TestClient(create_app(bind=engine), raise_server_exceptions=False) as client:
        yield client


def _poll(client: TestClient, actor: Actor, after: str) -> dict:
    for _ in range(100):  # a 503 (at capacity, on a busy machine) is retried, as a client does
        response = client.get("/v1/events", params={"after": after}, headers=actor.headers)
        if response.status_code != 503:
            break
        time.sleep(0.05)
    assert response.status_code == 200, response.text
    return response.json()


class Poller:
    """Follows the cursor, as a client's integration would, keeping what it was given."""

    def __init__(self, client: TestClient, actor: Actor) -> None:
        self.client, self.actor = client, actor
        self.cursor = _poll(client, actor, "0")["next_cursor"]  # from now on
        self.seen: list[dict] = []

    def poll(self) -> list[dict]:
        page = _poll(self.client, self.actor, self.cursor)
        self.cursor = page["next_cursor"]
        self.seen += page["items"]
        return page["items"]

    def catch_up(self) -> None:
        while self.poll():
            pass


def _everything_after(client: TestClient, actor: Actor, cursor: str) -> list[dict]:
    entries: list[dict] = []
    while items := _poll(client, actor, cursor)["items"]:
        entries += items
        cursor = str(items[-1]["sequence"])
    return entries


def _keys(entries: list[dict]) -> list[tuple[int, str, str]]:
    return [(e["sequence"], e["type"], e["id"]) for e in entries]


def test_a_write_held_open_neither_stops_another_clients_nor_is_skipped_by_a_poller(
    served, api: TestClient
):
    kind, engine = served
    if kind != "postgresql":
        pytest.skip("SQLite runs one writer at a time by design")
    coach = signup(api, "coach")
    ada, ben = (managed_client(api, coach, timezone="UTC")["id"] for _ in range(2))
    enrol(api, coach, ada)
    poller = Poller(api, coach)
    start = poller.cursor

    # Ada's writer: it has added a feed entry (numbered, as every such write is) and has
    # not committed.
    held = Session(engine)
    decision = held.execute(
        select(EngineEvent).where(EngineEvent.client_id == uuid.UUID(ada))
    ).scalar_one()
    feed.append(held, [feed.Line(decision.client_id, decision.id, "enrolled")], SYSTEM)
    try:
        done = threading.Event()

        def ben_decides() -> None:
            enrol(api, coach, ben)  # decides `enrolled`: a feed entry
            done.set()

        writer = threading.Thread(target=ben_decides)
        writer.start()
        writer.join(STUCK_SECONDS)
        assert done.is_set(), "a write that decides waited for another client's open write"

        # Ben's entry is committed, but Ada's may still land before it: not listed yet, so
        # a poller's cursor cannot pass Ada's.
        assert poller.poll() == []
    finally:
        held.commit()
        held.close()

    poller.catch_up()
    assert [(e["client_id"], e["type"]) for e in poller.seen] == [
        (ada, "enrolled"),
        (ben, "enrolled"),
    ]
    assert _keys(poller.seen) == _keys(_everything_after(api, coach, start))


def test_many_writers_at_once_and_a_poller_following_gets_every_entry_once_in_order(
    api: TestClient,
):
    coach = signup(api, "coach")
    refs = [managed_client(api, coach, timezone="UTC")["id"] for _ in range(8)]
    poller = Poller(api, coach)
    start = poller.cursor
    failures: list[str] = []

    def post(path: str, body: dict) -> None:
        # A 503 stored nothing: retried, as for a poll.
        for _ in range(100):
            response = api.post(path, json=body, headers=coach.headers)
            if response.status_code != 503:
                break
            time.sleep(0.05)
        assert response.status_code == 201, response.text

    def decide(ref: str) -> None:
        try:
            enrolment = {"protocol": "hip-impingement", "baseline_pain": 6}
            post(f"/v1/clients/{ref}/enrollments", {**enrolment, "started_at": STARTED.isoformat()})
            for day in (2, 3):  # each a flare: a decision
                post(f"/v1/clients/{ref}/pain-logs", pain_body(day, score=8, context="during"))
        except AssertionError as failure:
            failures.append(str(failure))

    writers = [threading.Thread(target=decide, args=(ref,)) for ref in refs]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        poller.poll()
    for writer in writers:
        writer.join()
    assert failures == []
    poller.catch_up()

    everything = _everything_after(api, coach, start)
    assert _keys(poller.seen) == _keys(everything)  # each once, in the feed's order
    sequences = [e["sequence"] for e in poller.seen]
    assert sequences == sorted(set(sequences))
    per_client = {ref: [e["type"] for e in poller.seen if e["client_id"] == ref] for ref in refs}
    assert all(types[0] == "enrolled" and len(types) >= 2 for types in per_client.values()), (
        per_client
    )


def test_entries_numbered_under_the_counter_row_keep_their_place(served, api: TestClient):
    """Numbers the counter row gave before (small, on PostgreSQL too) stay below every new
    one: a cursor kept from then still means the same place."""
    _, engine = served
    coach = signup(api, "coach")
    for _ in range(2):
        enrol(api, coach, managed_client(api, coach, timezone="UTC")["id"])
    # Renumbered as the counter row numbered them, after everything else stored.
    with engine.begin() as connection:
        base = connection.execute(text("SELECT coalesce(max(seq), 0) FROM feed_clock")).scalar()
        ours = sorted(e["sequence"] for e in _poll(api, coach, "0")["items"])
        for number, seq in enumerate(ours, start=base + 1):
            connection.execute(
                text("UPDATE feed_entry SET seq = :number WHERE seq = :seq"),
                {"number": number, "seq": seq},
            )
        connection.execute(text("UPDATE feed_clock SET seq = :last"), {"last": base + 2})
    kept = str(base + 1)  # a poller's cursor after the first

    later = managed_client(api, coach, timezone="UTC")["id"]
    enrol(api, coach, later)
    after_kept = _poll(api, coach, kept)["items"]
    assert [e["sequence"] for e in after_kept][:1] == [base + 2]
    assert [e["client_id"] for e in after_kept][1:] == [later]


def test_a_number_is_never_given_again_after_an_erasure(client):
    """Erasing a client removes its entries, the highest numbered ones included; the next
    decision still comes after what a poller has read."""
    coach = signup(client, "coach")
    kept = managed_client(client, coach, timezone="UTC")["id"]
    gone = managed_client(client, coach, timezone="UTC")["id"]
    enrol(client, coach, kept)
    enrol(client, coach, gone)
    poller = Poller(client, coach)
    assert poller.cursor != "0"
    assert client.delete(f"/v1/clients/{gone}", headers=coach.headers).status_code == 204
    later = managed_client(client, coach, timezone="UTC")["id"]
    enrol(client, coach, later)
    # The erasure's own entry (the coach's `client_left`, by id only), then the new decision.
    polled = [(e["type"], e["client_id"]) for e in poller.poll()]
    assert polled == [("client_left", gone), ("enrolled", later)]


def test_a_write_held_open_in_another_database_does_not_hold_back_the_feed(
    served, api: TestClient, tmp_path: Path
):
    """Transaction ids are the server's, shared by its databases; only this one's writers
    can add entries, so only they are waited for."""
    kind, _ = served
    if kind != "postgresql":
        pytest.skip("PostgreSQL's transaction ids")
    coach = signup(api, "coach")
    poller = Poller(api, coach)
    with fresh_database(kind, tmp_path) as elsewhere_url:
        elsewhere = build_engine(elsewhere_url)
        try:
            with elsewhere.connect() as held:
                held.execute(text("CREATE TABLE held (x int)"))  # an id, kept open
                enrol(api, coach, managed_client(api, coach, timezone="UTC")["id"])
                assert [e["type"] for e in poller.poll()] == ["enrolled"]
                held.rollback()
        finally:
            elsewhere.dispose()


# How far ahead of this server's transaction ids the restored entries were numbered: as
# by a server that had run a million more transactions.
RESTORED_AHEAD = 1_000_000


def _epoch(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT seq FROM feed_clock WHERE id = 1")).scalar_one()


def test_after_a_restore_into_a_fresh_server_migrate_numbers_new_entries_above_the_restored(
    served, api: TestClient
):
    """A dump restored into a fresh server holds entries numbered with that server's higher
    transaction ids. `hipfix migrate` raises the epoch, so a poller whose cursor is past them
    still gets every new entry."""
    kind, engine = served
    if kind != "postgresql":
        pytest.skip("PostgreSQL's transaction ids")
    coach = signup(api, "coach")
    restored = [managed_client(api, coach, timezone="UTC")["id"] for _ in range(2)]
    for ref in restored:
        enrol(api, coach, ref)
    with engine.begin() as connection:  # as the old server numbered them
        for ref in restored:
            connection.execute(
                text("UPDATE feed_entry SET seq = seq + :ahead WHERE client_id = :ref"),
                {"ahead": RESTORED_AHEAD * BLOCK, "ref": uuid.UUID(ref)},
            )
        highest = connection.execute(text("SELECT max(seq) FROM feed_entry")).scalar_one()
    cursor = str(highest)  # a poller that had read them all on the old server

    # Without reconciling, a new entry is numbered below the restored ones: skipped for good.
    skipped = managed_client(api, coach, timezone="UTC")["id"]
    enrol(api, coach, skipped)
    assert _poll(api, coach, cursor)["items"] == []

    epoch = _epoch(engine)
    migrated = subprocess.run(
        [HIPFIX, "migrate"],
        env={**os.environ, "HIPFIX_DATABASE_URL": engine.url.render_as_string(False)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr

    later = managed_client(api, coach, timezone="UTC")["id"]
    enrol(api, coach, later)
    assert [(e["client_id"], e["type"]) for e in _poll(api, coach, cursor)["items"]] == [
        (later, "enrolled")
    ]
    # Read from the start, the restored entries are listed too, in their place.
    everything = [e["client_id"] for e in _everything_after(api, coach, "0")]
    assert everything == [skipped, *restored, later]
    assert f"feed: epoch raised from {epoch} to {_epoch(engine)}" in migrated.stdout


def _reconcile(engine: Engine) -> tuple[int, int] | None:
    """What `hipfix migrate` runs, in a transaction of its own."""
    with Session(engine) as session:
        epochs = feed.reconcile_epoch(session)
        session.commit()
    return epochs


def test_reconciling_the_epoch_again_changes_nothing_and_never_lowers_it(served, api: TestClient):
    kind, engine = served
    coach = signup(api, "coach")
    enrol(api, coach, managed_client(api, coach, timezone="UTC")["id"])
    poller = Poller(api, coach)
    if kind == "sqlite":  # the counter row numbers entries there: left alone
        clock = _epoch(engine)
        assert _reconcile(engine) is None
        assert _epoch(engine) == clock
        enrol(api, coach, managed_client(api, coach, timezone="UTC")["id"])
        assert [e["sequence"] for e in poller.poll()] == [clock + 1]
        return

    first = _reconcile(engine)
    assert first is not None
    epoch = first[1]
    assert _reconcile(engine) == (epoch, epoch)
    with engine.begin() as connection:  # higher than the entries need
        connection.execute(text("UPDATE feed_clock SET seq = seq + 10 WHERE id = 1"))
    assert _reconcile(engine) == (epoch + 10, epoch + 10)

    # Numbered and listed with the same epoch: the next entry is listed.
    later = managed_client(api, coach, timezone="UTC")["id"]
    enrol(api, coach, later)
    assert [e["client_id"] for e in poller.poll()] == [later]
