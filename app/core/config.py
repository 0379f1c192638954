"""Settings read from the environment (prefix ``HIPFIX_``) or a ``.env`` file."""

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    db_threads: int = Field(
        default=4,
        ge=1,
        le=14,
        description="Threads per worker process for database work (SQLite writes use one "
        "more, alone).",
    )
    content_recheck_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="How long a process serves the latest protocol or exercise version it "
        "knows before asking the database again (published versions never change).",
    )

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
