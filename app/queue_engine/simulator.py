"""Policy simulator: the real :class:`QueueEngine` on a virtual clock.

A manager describes a hall (services, counters with their tiers, arrival rates, the priority
policy) as a *scenario*, a JSON-ready mapping documented in ``docs/simulator.md``; the simulator
plays synthetic customers through the engine and reports the waits they got.

The rules of the simulation, in plain sentences:

* Every arrival stream (a service and a priority class) is a Poisson process with its own hourly
  rate. Arrivals stop after ``hours``; the simulation then drains, so every ticket is called and
  every ticket has a wait (first call time minus issue time).
* All counters open at time 0 and stay open. An idle counter calls as soon as a ticket it serves
  is issued (idle counters in counter-number order); a counter that finishes calls the next
  ticket at once. Calls and their order are the engine's: tiers, head starts, strict priority, SLA
  escalation.
* A customer who shows up is served for a time drawn from the service's distribution (the counter
  calls, starts and finishes the ticket). A customer who does not show keeps the counter busy for
  ``no_show_wait_minutes``; then the counter marks the ticket a no-show and calls the next one.
  Missed tickets never return.
* Each arrival stream draws from its own random generator, seeded from the run's seed: a
  customer's arrival time, service time and no-show are fixed by the seed and the stream alone.
  Two runs with the same seed that differ only in policy or counters therefore see the same
  customers (common random numbers), so their difference is the policy's, not luck's.
* Figures use the times the engine stamped on its events (the engine runs commands that share an
  instant one microsecond apart).

The module is pure like the rest of the engine package: standard library and the engine only, no
clock, no files. ``parse_scenario`` validates a scenario completely and raises
:class:`ScenarioError` with one sentence naming the field; ``simulate`` runs one.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .config import BranchConfig, CounterConfig, Priority, PriorityPolicy, ServiceConfig
from .engine import QueueEngine
from .errors import ConfigError
from .model import TicketCalled, TicketIssued

#: Engine time of the simulation's start, in epoch seconds (figures are relative to it).
SIM_EPOCH = 1_700_000_000.0
DEFAULT_LOGNORMAL_CV = 0.5
DEFAULT_NO_SHOW_WAIT_MINUTES = 1.0
#: Guards against scenarios that would run for hours or leave the clock's precision.
MAX_EXPECTED_TICKETS = 5_000_000
MAX_HOURS = 100_000.0
MAX_MINUTES = 24 * 60.0  # no service, and no wait for a no-show, lasts longer than a day
CHANNEL = "sim"


class ScenarioError(ConfigError):
    """The simulation scenario is invalid."""


class Distribution(StrEnum):
    """Shape of a service's service time; every shape has the configured mean."""

    EXPONENTIAL = "exponential"  # cv 1
    LOGNORMAL = "lognormal"  # cv set by the scenario, default 0.5
    FIXED = "fixed"  # always the mean, cv 0


# --------------------------------------------------------------------------------------------
# Scenario


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How long one service takes: ``cv`` is the standard deviation divided by the mean."""

    code: str
    name: str
    mean_service_minutes: float
    distribution: Distribution
    cv: float
    sla_minutes: float | None


@dataclass(frozen=True, slots=True)
class ArrivalStream:
    """Customers of one service and priority class arriving at ``per_hour`` on average."""

    service: str
    priority: Priority
    per_hour: float
    no_show_probability: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario; ``branch`` is the engine configuration it implies."""

    hours: float
    services: tuple[ServiceSpec, ...]
    arrivals: tuple[ArrivalStream, ...]
    no_show_wait_minutes: float
    branch: BranchConfig
    description: str = ""


