"""Settings from the environment, shared by every entry point.

One place, prefix ``WHEREABOUTS_``, so the worker, ``starter.py`` and ``admin.py`` always talk to
the same cluster with the same credentials. Defaults serve the local stack (``make run``).
"""

from __future__ import annotations

import os
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
    # The same from a file (a Docker secret): this process's identity for Temporal's authorization
    # (a JWT), re-read when the file changes, so a short-lived token can be renewed beside it.
    temporal_api_key_file: Path | None = None

    # --- Releases: Worker Deployment versioning (``whereabouts/versioning.py``) ---------------
    # Every worker is a version (deployment name + build id) of one Worker Deployment; a case
    # auto-upgrades to the deployment's current version. Unset build id: the package version and
    # a hash of the code, so a changed checkout is a new build.
    deployment_name: str = Field(default="whereabouts", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    build_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.+-]{1,60}$")
    worker_versioning: bool = True
    # Make this worker's build the current version when it starts: "first" (only if the
    # deployment has none: a first install), "always" (make run), or "never" (promote by hand).
    # Unset: "always" locally, "first" in production.
    promote: str | None = Field(default=None, pattern="^(first|always|never)$")

    # --- SMTP -----------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    # Production refuses "none" (the mail carries children's details) unless this says otherwise,
    # e.g. a relay on the same host that does not offer TLS.
    smtp_allow_plain: bool = False
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
    # "local" reads the encryption key make run generates under var/; "production" refuses to
    # start without WHEREABOUTS_CODEC_KEYS. Neither starts without a key, unless (local only)
    # demo_unencrypted says this is a throwaway demo with no real child in it.
    environment: str = Field(default="local", pattern="^(local|production)$")
    codec_keys: SecretStr | None = None  # "id1:base64key,id2:base64key", newest last
    demo_unencrypted: bool = False
    # Case IDs are a keyed pseudonym of URN and UPN (``whereabouts/pseudonym.py``): base64, 32
    # bytes; locally, unset: var/pseudonym-key, which make run creates.
    pseudonym_key: SecretStr | None = None
    # This process's own signing key (``whereabouts.identity``): a member of staff's for admin.py,
    # the feed's for starter.py, the worker's for the worker. Locally, unset: the demo keys in
    # examples/keys/ (which production refuses).
    signing_key: Path | None = None
    # The codec server. Locally: a token (var/codec-token), presented once to sign a browser in.
    # In production: the Web UI user's own access token (a JWT), checked against the identity
    # provider's keys (codec_jwks_url) or a shared HS256 secret, and the permission it must carry.
    codec_token: SecretStr | None = None
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8081
    codec_cors_origins: str = "http://localhost:8233"
    codec_jwks_url: str | None = None
    codec_jwt_hs256_secret: SecretStr | None = None
    codec_jwt_issuer: str | None = None
    codec_jwt_audience: str | None = None
    codec_jwt_permissions_claim: str = "permissions"
    codec_jwt_permission: str | None = None  # default: "<namespace>:decode"

    # --- Worker ---------------------------------------------------------------------------
    max_concurrent_activities: int = 50
    max_concurrent_workflow_tasks: int = 50
    max_cached_workflows: int = 10000
    metrics_port: int | None = None

    @property
    def mis_outbox(self) -> Path:
        return self.var_dir / "mis-outbox.jsonl"

    @property
    def decode_permission(self) -> str:
        """The permission a Web UI user's token must carry for the codec server to decode."""
        return self.codec_jwt_permission or f"{self.temporal_namespace}:decode"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def plain_smtp_refused(settings: Settings) -> str | None:
    """Why these settings may not send mail, or None: production sends children's details only
    over TLS (STARTTLS or implicit TLS) unless WHEREABOUTS_SMTP_ALLOW_PLAIN says otherwise."""
    if (
        settings.environment == "production"
        and settings.smtp_security is SmtpSecurity.NONE
        and not settings.smtp_allow_plain
    ):
        return (
            "WHEREABOUTS_SMTP_SECURITY=none: production sends mail only over TLS; set starttls or tls "
            "(or, for a relay on this host that has no TLS, WHEREABOUTS_SMTP_ALLOW_PLAIN=1)"
        )
    return None


# --- Files only this user may read ------------------------------------------------------------
# What Whereabouts writes beside the MIS outbox (rejects, saved e-mails, the dev server's
# database, the local key and token) names children, or unlocks what does: 0600 files in 0700
# folders, whatever the umask.
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """``path`` made (with its parents) and, if this user owns it, closed to everyone else."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(PRIVATE_DIR)
    return path


def open_private(path: str | os.PathLike[str], *, exclusive: bool = False) -> int:
    """A file descriptor for writing ``path`` from empty, mode 0600 from the first byte (an
    existing file is truncated and its mode tightened). ``exclusive``: fail if it exists."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    fd = open_private(path, exclusive=exclusive)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
