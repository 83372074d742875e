"""Settings from the environment, in one place.

Every setting has a default that works on a developer's machine after ``make install``;
the README's configuration table lists them. Nothing else reads ``os.environ``, with one
deliberate exception: the keys and secrets (``GRAPHSVC_DATA_KEY``, ``GRAPHSVC_KEY_FILE``,
the audit trail's keys, ``GRAPHSVC_SECRET_FILE``) are read in crypto.py, where they are
used, so that they never sit in a Settings object that could be printed or logged. Their
default folder is ``Settings.key_dir`` (crypto.key_dir: an older installation's
``.secrets/`` keeps working).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _project_root(package_dir: Path) -> Path:
    """Where the run-time folders (``.neo4j/``, ``.state/``, the old ``.secrets/``) default to.

    A checkout (``make install``: an editable install) keeps them beside its code. An
    installed wheel has no project folder: they go under the working directory, never into
    site-packages, where a new virtualenv would take the database, the journal and the keys
    with it. GRAPHSVC_STATE_DIR and GRAPHSVC_NEO4J_DIR place them explicitly.
    """
    checkout = package_dir.parent
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root(PACKAGE_DIR)

NEO4J_VERSION = "5.26.31"


@dataclass(frozen=True)
class LocalNeo4j:
    """Where and how the project's own Neo4j instance runs."""

    base: Path  # the .neo4j/ folder: jars and instances
    name: str  # instance name: "dev" for `make run`, "test" for the test suite
    bolt_port: int
    version: str = NEO4J_VERSION
    heap: str = "384m"
    pagecache: str = "256m"
    java_home: str | None = None

    @property
    def home(self) -> Path:
        return self.base / "instances" / self.name

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"