TOP_LEVEL_FIELDS = frozenset(
    {
        "description",
        "hours",
        "services",
        "counters",
        "arrivals",
        "policy",
        "no_show_probability",
        "no_show_wait_minutes",
    }
)
SERVICE_FIELDS = frozenset({"name", "mean_service_minutes", "distribution", "cv", "sla_minutes"})
COUNTER_FIELDS = frozenset({"number", "tiers", "name"})
ARRIVAL_FIELDS = frozenset({"service", "priority", "per_hour", "no_show_probability"})
POLICY_FIELDS = frozenset({"head_start_seconds", "strict_priority", "estimator_weight"})


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Validate a scenario (the parsed JSON object) completely; raise :class:`ScenarioError`
    with one sentence naming the offending field."""
    root = _object(data, "The scenario")
    _known_fields(root, TOP_LEVEL_FIELDS, "The scenario")
    description = root.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError("The scenario's 'description' must be a text.")
    hours = _number(
        _required(root, "hours", "The scenario"), "The scenario's 'hours'", low=0, high=MAX_HOURS
    )
    no_show_default = _probability(
        root.get("no_show_probability", 0.0), "The scenario's 'no_show_probability'"
    )
    no_show_wait = _number(
        root.get("no_show_wait_minutes", DEFAULT_NO_SHOW_WAIT_MINUTES),
        "The scenario's 'no_show_wait_minutes'",
        low=0,
        allow_low=True,
        high=MAX_MINUTES,
    )

    services_data = _object(_required(root, "services", "The scenario"), "'services'")
    if not services_data:
        raise ScenarioError("The scenario needs at least one service in 'services'.")
    services = tuple(_parse_service(code, value) for code, value in services_data.items())

    counters_data = _required(root, "counters", "The scenario")
    if not isinstance(counters_data, list) or not counters_data:
        raise ScenarioError("'counters' must be a non-empty list of counters.")
    counters = tuple(_parse_counter(index, value) for index, value in enumerate(counters_data))

    arrivals_data = _required(root, "arrivals", "The scenario")
    if not isinstance(arrivals_data, list) or not arrivals_data:
        raise ScenarioError("'arrivals' must be a non-empty list of arrival streams.")
    arrivals = tuple(
        _parse_arrival(index, value, no_show_default) for index, value in enumerate(arrivals_data)
    )

    policy_data = _object(root.get("policy", {}), "'policy'")
    policy = _parse_policy(policy_data)
    weight = policy_data.get("estimator_weight")
    if weight is not None:
        weight = _number(weight, "'policy': 'estimator_weight'", low=0, high=1)
    try:
        branch = BranchConfig(
            services=tuple(
                ServiceConfig(
                    code=spec.code,
                    name=spec.name,
                    sla_seconds=None if spec.sla_minutes is None else spec.sla_minutes * 60,
                    mean_service_seconds=spec.mean_service_minutes * 60,
                )
                for spec in services
            ),
            counters=counters,
            priority=policy,
        )
        if weight is not None:  # else the engine's default learning rate
            branch = replace(branch, estimator_weight=weight)
    except ConfigError as error:
        raise ScenarioError(error.detail) from None

    served = {code for counter in counters for code in counter.services}
    for number, stream in enumerate(arrivals, start=1):
        if stream.service not in services_data:
            raise ScenarioError(
                f"Arrival stream {number} is for service {stream.service!r}, "
                "which 'services' does not define."
            )
        if stream.service not in served:
            raise ScenarioError(
                f"No counter serves service {stream.service}, so its tickets would wait forever; "
                "add it to a counter's tiers."
            )
    expected = hours * sum(stream.per_hour for stream in arrivals)
    if expected > MAX_EXPECTED_TICKETS:
        about = f"{expected:,.0f}" if expected < 1e12 else f"{expected:.2g}"
        raise ScenarioError(
            f"The scenario would issue about {about} tickets; the simulator takes at most "
            f"{MAX_EXPECTED_TICKETS:,}, so shorten 'hours' or lower the arrival rates."
        )
    return Scenario(
        hours=hours,
        services=services,
        arrivals=arrivals,
        no_show_wait_minutes=no_show_wait,
        branch=branch,
        description=description,
    )


def _parse_service(code: object, value: object) -> ServiceSpec:
    where = f"Service {code}"
    if not isinstance(code, str):
        raise ScenarioError(f"Service codes must be texts, not {code!r}.")
    spec = _object(value, where)
    _known_fields(spec, SERVICE_FIELDS, where)
    name = spec.get("name", code)
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(f"{where}: 'name' must be a non-empty text.")
    mean = _number(
        _required(spec, "mean_service_minutes", where),
        f"{where}: 'mean_service_minutes'",
        low=0,
        high=MAX_MINUTES,
    )
    raw_distribution = spec.get("distribution", Distribution.EXPONENTIAL.value)
    try:
        distribution = Distribution(raw_distribution)
    except ValueError:
        raise ScenarioError(
            f"{where}: 'distribution' must be 'exponential', 'lognormal' or 'fixed', "
            f"not {raw_distribution!r}."
        ) from None
    if distribution is Distribution.LOGNORMAL:
        cv = _number(spec.get("cv", DEFAULT_LOGNORMAL_CV), f"{where}: 'cv'", low=0, high=10)
    elif "cv" in spec:
        raise ScenarioError(f"{where}: 'cv' applies only to the lognormal distribution.")
    else:
        cv = 1.0 if distribution is Distribution.EXPONENTIAL else 0.0
    sla = spec.get("sla_minutes")
    sla_minutes = None if sla is None else _number(sla, f"{where}: 'sla_minutes'", low=0)
    return ServiceSpec(code, name, mean, distribution, cv, sla_minutes)


def _parse_counter(index: int, value: object) -> CounterConfig:
    where = f"Counter {index + 1} in 'counters'"
    spec = _object(value, where)
    _known_fields(spec, COUNTER_FIELDS, where)
    number = _required(spec, "number", where)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ScenarioError(f"{where}: 'number' must be a positive whole number, not {number!r}.")
    where = f"Counter {number}"
    tiers = _required(spec, "tiers", where)
    if (
        not isinstance(tiers, list)
        or not tiers
        or not all(
            isinstance(tier, list) and tier and all(isinstance(code, str) for code in tier)
            for tier in tiers
        )
    ):
        raise ScenarioError(
            f"{where}: 'tiers' must be a list of non-empty lists of service codes, "
            'first tier first, like [["A"], ["B", "C"]].'
        )
    name = spec.get("name", "")
    if not isinstance(name, str):
        raise ScenarioError(f"{where}: 'name' must be a text.")
    try:
        return CounterConfig(number=number, tiers=tuple(tuple(tier) for tier in tiers), name=name)
    except ConfigError as error:
        raise ScenarioError(error.detail) from None


def _parse_arrival(index: int, value: object, no_show_default: float) -> ArrivalStream:
    where = f"Arrival stream {index + 1}"
    spec = _object(value, where)
    _known_fields(spec, ARRIVAL_FIELDS, where)
    service = _required(spec, "service", where)
    if not isinstance(service, str):
        raise ScenarioError(f"{where}: 'service' must be a service code, not {service!r}.")
    raw_priority = spec.get("priority", Priority.NORMAL.value)
    try:
        priority = Priority(raw_priority)
    except ValueError:
        raise ScenarioError(
            f"{where}: 'priority' must be 'normal', 'vip', 'care' or 'appointment', "
            f"not {raw_priority!r}."
        ) from None
    per_hour = _number(
        _required(spec, "per_hour", where), f"{where}: 'per_hour'", low=0, allow_low=True
    )
    no_show = _probability(
        spec.get("no_show_probability", no_show_default), f"{where}: 'no_show_probability'"
    )
    return ArrivalStream(service, priority, per_hour, no_show)


def _parse_policy(spec: Mapping[str, Any]) -> PriorityPolicy:
    _known_fields(spec, POLICY_FIELDS, "'policy'")
    strict = spec.get("strict_priority", False)
    if not isinstance(strict, bool):
        raise ScenarioError("'policy': 'strict_priority' must be true or false.")
    try:
        if "head_start_seconds" not in spec:
            return PriorityPolicy(strict_priority=strict)
        head_starts: dict[Priority, float] = {}
        for name, seconds in _object(
            spec["head_start_seconds"], "'policy': 'head_start_seconds'"
        ).items():
            try:
                head_starts[Priority(name)] = seconds
            except ValueError:
                raise ScenarioError(
                    f"'policy': 'head_start_seconds' names an unknown priority class {name!r}; "
                    "use vip, care or appointment."
                ) from None
        return PriorityPolicy(head_start_seconds=head_starts, strict_priority=strict)
    except ConfigError as error:
        raise ScenarioError(error.detail) from None


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where} must be a JSON object, not {type(value).__name__}.")
    return value


def _known_fields(spec: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in spec if key not in allowed)
    if unknown:
        raise ScenarioError(
            f"{where} has an unknown field {unknown[0]!r}; "
            f"expected one of: {', '.join(sorted(allowed))}."
        )


def _required(spec: Mapping[str, Any], name: str, where: str) -> object:
    if name not in spec:
        raise ScenarioError(f"{where} needs the field {name!r}.")
    return spec[name]


def _number(
    value: object, what: str, *, low: float, allow_low: bool = False, high: float = math.inf
) -> float:
    """A finite JSON number above ``low`` (or equal to it with ``allow_low``), at most ``high``."""
    number = math.nan
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
    if not (math.isfinite(number) and (low < number or (allow_low and number == low))) or (
        number > high
    ):
        bound = f"{low:g} or more" if allow_low else f"more than {low:g}"
        if high < math.inf:
            bound += f" and at most {high:g}"
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ScenarioError(f"{what} must be a number {bound}, not {shown}.")
    return number


def _probability(value: object, what: str) -> float:
    return _number(value, what, low=0, allow_low=True, high=1)


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class TicketOutcome:
    """What happened to one simulated ticket; times are seconds since the simulation started.

    ``service_seconds`` is the service time drawn for the customer (unused when a no-show).
    ``eta_seconds`` is the engine's estimate right after issue, ``naive_eta_seconds`` the
    comparison estimate: people ahead × mean service time ÷ counters serving the service.
    """

    ticket_id: int
    service: str
    priority: Priority
    issued_at: float
    called_at: float
    counter: int
    served: bool
    service_seconds: float
    eta_seconds: float | None
    naive_eta_seconds: float

    @property
    def wait_seconds(self) -> float:
        return self.called_at - self.issued_at


@dataclass(frozen=True, slots=True)
class WaitSummary:
    """Tickets of one group and the waits of those served (None when nobody was served)."""

    issued: int
    served: int
    no_show: int
    wait_mean_min: float | None
    wait_p50_min: float | None
    wait_p90_min: float | None
    wait_max_min: float | None

    @classmethod
    def of(cls, outcomes: Sequence[TicketOutcome]) -> WaitSummary:
        waits = sorted(o.wait_seconds / 60 for o in outcomes if o.served)
        served = len(waits)
        return cls(
            issued=len(outcomes),
            served=served,
            no_show=len(outcomes) - served,
            wait_mean_min=math.fsum(waits) / served if served else None,
            wait_p50_min=_quantile(waits, 0.5),
            wait_p90_min=_quantile(waits, 0.9),
            wait_max_min=waits[-1] if waits else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "issued": self.issued,
            "served": self.served,
            "no_show": self.no_show,
            "wait_mean_min": _rounded(self.wait_mean_min),
            "wait_p50_min": _rounded(self.wait_p50_min),
            "wait_p90_min": _rounded(self.wait_p90_min),
            "wait_max_min": _rounded(self.wait_max_min),
        }


@dataclass(frozen=True, slots=True)
class EtaAccuracy:
    """Mean absolute error, in minutes, of the wait announced at issue against the real one,
    over every ticket (served or not: the estimate is of the time until the call)."""

    mae_min: float | None
    naive_mae_min: float | None
    tickets: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mae_min": _rounded(self.mae_min),
            "naive_mae_min": _rounded(self.naive_mae_min),
            "tickets": self.tickets,
        }


@dataclass(frozen=True, slots=True)
class CounterSummary:
    """One counter's work: ``utilization`` is its busy time over the simulated span."""

    served: int
    no_show: int
    utilization: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "served": self.served,
            "no_show": self.no_show,
            "utilization": round(self.utilization, 4),
        }


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Figures of one run. ``span_hours`` runs from opening to the last ticket's end (at least
    ``hours``); ``utilization`` is busy counter time / (counters × span), where a counter waiting
    for a no-show counts as busy. ``tickets`` holds every ticket's outcome (not in ``to_dict``)."""

    seed: int
    hours: float
    span_hours: float
    classes: Mapping[str, WaitSummary]
    services: Mapping[str, WaitSummary]
    service_names: Mapping[str, str]
    overall: WaitSummary
    utilization: float
    eta: EtaAccuracy
    counters: Mapping[int, CounterSummary]
    tickets: tuple[TicketOutcome, ...] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (minutes rounded to 3 decimals, utilisations to 4)."""
        return {
            "seed": self.seed,
            "hours": self.hours,
            "span_hours": round(self.span_hours, 4),
            "classes": {name: summary.to_dict() for name, summary in self.classes.items()},
            "services": {
                code: {"name": self.service_names[code], **summary.to_dict()}
                for code, summary in self.services.items()
            },
            "overall": {**self.overall.to_dict(), "utilization": round(self.utilization, 4)},
            "eta": self.eta.to_dict(),
            "counters": {str(number): c.to_dict() for number, c in self.counters.items()},
        }


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default, R type 7)."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rounded(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes, 3)


# --------------------------------------------------------------------------------------------
# The run

_ARRIVAL, _SERVICE_DONE, _NO_SHOW_DUE = 0, 1, 2


def simulate(scenario: Mapping[str, Any] | Scenario, seed: int = 1) -> SimulationResult:
    """Run one scenario (a mapping is parsed first) with ``random.Random`` seeded by ``seed``.
    Same scenario and seed, same result."""
    parsed = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    return _Run(parsed, seed).run()


def _sampler(spec: ServiceSpec) -> Callable[[random.Random], float]:
    mean = spec.mean_service_minutes * 60
    if spec.distribution is Distribution.EXPONENTIAL:
        rate = 1 / mean
        return lambda rng: rng.expovariate(rate)
    if spec.distribution is Distribution.LOGNORMAL and spec.cv > 0:
        # A lognormal with mean m and coefficient of variation cv has
        # sigma² = ln(1 + cv²) and mu = ln(m) − sigma²/2.
        sigma = math.sqrt(math.log1p(spec.cv**2))
        mu = math.log(mean) - sigma**2 / 2
        return lambda rng: rng.lognormvariate(mu, sigma)
    return lambda rng: mean


class _Run:
    """One simulation: an event heap of ``(time, seq, kind, payload)`` driving the engine.

    Kinds: an arrival of stream ``payload``; the end of a service, or of the wait for a no-show,
    at counter ``payload``. ``seq`` keeps simultaneous events in the order they were scheduled.
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.engine = QueueEngine(scenario.branch, business_day="sim")
        master = random.Random(seed)
        self.streams = scenario.arrivals
        self.rngs = [random.Random(master.getrandbits(64)) for _ in self.streams]
        self.samplers = {spec.code: _sampler(spec) for spec in scenario.services}
        self.mean_seconds = {
            spec.code: spec.mean_service_minutes * 60 for spec in scenario.services
        }
        self.servers: dict[str, tuple[int, ...]] = {
            spec.code: tuple(
                sorted(c.number for c in scenario.branch.counters if spec.code in c.services)
            )
            for spec in scenario.services
        }
        self.no_show_wait = scenario.no_show_wait_minutes * 60
        self.end_of_arrivals = SIM_EPOCH + scenario.hours * 3600
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.idle: set[int] = set()
        self.call_started: dict[int, float] = {}
        self.busy: dict[int, float] = {c.number: 0.0 for c in scenario.branch.counters}
        # Per ticket, indexed by ticket id - 1.
        self.stream_of: list[int] = []
        self.issued_at: list[float] = []
        self.called_at: list[float] = []
        self.counter_of: list[int] = []
        self.service_seconds: list[float] = []
        self.no_show: list[bool] = []
        self.eta: list[float | None] = []
        self.naive_eta: list[float] = []

    def schedule(self, at: float, kind: int, payload: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, payload))

    def run(self) -> SimulationResult:
        engine = self.engine
        for counter in self.scenario.branch.counters:
            engine.open_counter(counter.number, now=SIM_EPOCH)
            self.idle.add(counter.number)
        for index, stream in enumerate(self.streams):
            if stream.per_hour > 0:
                first = SIM_EPOCH + self.rngs[index].expovariate(stream.per_hour / 3600)
                if first < self.end_of_arrivals:
                    self.schedule(first, _ARRIVAL, index)
        heap = self.heap
        while heap:
            at, _, kind, payload = heapq.heappop(heap)
            if kind == _ARRIVAL:
                self.arrive(payload, at)
            elif kind == _SERVICE_DONE:
                finished = engine.finish(payload, now=at)[0]
                self.busy[payload] += finished.at - self.call_started[payload]
                self.call_next(payload, finished.at)
            else:
                missed = engine.no_show(payload, now=at)[0]
                self.busy[payload] += missed.at - self.call_started[payload]
                self.call_next(payload, missed.at)
        return self.result()

    def arrive(self, index: int, at: float) -> None:
        stream = self.streams[index]
        rng = self.rngs[index]
        # Always the same three draws per customer, in this order: the stream's customers do
        # not depend on anything but its own generator.
        self.service_seconds.append(self.samplers[stream.service](rng))
        self.no_show.append(rng.random() < stream.no_show_probability)
        following = at + rng.expovariate(stream.per_hour / 3600)
        if following < self.end_of_arrivals:
            self.schedule(following, _ARRIVAL, index)

        engine = self.engine
        if stream.priority is Priority.APPOINTMENT:
            # A booked customer checks in at the start of the slot.
            events = engine.check_in_appointment(stream.service, at, now=at, channel=CHANNEL)
        else:
            events = engine.issue_ticket(stream.service, stream.priority, CHANNEL, now=at)
        issued = events[0]
        assert isinstance(issued, TicketIssued)
        servers = self.servers[stream.service]
        self.stream_of.append(index)
        self.issued_at.append(issued.at)
        self.called_at.append(math.nan)
        self.counter_of.append(0)
        self.eta.append(engine.estimate_wait_seconds(issued.ticket_id))
        self.naive_eta.append(issued.ahead * self.mean_seconds[stream.service] / len(servers))
        for number in servers:
            if number in self.idle and self.call_next(number, issued.at):
                break

    def call_next(self, number: int, at: float) -> bool:
        """Let counter ``number`` call; it goes idle when nobody waits for it."""
        engine = self.engine
        events = engine.call_next(number, now=at)
        if not events:
            self.idle.add(number)
            return False
        self.idle.discard(number)
        called = events[0]
        assert isinstance(called, TicketCalled)
        index = called.ticket_id - 1
        self.called_at[index] = called.at
        self.counter_of[index] = number
        self.call_started[number] = called.at
        if self.no_show[index]:
            self.schedule(called.at + self.no_show_wait, _NO_SHOW_DUE, number)
        else:
            started = engine.start_serving(number, now=called.at)[0]
            self.schedule(started.at + self.service_seconds[index], _SERVICE_DONE, number)
        return True

    def result(self) -> SimulationResult:
        scenario = self.scenario
        outcomes = tuple(
            TicketOutcome(
                ticket_id=index + 1,
                service=self.streams[stream].service,
                priority=self.streams[stream].priority,
                issued_at=self.issued_at[index] - SIM_EPOCH,
                called_at=self.called_at[index] - SIM_EPOCH,
                counter=self.counter_of[index],
                served=not self.no_show[index],
                service_seconds=self.service_seconds[index],
                eta_seconds=self.eta[index],
                naive_eta_seconds=self.naive_eta[index],
            )
            for index, stream in enumerate(self.stream_of)
        )
        # Drained: every ticket was called (each served service has a counter, all stay open).
        assert all(not math.isnan(o.called_at) for o in outcomes)
        span = max(scenario.hours * 3600, self.engine.last_now - SIM_EPOCH)
        counters = scenario.branch.counters

        classes = [p for p in Priority if any(s.priority is p for s in self.streams)]
        by_class: dict[Priority, list[TicketOutcome]] = {p: [] for p in classes}
        by_service: dict[str, list[TicketOutcome]] = {s.code: [] for s in scenario.services}
        by_counter: dict[int, list[TicketOutcome]] = {c.number: [] for c in counters}
        for outcome in outcomes:
            by_class[outcome.priority].append(outcome)
            by_service[outcome.service].append(outcome)
            by_counter[outcome.counter].append(outcome)

        estimated = [o for o in outcomes if o.eta_seconds is not None]
        eta = EtaAccuracy(
            mae_min=_mean_abs_minutes([(o.eta_seconds or 0.0) - o.wait_seconds for o in estimated]),
            naive_mae_min=_mean_abs_minutes(
                [o.naive_eta_seconds - o.wait_seconds for o in outcomes]
            ),
            tickets=len(estimated),
        )
        return SimulationResult(
            seed=self.seed,
            hours=scenario.hours,
            span_hours=span / 3600,
            classes={p.value: WaitSummary.of(by_class[p]) for p in classes},
            services={code: WaitSummary.of(group) for code, group in by_service.items()},
            service_names={spec.code: spec.name for spec in scenario.services},
            overall=WaitSummary.of(outcomes),
            utilization=math.fsum(self.busy.values()) / (len(counters) * span) if span else 0.0,
            eta=eta,
            counters={
                number: CounterSummary(
                    served=sum(1 for o in group if o.served),
                    no_show=sum(1 for o in group if not o.served),
                    utilization=self.busy[number] / span if span else 0.0,
                )
                for number, group in by_counter.items()
            },
            tickets=outcomes,
        )


def _mean_abs_minutes(errors_seconds: Sequence[float]) -> float | None:
    if not errors_seconds:
        return None
    return math.fsum(abs(error) for error in errors_seconds) / len(errors_seconds) / 60
