"""Every setting of the service, read once from ``COMPANION_*`` environment variables.

``Settings()`` is built by the CLI (or a test) and handed to ``create_app``; nothing else reads the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from companion.addresses import normalise_proxy, normalise_public_url

UpstreamKind = Literal["local", "openai", "azure"]
RefreshTiming = Literal["immediate", "after_response"]
SmtpTls = Literal["none", "starttls", "tls"]


class Settings(BaseSettings):
    # An empty variable means "not set" (``COMPANION_MUSIC_DIR=`` must not become the current folder).
    model_config = SettingsConfigDict(env_prefix="COMPANION_", extra="ignore", env_ignore_empty=True)

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default=Path("data"), description="Where the default SQLite file lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/companion.db",
    )
    admin_token: SecretStr | None = Field(default=None, description="Bootstrap admin bearer token")
    log_level: str = "INFO"

    # Instructions
    token_budget: int = Field(default=6000, ge=500, le=100_000)

    # Live sessions
    upstream: UpstreamKind = "local"
    upstream_url: str | None = None
    upstream_api_key: SecretStr | None = None
    upstream_model: str = "gpt-realtime"
    azure_api_version: str | None = None
    refresh_timeout_s: float = Field(default=3.0, gt=0, le=60)
    refresh_timing: RefreshTiming = "immediate"
    upstream_max_session_s: float | None = Field(
        default=None,
        gt=0,
        description="Rotate to a new model session after this long, at a quiet moment; "
        "default 55 min for OpenAI and the offline engine, 25 min for Azure (caps: 60 and 30 min)",
    )
    upstream_reconnect_s: float = Field(
        default=30.0, gt=0, le=600, description="Give up replacing a lost model connection after this long"
    )
    allowed_origins: list[str] = Field(default_factory=list)
    max_sessions_per_person: int = Field(
        default=3, ge=1, le=1000, description="Live conversations one person may have at once"
    )
    max_sessions_per_device: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Live conversations one device (or device token) may hold at once",
    )
    voice: str = "alloy"

    # Offline engine
    local_max_session_s: float = Field(default=3600.0, gt=0)
    local_chat_url: str | None = None

    # The elder's page
    music_dir: Path | None = Field(default=None, description="Folder of audio files the page may play")

    # The family's photos (see README "Family photos")
    photo_max_file_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024, description="The largest photo file accepted"
    )
    photo_upload_max_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="The largest upload request (several photos at once) the service reads",
    )
    photo_max_pixels: int = Field(
        default=50_000_000,
        ge=10_000,
        le=200_000_000,
        description="Photos with more pixels are refused before decoding (a decompression bomb); an "
        "iPhone's 48 MP photo fits",
    )
    photo_max_count: int = Field(default=300, ge=1, le=100_000, description="Photos one person may have")
    photo_quota_bytes: int = Field(
        default=500 * 1024 * 1024,
        ge=1024,
        description="Stored bytes of one person's photos (display copies, thumbnails, originals)",
    )
    photo_keep_originals: bool = Field(
        default=False,
        description="Also keep each photo at full size (upright, without metadata) beside its display copy",
    )
    photos_per_conversation: int = Field(
        default=6, ge=1, le=50, description="Photos the companion may show in one conversation"
    )

    # Alerts and reminders (see README "Alerts and reminders")
    public_url: str | None = Field(
        default=None,
        description="The service's address as families reach it (https://host[:port]), for every link "
        "and QR code it hands out; required when it listens beyond loopback or behind a proxy",
    )
    webhook_url: str | None = Field(default=None, description="Where alerts are POSTed, signed")
    webhook_secret: SecretStr | None = Field(default=None, description="Standard Webhooks secret, whsec_...")
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_tls: SmtpTls = "starttls"
    escalation_after_s: float = Field(
        default=600.0,
        gt=0,
        description="A critical alert nobody acknowledged goes to the next contact after this",
    )
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    reminder_ack_timeout_s: float = Field(
        default=1800.0, gt=0, description="A reminder not acknowledged this long after it is due is missed"
    )
    reminders: bool = Field(
        default=True,
        description="Bring medication and check-in reminders due (the care loop's reminder step)",
    )
    reminder_snooze_s: float = Field(default=600.0, gt=0, le=24 * 3600)

    # The service's edge
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token that may read /metrics (the admin token always may)"
    )
    api_docs: bool = Field(default=False, description="Serve /docs, /redoc and /openapi.json")
    # The largest body (a 512 KiB section) takes ~25 s over a poor 3G link at 20 KB/s; twice that. A
    # client trickling its body holds a connection and a task for at most this long (a slow-body attack).
    body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="A request body not in whole this long after its head is cut (408)",
    )
    # Each live conversation holds two sockets (the tablet's and the model's), and the usual limit of
    # open files is 1024: beyond this many open connections a request is answered 503 at once, before
    # the process runs out of descriptors and fails everyone. Live conversations themselves are bounded
    # per person and per device (max_sessions_per_*).
    max_connections: int = Field(
        default=400, ge=2, le=100_000, description="Open connections beyond which requests get 503 at once"
    )
    # Reaching it from a tablet (see README "On a real tablet"); checked at start by edge.check_serving
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain): serve https itself")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert, unencrypted")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; by default nobody's are",
    )

    # Several instances (see README "Several instances")
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db: turns on cluster mode (shared live-session registry, changes "
        "and commands between instances, shared dashboard sign-ins); unset, one instance works alone",
    )
    instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.\-]{1,64}$",
        description="This instance's name in the cluster; default the host name and process id",
    )
    instance_ttl_s: int = Field(
        default=15,
        ge=3,
        le=300,
        description="Seconds after which a silent instance counts as gone and its conversations leave "
        "every list; each instance renews its entry every third of this",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return normalise_public_url(value) if value else None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _trusted_proxies(cls, value: Any) -> Any:
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list):
            return value
        return [normalise_proxy(str(entry)) for entry in entries if str(entry).strip()]

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("CERT", "KEY") if self.tls_cert else ("KEY", "CERT")
            raise ValueError(
                f"COMPANION_TLS_{given} is set without COMPANION_TLS_{missing}: set both to serve "
                "https, or neither"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'companion.db'}"


class ClientSettings(BaseSettings):
    """What the CLI needs to talk to a running server."""

    model_config = SettingsConfigDict(env_prefix="COMPANION_", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    token: SecretStr | None = None
