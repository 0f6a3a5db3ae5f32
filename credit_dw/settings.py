"""The one typed settings object, read from ``CREDIT_DW_*`` environment variables and ``.env``.

Relative paths are taken from the project root, not the working directory, so that a task run by
Airflow's scheduler from another directory reads the same landing area as the CLI.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDIT_DW_",
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # The warehouse database. When unset, a project-local embedded PostgreSQL is started.
    database_url: str | None = None
    # Airflow's metadata database; defaults to "<warehouse database>_airflow" on the same server.
    airflow_database_url: str | None = None
    # Project-local state: embedded server data, sandbox, generated dbt profiles, keys, logs.
    home: Path = PROJECT_ROOT / ".credit_dw"
    # Where source systems drop their files: <landing_dir>/<source>/<business date>/<file>.
    landing_dir: Path | None = None
    # AES-GCM key for personal data, base64 (32 bytes). Unset: a local key file under `home`.
    encryption_key: SecretStr | None = None
    # The business calendar's time zone: business dates and the 02:00 nightly run live in it.
    timezone: str = "Asia/Shanghai"
    # Name of the warehouse database on the embedded server.
    embedded_database: str = "credit_dw"
    # Retries of a pipeline task after a transient error (lost connection, server restart), the
    # first after this many seconds, doubling each time. Data errors are never retried.
    task_retries: int = 3
    retry_delay_seconds: int = 30
    # Landing files an ingest run loads at once, each on a connection of its own, so that the
    # client's parsing of one file overlaps the server's COPY of another. Deliveries of one extract
    # and identical files still load one after another; 1 loads every file in turn.
    ingest_workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1)
    # Operational notifications (a failed nightly task, new critical alerts), by e-mail through
    # Airflow's SMTP provider and to one webhook. No recipients: no e-mail; no URL: no webhook.
    # With no SMTP host the Airflow connection `credit_dw_smtp` is used as Airflow has it.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    alert_email_from: str = "credit-dw@localhost"
    # Comma-separated in the environment: CREDIT_DW_ALERT_EMAIL_TO=risk@example.com,ops@example.com
    alert_email_to: Annotated[list[str], NoDecode] = []
    alert_webhook_url: str | None = None
    # Signs each POST (HMAC-SHA256 of the body, as the API's webhooks); unset: unsigned.
    alert_webhook_secret: SecretStr | None = None

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> list[str]:
        if isinstance(value, str):
            return [address.strip() for address in value.split(",") if address.strip()]
        return value

    @field_validator("home", "landing_dir", mode="after")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        if path is None or path.is_absolute():
            return path
        return (PROJECT_ROOT / path).resolve()

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    @property
    def resolved_landing_dir(self) -> Path:
        return self.landing_dir or self.sandbox_dir / "landing"

    @property
    def embedded_data_dir(self) -> Path:
        return self.home / "pg"

    def encryption_key_bytes(self) -> bytes:
        """The data key; outside production a random one is kept in a 0600 file under `home`."""
        import base64

        if self.encryption_key is not None:
            key = base64.b64decode(self.encryption_key.get_secret_value())
        else:
            key_file = self.home / "secrets" / "encryption.key"
            if not key_file.exists():
                key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(base64.b64encode(secrets.token_bytes(32)).decode())
            key = base64.b64decode(key_file.read_text().strip())
        if len(key) != 32:
            raise ValueError("CREDIT_DW_ENCRYPTION_KEY must be 32 bytes, base64-encoded")
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
