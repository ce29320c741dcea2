"""Settings from the environment, shared by every entry point.

One place, prefix ``WHEREABOUTS_``, so the worker, ``starter.py`` and ``admin.py`` always talk to
the same cluster with the same credentials. Defaults serve the local stack (``make run``).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WHEREABOUTS_", env_file=None, extra="ignore")

    # --- Temporal -------------------------------------------------------------------------
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "whereabouts-cases"
    temporal_tls: bool = False
    temporal_tls_server_ca: Path | None = None
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None

    # --- SMTP -----------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    smtp_timeout_seconds: float = 30.0
    smtp_ca_file: Path | None = None
    mail_from: str = "Whereabouts <whereabouts@school.example.org>"

    # --- Paths ----------------------------------------------------------------------------
    directory_path: Path = ROOT / "examples" / "schools.toml"
    var_dir: Path = ROOT / "var"
    templates_dir: Path = ROOT / "templates"

    # --- The clock ------------------------------------------------------------------------
    # Unset: the real school calendar. Set (e.g. 20): school day N starts (N-1)*this many
    # seconds after the case starts, for demos and training.
    school_day_seconds: float | None = Field(default=None, gt=0)

    # --- Privacy ---------------------------------------------------------------------------
    # "local" generates an encryption key under var/ on first run; "production" refuses to start
    # without WHEREABOUTS_CODEC_KEYS.
    environment: str = Field(default="local", pattern="^(local|production)$")
    codec_keys: SecretStr | None = None  # "id1:base64key,id2:base64key", newest last
    codec_token: SecretStr | None = None  # bearer token the codec server asks for
    codec_server_port: int = 8081
    codec_cors_origins: str = "http://localhost:8233"

    # --- Worker ---------------------------------------------------------------------------
    max_concurrent_activities: int = 50
    max_concurrent_workflow_tasks: int = 50
    max_cached_workflows: int = 10000
    metrics_port: int | None = None

    @property
    def mis_outbox(self) -> Path:
        return self.var_dir / "mis-outbox.jsonl"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