@dataclass(frozen=True)
class Settings:
    # An external server (docker-compose, Aura, a cluster). When unset, the local instance.
    neo4j_uri: str | None
    neo4j_user: str
    neo4j_password: str | None
    neo4j_database: str
    local: LocalNeo4j
    # GRAPHSVC_CYPHER_DIR: the application's named statements (graphsvc/db.py Queries)
    cypher_dir: Path
    batch_size: int = 5000
    # Folders of statements loaded besides cypher_dir (never from the environment): the
    # tests' and benchmarks' own (tests/cypher, bench/cypher), which production never loads.
    cypher_extra: tuple[Path, ...] = ()
    secret_key: str | None = None
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none),
    # so that the audit records the client's address and cookies get Secure over HTTPS.
    proxy_hops: int = 0
    # Visits: a household visited longer ago than this is due a follow-up ("overdue").
    follow_up_days: int = 90
    # Households that arrived within this many days are newcomers (marked on the map).
    newcomer_days: int = 180
    # GRAPHSVC_SUGGEST_*, for suggest.Weights.from_settings (the windows are the fields above)
    suggest_env: tuple[tuple[str, str], ...] = ()
    # GRAPHSVC_UPLOAD_MAX_MB / _MAX_MEGAPIXELS / _MAX_PAGES, for uploads.limits_of (issue 16)
    upload_env: tuple[tuple[str, str], ...] = ()
    # The audit journal (graphsvc/journal.py): GRAPHSVC_AUDIT_JOURNAL, else next to the
    # local instance's data, or .journal/<database>.jsonl for an external server.
    audit_journal_override: Path | None = None
    # GRAPHSVC_STATE_DIR: where the state that is not in Neo4j lives (the audit journal,
    # checkpoints, request slots); default: the local instance's folder, or
    # .state/<database> for an external server.
    state_dir_override: Path | None = None
    # GRAPHSVC_TX_TIMEOUT_LIGHT / _HEAVY / _BATCH: seconds a transaction of that class may
    # run (graphsvc/db.py CLASSES; 0: no limit)
    tx_timeouts: tuple[tuple[str, float | None], ...] = (("light", 15.0), ("heavy", 60.0), ("batch", None))
    # GRAPHSVC_REQUEST_DEADLINE: seconds a web request has to answer, retries included, before
    # it fails with 503 and Retry-After (graphsvc/waits.py); long routes (maps, imports,
    # exports) have none, but their failed transactions are retried no longer than this
    request_deadline: float = 8.0
    # GRAPHSVC_FAILURES_PER_MINUTE: failed requests an address may make in 60 s before its
    # requests without credentials are answered 429 (graphsvc/floodgate.py; 0: no limit)
    failures_per_minute: int = 30
    # GRAPHSVC_FOLD_SECONDS: identical refusals within this many seconds are one audit event
    # with their count (0: every refusal is an event of its own)
    fold_seconds: int = 60
    # GRAPHSVC_HEAVY_PER_USER / GRAPHSVC_HEAVY_TOTAL: heavy requests (maps, big lists) that
    # may run at once per user and per server (graphsvc/slots.py; 0: no limit)
    heavy_per_user: int = 1
    heavy_total: int = 1
    # GRAPHSVC_AUDIT_DURABILITY: what a request waits for before its answer leaves, "write"
    # (the event written to the operating system) or "fsync" (on disk): journal.DURABILITIES
    audit_durability: str = "write"
    # GRAPHSVC_SESSION_MAX_HOURS: a session ends this long after sign-in however active it
    # is (besides the 30 minutes of idleness).
    session_max_hours: float = 12.0
    # GRAPHSVC_AUDIT_CHECKPOINTS: the signed checkpoints of the audit chain
    # (graphsvc/checkpoints.py); default <state dir>/audit/checkpoints.jsonl.
    audit_checkpoints_override: Path | None = None
    # GRAPHSVC_AUDIT_CHECKPOINT_HOURS: the admin's audit page marks a last checkpoint older
    # than this as overdue (is the cron job running?).
    audit_checkpoint_hours: float = 25.0
    # GRAPHSVC_CONTACT_REVEALS_PER_DAY: distinct households whose contact (address, phone)
    # a visitor may reveal in 24 hours; the next is refused 429 and raises an alert
    # (graphsvc/visits.py contact; 0: no limit)
    contact_reveals_per_day: int = 10
    # GRAPHSVC_MAX_LIVE_CLAIMS: live claims a visitor may hold at once (0: no limit)
    max_live_claims: int = 5
    # GRAPHSVC_ASSIGN_DAYS: how long a coordinator's assignment lasts (graphsvc/dispatch.py)
    assign_days: int = 30
    # GRAPHSVC_FOLLOW_UP_REMINDER_DAYS: a follow-up due this many days is "reminded twice"
    follow_up_reminder_days: int = 7
    # GRAPHSVC_RETAIN_NOTES_DAYS: visit notes older than this are shredded (graphsvc/retention.py;
    # 0: kept for ever); GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS: the address, program and detail of
    # audit events older than this are removed (0: kept for ever); GRAPHSVC_RETENTION_AT_START:
    # 1 (default) runs retention once when the web app starts, in the background
    retain_notes_days: int = 730
    retain_audit_detail_days: int = 365
    retention_at_start: bool = True
    # GRAPHSVC_TIMEZONE: the zone of the network's days ("today" of a visit report)
    timezone: str = "Asia/Seoul"
    # GRAPHSVC_RESET_LINK_HOURS: how long a password-reset link works (graphsvc/team.py)
    reset_link_hours: float = 24.0
    # GRAPHSVC_ALERT_* and GRAPHSVC_WORK_HOURS: the alert rules' thresholds, read and checked
    # by graphsvc/alerts.py Rules.from_settings (the README lists them)
    alert_env: tuple[tuple[str, str], ...] = ()

    @property
    def state_dir(self) -> Path:
        """The folder of this database's state outside Neo4j (one per database)."""
        if self.state_dir_override:
            return self.state_dir_override
        if self.uses_local:
            return self.local.home
        return PROJECT_ROOT / ".state" / self.neo4j_database

    @property
    def key_dir(self) -> Path:
        """The folder of this database's key files (data keys, the audit trail's keys, the
        web secret) when no variable places them: crypto.key_dir decides, as an older
        installation may still keep them in PROJECT_ROOT/.secrets/."""
        return self.state_dir / "keys"

    @property
    def files_dir(self) -> Path:
        """The folder of stored files (photos, receipts), each encrypted: storage.files_dir."""
        return self.state_dir / "files"

    @property
    def audit_journal(self) -> Path:
        """The audit journal of the database these settings point at (one per database)."""
        if self.audit_journal_override:
            return self.audit_journal_override
        return self.state_dir / "audit" / "journal.jsonl"

    @property
    def audit_checkpoints(self) -> Path:
        """The file of signed audit checkpoints of this database (one per database)."""
        if self.audit_checkpoints_override:
            return self.audit_checkpoints_override
        return self.state_dir / "audit" / "checkpoints.jsonl"

    @property
    def uses_local(self) -> bool:
        return not self.neo4j_uri

    def with_instance(self, name: str, bolt_port: int) -> Settings:
        return replace(self, local=replace(self.local, name=name, bolt_port=bolt_port))


DEFAULT_PORTS = {"dev": 7687, "test": 7688, "bench": 7689}


