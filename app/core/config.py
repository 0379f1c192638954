"""Settings read from the environment (prefix ``HIPFIX_``) or a ``.env`` file."""

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.rate_limit import RateString

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HIPFIX_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///./data/hipfix.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    log_level: LogLevel = Field(default="INFO", description="Level of the service's own logs.")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How log lines are written: readable text, or one JSON object per line "
        "(docs/operations.md lists the fields).",
    )
    access_log: bool = Field(
        default=True,
        description="One log line per request (`hipfix.access`, at INFO): method, route "
        "template, status, duration, request id and the caller's kind; `off` writes none.",
    )
    metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics at `GET /metrics` on the API's port and keep them; "
        "`off` does neither.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins allowed to call the API; empty allows none.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted, in bytes."
    )

    token_ttl_days: int = Field(
        default=30, ge=1, le=365, description="Days a login token stays valid."
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failed sign-ins per e-mail and client address before throttling.",
    )
    login_failure_window_seconds: int = Field(
        default=900, ge=10, le=86_400, description="Window in which failed sign-ins count."
    )
    db_threads: int | None = Field(
        default=None,
        ge=1,
        le=14,
        description="Threads per worker process on which requests' units of work run (SQLite "
        "writes use one more, alone). Default: 2 on SQLite, where the work holds the GIL and "
        "more threads only contend for it (bench/RESULTS.md); 4 on PostgreSQL, whose round "
        "trips then overlap.",
    )
    content_recheck_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="How long a process serves the latest protocol or exercise version it "
        "knows before asking the database again (published versions never change).",
    )
    write_rate_limit: RateString = Field(
        default="20/second;600/minute",
        description="Writes (POST, PUT, PATCH, DELETE; not simulations or sign-in) allowed per "
        "bearer token or API key (per address when signed out) and worker process, as `limits` "
        "rate strings joined by ';'; empty turns the limit off. Beyond it: 429 with "
        "Retry-After. Out of reach of honest use: a phone sending one request at a time over "
        "the Internet (50 ms or more a round trip) cannot make 20 a second, an offline backlog "
        "goes up as one batch, and a coach's sync of 100 clients x 5 writes fits in a minute. "
        "At the limit one caller holds SQLite's writer about a tenth of each second (20 "
        "writes of ~5 ms) and a twentieth over a minute.",
    )

    replay_budget: RateString = Field(
        default="10000 per 2 minutes",
        description="Stored items the engine may re-evaluate for one bearer token or API key "
        "(per address when signed out) and worker process within the window, as `limits` rate "
        "strings joined by ';'; empty turns the budget off. A caller past it gets 429 with "
        "Retry-After on its next write until enough of its replays are out of the window. "
        "Each write is charged what it replayed: an append the items it adds, a backdated "
        "write at most 150, a coach's change of parameters the whole history (up to about "
        "12,000 items, over a second of SQLite's writer). Out of reach of honest use: a coach "
        "changing the parameters of 15 clients with three months of ordinary logs, or a day's "
        "backfill of 60 backdated logs. At the budget one caller holds the writer about 2% of "
        "the time (10,000 items, and the one write that crossed the budget, in 2 minutes at "
        "some 8,000 items a second).",
    )

    cpu_processes: int = Field(
        default=1,
        ge=0,
        le=4,
        description="Worker processes for the simulator's engine, so that its CPU is not taken "
        "from the serving process's other requests (app/core/cpu_pool.py); 0 runs it on a "
        "thread of the serving process.",
    )
    webhooks_worker: bool = Field(
        default=True,
        description="Run the webhook delivery worker in each process (off: deliveries wait in "
        "the outbox for a process that runs it).",
    )
    webhooks_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often an idle delivery worker looks for due deliveries.",
    )
    webhooks_allow_private_urls: bool = Field(
        default=False,
        description="Accept webhook URLs on loopback, private, link-local and other non-public "
        "addresses, and plain http (development and tests only).",
    )

    smtp_url: str | None = Field(
        default=None,
        description="Where mail goes (forgotten-password links): smtp://[user:password@]host"
        "[:port] (STARTTLS when the server offers it), or smtps:// for TLS from the start. "
        "Unset: each mail is written to `mail_dir` and logged, so development needs no mail "
        "server.",
    )
    mail_dir: str = Field(
        default="./data/mail",
        description="Where mails are written when no SMTP URL is set (one .eml file each).",
    )
    mail_from: str = Field(
        default="HipFix <no-reply@hipfix.invalid>", description="The sender of HipFix's mail."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Where people reach this service (scheme, host, port, any path prefix): "
        "every absolute link in a mail starts with it. Never taken from the request, whose "
        "`Host` header the caller chooses. `make run` sets it to the address it serves on.",
    )
    password_reset_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]*\{token\}[^\s]*$",
        description="The page of your app where a person chooses a new password, with "
        "`{token}` where the reset token goes (e.g. `https://app.example.com/reset?token="
        "{token}`): the reset mail links to it, for a click. The page POSTs the new password "
        "to `/v1/auth/password-reset/{token}`. Unset: the mail gives that API address and the "
        "token on a line of its own, to copy.",
    )
    password_reset_ttl_minutes: int = Field(
        default=60, ge=5, le=1440, description="How long a forgotten-password link works."
    )
    password_reset_max_requests: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Forgotten-password requests per e-mail (and ten times that per client "
        "address) within `login_failure_window_seconds` before 429.",
    )

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # The environment gives one comma-separated string, not JSON.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
