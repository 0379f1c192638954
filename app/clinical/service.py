"""The clinical views, each read and rendered in one unit of work (the record's rows are
only readable inside it)."""

from datetime import date, datetime

from sqlmodel import Session

from app.accounts.access import ClientAccess
from app.catalogue.service import protocol_row
from app.clinical import fhir
from app.clinical.chart import pain_chart
from app.clinical.record import read_record
from app.clinical.report import report_html
from app.core.caching import Rendered, VersionedBodies
from app.core.problems import NotFoundError, ProblemError


def client_fhir(session: Session, access: ClientAccess, since: datetime | None) -> bytes:
    record = read_record(session, access, since=since)
    return fhir.render(fhir.client_bundle(record, since))


def chart_svg(
    session: Session, access: ClientAccess, start: date | None, end: date | None
) -> Rendered:
    if start is not None and end is not None and start > end:
        raise ProblemError(
            422,
            "invalid-range",
            "`from` is after `to`.",
            errors=[{"loc": ["query", "from"], "msg": "After `to`", "type": "invalid_range"}],
        )
    record = read_record(session, access, start=start, end=end)
    return Rendered.of(pain_chart(record, start, end).encode())


def report(session: Session, access: ClientAccess) -> bytes:
    return report_html(read_record(session, access)).encode()


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