def _positive_hours(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of hours above 0 and at most 30 days, or a ValueError naming the variable.

    >>> _positive_hours({"H": "0.5"}, "H", 12.0), _positive_hours({}, "H", 12.0)
    (0.5, 12.0)
    >>> _positive_hours({"H": "zero"}, "H", 12.0)
    Traceback (most recent call last):
    ...
    ValueError: H must be a number of hours above 0 and at most 720, not 'zero'
    """
    raw = env.get(name) or ""
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 720:  # also false for nan
        raise ValueError(f"{name} must be a number of hours above 0 and at most 720, not {raw!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    instance = env.get("GRAPHSVC_NEO4J_INSTANCE", "dev")
    port = int(env.get("GRAPHSVC_NEO4J_PORT") or DEFAULT_PORTS.get(instance, 7687))
    local = LocalNeo4j(
        base=Path(env.get("GRAPHSVC_NEO4J_DIR") or PROJECT_ROOT / ".neo4j"),
        name=instance,
        bolt_port=port,
        version=env.get("GRAPHSVC_NEO4J_VERSION") or NEO4J_VERSION,
        heap=env.get("GRAPHSVC_NEO4J_HEAP") or "384m",
        pagecache=env.get("GRAPHSVC_NEO4J_PAGECACHE") or "256m",
        java_home=env.get("JAVA_HOME") or None,
    )
    durability = env.get("GRAPHSVC_AUDIT_DURABILITY") or "write"
    if durability not in ("write", "fsync"):  # journal.DURABILITIES
        raise ValueError(f"GRAPHSVC_AUDIT_DURABILITY must be 'write' or 'fsync', not {durability!r}")
    session_max_hours = _positive_hours(env, "GRAPHSVC_SESSION_MAX_HOURS", 12.0)
    return Settings(
        neo4j_uri=env.get("NEO4J_URI") or None,
        neo4j_user=env.get("NEO4J_USER") or "neo4j",
        neo4j_password=env.get("NEO4J_PASSWORD") or None,
        neo4j_database=env.get("NEO4J_DATABASE") or "neo4j",
        local=local,
        cypher_dir=Path(env.get("GRAPHSVC_CYPHER_DIR") or PACKAGE_DIR / "cypher"),
        batch_size=int(env.get("GRAPHSVC_BATCH_SIZE") or 5000),
        secret_key=env.get("GRAPHSVC_SECRET_KEY") or None,
        proxy_hops=int(env.get("GRAPHSVC_PROXY_HOPS") or 0),
        follow_up_days=int(env.get("GRAPHSVC_FOLLOW_UP_DAYS") or 90),
        newcomer_days=int(env.get("GRAPHSVC_NEWCOMER_DAYS") or 180),
        audit_journal_override=Path(env["GRAPHSVC_AUDIT_JOURNAL"]) if env.get("GRAPHSVC_AUDIT_JOURNAL") else None,
        audit_durability=durability,
        state_dir_override=Path(env["GRAPHSVC_STATE_DIR"]) if env.get("GRAPHSVC_STATE_DIR") else None,
        failures_per_minute=_count(env, "GRAPHSVC_FAILURES_PER_MINUTE", 30),
        fold_seconds=_count(env, "GRAPHSVC_FOLD_SECONDS", 60),
        heavy_per_user=_count(env, "GRAPHSVC_HEAVY_PER_USER", 1),
        heavy_total=_count(env, "GRAPHSVC_HEAVY_TOTAL", max(1, (os.cpu_count() or 2) - 1)),
        tx_timeouts=tuple(
            (cls, _seconds(env, f"GRAPHSVC_TX_TIMEOUT_{cls.upper()}", default))
            for cls, default in (("light", 15.0), ("heavy", 60.0), ("batch", None))
        ),
        request_deadline=_seconds(env, "GRAPHSVC_REQUEST_DEADLINE", 8.0) or 8.0,
        session_max_hours=session_max_hours,
        audit_checkpoints_override=(
            Path(env["GRAPHSVC_AUDIT_CHECKPOINTS"]) if env.get("GRAPHSVC_AUDIT_CHECKPOINTS") else None
        ),
        audit_checkpoint_hours=_positive_hours(env, "GRAPHSVC_AUDIT_CHECKPOINT_HOURS", 25.0),
        contact_reveals_per_day=_count(env, "GRAPHSVC_CONTACT_REVEALS_PER_DAY", 10),
        max_live_claims=_count(env, "GRAPHSVC_MAX_LIVE_CLAIMS", 5),
        assign_days=_count(env, "GRAPHSVC_ASSIGN_DAYS", 30) or 30,
        follow_up_reminder_days=_count(env, "GRAPHSVC_FOLLOW_UP_REMINDER_DAYS", 7),
        timezone=_zone(env.get("GRAPHSVC_TIMEZONE") or "Asia/Seoul"),
        reset_link_hours=_positive_hours(env, "GRAPHSVC_RESET_LINK_HOURS", 24.0),
        retain_notes_days=_count(env, "GRAPHSVC_RETAIN_NOTES_DAYS", 730),
        retain_audit_detail_days=_count(env, "GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS", 365),
        retention_at_start=_count(env, "GRAPHSVC_RETENTION_AT_START", 1) != 0,
        suggest_env=tuple(sorted((k, v) for k, v in env.items() if k.startswith("GRAPHSVC_SUGGEST_"))),
        upload_env=tuple(sorted((k, v) for k, v in env.items() if k.startswith("GRAPHSVC_UPLOAD_"))),
        alert_env=tuple(
            sorted((k, v) for k, v in env.items() if k.startswith("GRAPHSVC_ALERT_") or k == "GRAPHSVC_WORK_HOURS")
        ),
    )


def _zone(name: str) -> str:
    """An IANA time zone name (``Asia/Seoul``), or a ValueError naming the variable."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"GRAPHSVC_TIMEZONE must be a time zone like Asia/Seoul, not {name!r}") from None
    return name


def _seconds(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    """A number of seconds from the environment; 0 means none (no limit)."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value or None


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number >= 0 from the environment."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if not raw.strip().isascii() or not raw.strip().isdigit():
        raise ValueError(f"{name} must be a whole number >= 0, not {raw!r}")
    return int(raw)
