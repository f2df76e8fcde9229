"""Typed, validated settings of the OCR service and of its fault injection."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

DEFAULT_CLIENT_ID = "local-client"
DEFAULT_CLIENT_SECRET = "local-secret"


class SettingsError(ValueError):
    """A setting is out of its allowed range."""


@dataclass(frozen=True)
class FaultSettings:
    """Fault injection, all off by default.

    delay_seconds: extra time each task stays Processing (holds a worker, so queues fill);
    error_rate: share of tasks forced to end in Error; rate_429 / rate_5xx: share of API requests
    answered 429 (with Retry-After) or 503; lost_rate: share of completed tasks whose result is lost
    (reported NotExist). seed: makes the draws reproducible (None = random).
    """

    delay_seconds: float = 0.0
    error_rate: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    lost_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay_seconds <= 3600.0:
            raise SettingsError("delay_seconds must be within 0..3600")
        for name in ("error_rate", "rate_429", "rate_5xx", "lost_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} must be within 0..1, got {value}")

    @classmethod
    def from_mapping(cls, data: dict[str, object], base: FaultSettings | None = None) -> FaultSettings:
        """Build from a JSON object; keys not given keep `base`'s values. Raises SettingsError."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SettingsError(f"unknown fault settings: {sorted(unknown)}")
        values: dict[str, object] = dict(vars(base or cls()))
        for key, value in data.items():
            if key == "seed":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise SettingsError("seed must be an integer or null")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{key} must be a number")
            values[key] = value
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of one server process; see `ocr-service --help` for each flag."""

    host: str = "127.0.0.1"
    port: int = 8085
    workers: int = 2
    queue_size: int = 32
    retention_seconds: float = 24 * 3600.0
    max_tasks: int = 10_000
    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 60_000_000
    task_timeout_seconds: float = 120.0
    token_ttl_seconds: int = 3600
    max_connections: int = 256
    request_timeout_seconds: float = 30.0
    keep_alive_seconds: float = 5.0
    max_json_depth: int = 8
    max_number_digits: int = 32
    max_form_fields: int = 16
    max_regions: int = 64
    max_work_pixels: int = 100_000_000
    max_result_bytes: int = 1024**3
    max_inflight_bytes: int = 256 * 1024**2
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    admin: bool = False
    admin_secret: str | None = None
    faults: FaultSettings = field(default_factory=FaultSettings)

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.port <= 65535, "port must be within 0..65535"),
            (1 <= self.workers <= 64, "workers must be within 1..64"),
            (1 <= self.queue_size <= 100_000, "queue_size must be within 1..100000"),
            (0 < self.retention_seconds <= 30 * 86400, "retention must be within (0, 30 days]"),
            (1 <= self.max_tasks <= 1_000_000, "max_tasks must be within 1..1000000"),
            (1024 <= self.max_bytes <= 1024**3, "max_bytes must be within 1 KiB..1 GiB"),
            (1 <= self.max_pixels <= 500_000_000, "max_pixels must be within 1..500000000"),
            (0 < self.task_timeout_seconds <= 3600, "task timeout must be within (0, 3600]"),
            (1 <= self.token_ttl_seconds <= 86400 * 7, "token ttl must be within 1 s..7 days"),
            (1 <= self.max_connections <= 65536, "max_connections must be within 1..65536"),
            (0 < self.request_timeout_seconds <= 3600, "request timeout must be within (0, 3600]"),
            (0 < self.keep_alive_seconds <= 3600, "keep-alive timeout must be within (0, 3600]"),
            (1 <= self.max_json_depth <= 64, "max_json_depth must be within 1..64"),
            (1 <= self.max_number_digits <= 4000, "max_number_digits must be within 1..4000"),
            (1 <= self.max_form_fields <= 1000, "max_form_fields must be within 1..1000"),
            (1 <= self.max_regions <= 1000, "max_regions must be within 1..1000"),
            (1 <= self.max_work_pixels <= 10**11, "max_work_pixels must be within 1..1e11"),
            (1024 <= self.max_result_bytes <= 1024**4, "max_result_bytes must be within 1 KiB..1 TiB"),
            (1024 <= self.max_inflight_bytes <= 1024**4, "max_inflight_bytes must be within 1 KiB..1 TiB"),
            (
                not self.admin or bool(self.admin_secret),
                "admin routes need an admin secret (--admin-secret or OCR_ADMIN_SECRET)",
            ),
            (bool(self.client_id) and bool(self.client_secret), "client id and secret must be non-empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    @property
    def max_body_bytes(self) -> int:
        """Largest accepted request body: base64 of `max_bytes` plus room for the JSON settings."""
        return self.max_bytes * 4 // 3 + 64 * 1024
