"""The clinical views, each read and rendered in one unit of work (the record's rows are
only readable inside it)."""

from datetime import date, datetime
from urllib.parse import urlencode

from sqlmodel import Session

from app.accounts.access import ClientAccess
from app.catalogue.service import protocol_row
from app.clinical import fhir
from app.clinical.chart import pain_chart
from app.clinical.record import read_record
from app.clinical.report import report_html
from app.clinical.summary import standing_of
from app.core.caching import Rendered, VersionedBodies
from app.core.problems import NotFoundError
from app.core.windows import window


def client_fhir(
    session: Session,
    access: ClientAccess,
    since: datetime | None,
    count: int,
    cursor: str | None,
    path: str,
) -> bytes:
    """One page of the client's bundle: `count` pain logs after `cursor`, and a `next` link
    (relative to this server, from `path`) while more follow."""
    record = read_record(session, access, since=since, page=(count, cursor))
    next_url = None
    if record.next_cursor is not None:
        query = {"_count": count, "_cursor": record.next_cursor}
        if since is not None:
            query["_since"] = since.isoformat()
        next_url = f"{path}?{urlencode(query)}"
    return fhir.client_bundle(record, since, first_page=cursor is None, next_url=next_url)


def chart_svg(
    session: Session, access: ClientAccess, start: date | None, end: date | None
) -> Rendered:
    low, high = window(start, end)
    record = read_record(session, access, start=low, end=high, bounded=True, extras=True)
    # Drawn over what was asked (or what the window holds), as before windows.
    return Rendered.of(pain_chart(record, start, end).encode())


def report(
    session: Session, access: ClientAccess, start: date | None = None, end: date | None = None
) -> bytes:
    low, high = window(start, end)
    record = read_record(
        session, access, start=low, end=high, all_decisions=True, bounded=True, extras=True
    )
    return report_html(record, (low, high), standing_of(session, record)).encode()


def render_plan_definition(
    session: Session, bodies: VersionedBodies, slug: str, version: int | None
) -> Rendered:
    """A published protocol version as a PlanDefinition; kept like the catalogue's bodies."""
    row = protocol_row(session, slug, version)
    if row is None:
        which = f"version {version} of " if version is not None else ""
        raise NotFoundError(f"No published {which}protocol '{slug}'.")
    rendered = Rendered.of(fhir.render(fhir.plan_definition(row.document)))
    return bodies.keep(slug, row.version, rendered, latest=version is None)
