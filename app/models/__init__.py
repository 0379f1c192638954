"""SQLModel tables. Importing this package registers every table on the metadata."""

from app.models.accounts import (
    Account,
    Client,
    Credential,
    LoginFailure,
    PasswordReset,
    ResetRequest,
)
from app.models.base import metadata
from app.models.content import ExerciseRow, ProtocolRow
from app.models.idempotency import IdempotencyRecord
from app.models.progression import AdherenceStanding, EngineCheckpoint, EngineEvent, Override
from app.models.tracking import Assessment, Enrollment, ExerciseSession, PainLog
from app.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Account",
    "AdherenceStanding",
    "Assessment",
    "Client",
    "Credential",
    "EngineCheckpoint",
    "EngineEvent",
    "Enrollment",
    "ExerciseRow",
    "ExerciseSession",
    "IdempotencyRecord",
    "LoginFailure",
    "Override",
    "PainLog",
    "PasswordReset",
    "ProtocolRow",
    "ResetRequest",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
]
