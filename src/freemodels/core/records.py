"""The immutable records that flow one way through freemodels.

catalog → (Provider, Model) → probe → ProbeResult → stats → ModelStats → Snapshot → ui/cli/exporters
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_MAX_OUTPUT = 32768
# What kind of "free" a provider is (docs/catalog.md): a renewing free tier, a one-time trial
# credit, or anonymous keyless access.
FREE_KINDS = ("tier", "trial", "keyless")
HOUR = 3600.0
"""Seconds in an hour: rollups and rhythms bucket samples by it."""
_ENV_REF = re.compile(r"\{([A-Z_][A-Z0-9_]*)\}")


@functools.lru_cache(maxsize=256)
def _url_variables(base_url: str) -> tuple[str, ...]:
    return tuple(_ENV_REF.findall(base_url))


class Outcome(StrEnum):
    """What one probe found (docs/architecture.md, "Outcomes")."""

    OK = "ok"
    NO_KEY = "no_key"
    AUTH_FAILED = "auth_failed"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"
    BAD_RESPONSE = "bad_response"
    REJECTED = "rejected"

    @property
    def server_side(self) -> bool:
        """Whether this outcome counts against availability (a failure of the service)."""
        return self in _SERVER_SIDE

    @property
    def label(self) -> str:
        """The outcome as every screen words it (`unreachable`); JSON keeps `value`."""
        return _LABELS[self]


_SERVER_SIDE = frozenset(
    {Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.NETWORK_ERROR, Outcome.BAD_RESPONSE}
)
# One wording per outcome for the tables, `keys test` and the dashboard.
_LABELS = {
    Outcome.OK: "ok",
    Outcome.NO_KEY: "no key",
    Outcome.AUTH_FAILED: "auth failed",
    Outcome.RATE_LIMITED: "rate limited",
    Outcome.NOT_FOUND: "gone",  # 404/410: the model is gone ("gone?" after a day of them)
    Outcome.SERVER_ERROR: "server error",
    Outcome.TIMEOUT: "timeout",
    Outcome.NETWORK_ERROR: "unreachable",
    Outcome.BAD_RESPONSE: "bad response",
    Outcome.REJECTED: "rejected",
}
SKIPPED_LABEL = "skipped"  # a probe the local budget held back: `rate_limited` with no status


def format_ms(value: float) -> str:
    """A time as every screen prints it: `1,174 ms`."""
    return f"{value:,.0f} ms"


def format_wait(seconds: float, *, compact: bool = False) -> str:
    """How long until a pause ends or a held-back probe may run: `42 s`, `3 min`, `2 h`
    (`42s`, `3m`, `2h` where a table cell is narrow)."""
    seconds = max(0.0, seconds)
    units = ("s", "m", "h") if compact else (" s", " min", " h")
    if seconds < 90:
        return f"{seconds:.0f}{units[0]}"
    if seconds < 5400:
        return f"{seconds / 60:.0f}{units[1]}"
    return f"{seconds / 3600:.0f}{units[2]}"


class ProbeKind(StrEnum):
    """Why a request was sent: every kind counts against the budget."""

    PROBE = "probe"
    SPEED = "speed"
    TOOLS = "tools"
    KEY_TEST = "key_test"
    MODELS = "models"
    ROUTED = "routed"
    """A user's request relayed by the router: a sample like a probe, and its TTFT."""


@dataclass(frozen=True, slots=True)
class Model:
    """One chat model of a provider, as the catalog describes it."""

    id: str
    name: str
    context: int | None  # None: unknown (a user's own server); tool configs get their default
    max_output: int | None = None
    tier: str | None = None
    swe_bench: float | None = None
    reasoning: bool = False
    tool_calls: bool | None = None
    rpd: int | None = None
    until: dt.date | None = None

    @property
    def output_limit(self) -> int:
        """The output-token limit tool configs need: the catalog's, else min(context, 32768)."""
        if self.max_output is not None:
            return self.max_output
        return min(self.context or DEFAULT_MAX_OUTPUT, DEFAULT_MAX_OUTPUT)


@dataclass(frozen=True, slots=True)
class Provider:
    """One OpenAI-compatible endpoint family and its free-tier limits."""

    id: str
    name: str
    base_url: str
    api_key_env: tuple[str, ...]
    signup_url: str
    key_required: bool = True
    rpm: int | None = None
    rpd: int | None = None
    budget: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    models: tuple[Model, ...] = ()
    free: str = "tier"  # one of FREE_KINDS
    until: dt.date | None = None  # the service's end: hidden from this date on
    verified: dt.date | None = None  # when the catalog's facts about it were last checked

    @property
    def trial(self) -> bool:
        """Whether the free use is a one-time trial credit rather than a renewing tier."""
        return self.free == "trial"

    @property
    def keyless(self) -> bool:
        """Whether the free use is anonymous: no key at all."""
        return self.free == "keyless"

    @property
    def budget_id(self) -> str:
        """The rate budget this provider draws from (its own id unless it shares one)."""
        return self.budget or self.id

    @property
    def url_variables(self) -> tuple[str, ...]:
        """Environment variables named as `{VAR}` in the base URL."""
        return _url_variables(self.base_url)

    def resolve_base_url(self, env: Mapping[str, str] | None = None) -> str | None:
        """The base URL with `{VAR}` filled in, or None when a variable is unset."""
        if not self.url_variables:
            return self.base_url.rstrip("/")
        source = os.environ if env is None else env
        missing = [name for name in self.url_variables if not source.get(name)]
        if missing:
            return None
        return _ENV_REF.sub(lambda m: source[m.group(1)], self.base_url).rstrip("/")

    def model(self, model_id: str) -> Model | None:
        """The model with this id, if the provider lists it."""
        for model in self.models:
            if model.id == model_id:
                return model
        return None


@dataclass(frozen=True, slots=True, order=True)
class ModelRef:
    """The one name of a model everywhere in freemodels: a provider id and a model id.

    Written `provider/model`; it splits at the first `/` (provider ids never contain one, model
    ids may). Tuples and strings name models only at the edges (JSON, SQL, Prometheus labels).
    """

    provider: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Split `PROVIDER/MODEL` at the first slash; ValueError when either side is empty."""
        provider, sep, model = text.partition("/")
        if not sep or not provider or not model:
            raise ValueError(f"expected PROVIDER/MODEL, got {text!r}")
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One request's measurements: never raised, always returned."""

    provider: str
    model: str
    outcome: Outcome
    started_at: float  # wall clock (time.time()) when the request was sent
    http_status: int | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    headers_ms: float | None = None
    reused: bool | None = None
    error: str | None = None
    retry_after_s: float | None = None
    kind: ProbeKind = ProbeKind.PROBE
    tokens_per_s: float | None = None
    tool_calls: bool | None = None

    @property
    def ref(self) -> ModelRef:
        """The `provider/model` this result is about."""
        return ModelRef(self.provider, self.model)


class Health(StrEnum):
    """The hysteresis state of a model: DOWN after 3 consecutive failures, UP after 2 oks."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Aggregates over one window for one model (the JSON record of `check` and `stats`)."""

    provider: str
    model: str
    name: str
    outcome: Outcome | None
    http_status: int | None
    samples: int
    ok: int
    availability: float | None
    ttft_ms: float | None
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    ttft_p95_ms: float | None
    total_ms: float | None
    jitter_ms: float | None
    stability: int | None
    error: str | None
    usable: bool
    health: Health = Health.UNKNOWN
    availability_low: float | None = None  # Wilson 95 % lower bound
    rate_limited_ratio: float | None = None
    last_ok_at: float | None = None
    last_at: float | None = None
    tokens_per_s: float | None = None
    tool_calls: bool | None = None
    not_found_since: float | None = None
    retry_at: float | None = None  # skipped: when its budget has room again (wall clock)

    @property
    def ref(self) -> ModelRef:
        """The `provider/model` these stats are about."""
        return ModelRef(self.provider, self.model)

    @property
    def skipped(self) -> bool:
        """Whether the latest probe was held back by the local budget (no request was sent)."""
        return self.outcome is Outcome.RATE_LIMITED and self.http_status is None

    @property
    def label(self) -> str:
        """The latest outcome's wording (`skipped` when the budget held the probe back)."""
        if self.outcome is None:
            return "–"
        return SKIPPED_LABEL if self.skipped else self.outcome.label


@dataclass(frozen=True, slots=True)
class BudgetState:
    """How much of one rate budget is left, and whether a 429 paused it."""

    budget: str
    rpm: int | None
    rpd: int | None
    used_minute: int
    used_day: int
    paused_until: float | None = None  # wall clock

    @property
    def remaining_minute(self) -> int | None:
        """Requests left in the sliding minute (None when uncapped)."""
        return None if self.rpm is None else max(0, self.rpm - self.used_minute)

    @property
    def remaining_day(self) -> int | None:
        """Requests left in the sliding day (None when uncapped)."""
        return None if self.rpd is None else max(0, self.rpd - self.used_day)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a view needs at one instant; immutable, so it can cross threads freely.

    `rows` are ranked best first for the snapshot's default window.
    """

    at: float  # wall clock
    window_s: float
    rows: tuple[ModelStats, ...]
    budgets: Mapping[str, BudgetState] = field(default_factory=dict)
    in_flight: frozenset[ModelRef] = frozenset()
    attached: bool = False  # True when reading another process's monitor
    router: str | None = None
    """The base URL of the router running on this machine (`serve --router`), if any."""
    samples: Mapping[ModelRef, tuple[ProbeResult, ...]] = field(default_factory=dict)
    """Each model's samples in the window, oldest first (sparklines, detail views)."""

    def row(self, ref: ModelRef) -> ModelStats | None:
        """The stats row of one model, if present."""
        for row in self.rows:
            if row.provider == ref.provider and row.model == ref.model:
                return row
        return None
