"""The scheduling policy under a fake clock: budgets, round-robin, one probe per model, backoff."""

from __future__ import annotations

import itertools
import random

from freemodels.core.monitor.budget import Limits
from freemodels.core.monitor.scheduler import Cadence, Scheduler, spacing_s
from freemodels.core.records import Model, ModelRef, Outcome, Provider


def provider(
    pid: str, n: int, *, rpm: int | None = None, rpd: int | None = None, budget: str | None = None
) -> Provider:
    models = tuple(Model(f"m{i}", f"M{i}", 8192) for i in range(n))
    return Provider(
        pid,
        pid,
        f"https://{pid}.invalid/v1",
        ("K",),
        "https://x.invalid",
        rpm=rpm,
        rpd=rpd,
        budget=budget,
        models=models,
    )


def drive(s: Scheduler, seconds: float, step: float = 0.25, *, finish: Outcome = Outcome.OK):
    """Run the scheduler's clock for `seconds`; every probe finishes instantly."""
    sent: list[tuple[float, str, str]] = []
    now = 0.0
    while now < seconds:
        for budget in s.budgets():
            picked = s.take(budget, now)
            if picked:
                p, m = picked
                sent.append((now, p.id, m.id))
                s.done(ModelRef(p.id, m.id), finish, now)
        now += step
    return sent


def test_spacing_follows_rpm_and_rpd_with_headroom() -> None:
    assert spacing_s(Limits(), 0.8) == 0.0
    assert spacing_s(Limits(rpm=30), 0.8) == 2.5
    assert spacing_s(Limits(rpm=30, rpd=50), 0.8) == 86400 / 40


def test_steady_cadence_stays_under_rpm_in_every_minute() -> None:
    p = provider("g", 20, rpm=30)
    s = Scheduler([p], {"g": Limits(rpm=30)}, Cadence(min_interval_s=1.0), rng=random.Random(1))
    sent = drive(s, 600)
    times = [t for t, _, _ in sent]
    for start in range(0, 540, 5):
        in_window = [t for t in times if start <= t < start + 60]
        assert len(in_window) <= 30
    assert len(times) > 150, "the cadence uses most of the budget"


def test_daily_budget_warmup_spends_a_tenth_at_most() -> None:
    p = provider("or", 25, rpm=20, rpd=50)
    s = Scheduler([p], {"or": Limits(rpm=20, rpd=50)}, rng=random.Random(1))
    sent = drive(s, 3600)
    first_minute = [x for x in sent if x[0] < 60]
    assert len(first_minute) <= 5
    assert len(sent) <= 5 + 3600 / (86400 / 40) + 1


def test_round_robin_gives_every_model_a_turn_before_any_gets_two() -> None:
    p = provider("c", 6, rpm=60)
    s = Scheduler([p], {"c": Limits(rpm=60)}, Cadence(min_interval_s=0.0), rng=random.Random(2))
    sent = drive(s, 120)
    models = [m for _, _, m in sent]
    for turn in range(len(models) // 6):
        assert sorted(models[turn * 6 : turn * 6 + 6]) == [f"m{i}" for i in range(6)]


def test_favourites_and_best_go_first_within_a_turn() -> None:
    p = provider("c", 4)
    s = Scheduler([p], {}, Cadence(min_interval_s=100.0))
    s.set_priority([ModelRef("c", "m3"), ModelRef("c", "m1")])
    first = [s.take("c", 0.0) for _ in range(4)]
    assert [m.id for _, m in first if m] == ["m3", "m1", "m0", "m2"]


def test_never_two_probes_of_one_model_in_flight() -> None:
    p = provider("c", 2)
    s = Scheduler([p], {}, Cadence(min_interval_s=0.0))
    a = s.take("c", 0.0)
    b = s.take("c", 0.0)
    assert a and b and a[1].id != b[1].id
    assert s.take("c", 0.0) is None, "both models are in flight"
    assert s.in_flight() == {ModelRef("c", "m0"), ModelRef("c", "m1")}
    s.done(ModelRef("c", a[1].id), Outcome.OK, 0.1)
    assert s.take("c", 0.2) is not None


def test_not_found_backs_off_one_then_five_then_thirty_minutes() -> None:
    p = provider("c", 1)
    s = Scheduler([p], {}, Cadence(min_interval_s=0.0))
    times = []
    now = 0.0
    while now < 4000 and len(times) < 4:
        if s.take("c", now):
            times.append(now)
            s.done(ModelRef("c", "m0"), Outcome.NOT_FOUND, now)
        now += 1.0
    assert [round(b - a) for a, b in itertools.pairwise(times)] == [60, 300, 1800]


def test_shared_budget_is_one_queue() -> None:
    mistral = provider("mistral", 3, rpm=6, budget="mistral")
    codestral = provider("codestral", 3, rpm=6, budget="mistral")
    s = Scheduler(
        [mistral, codestral],
        {"mistral": Limits(rpm=6)},
        Cadence(min_interval_s=0.0),
        rng=random.Random(3),
    )
    assert s.budgets() == ["mistral"]
    sent = drive(s, 300)
    for start in range(0, 240, 5):
        assert len([t for t, _, _ in sent if start <= t < start + 60]) <= 6
    assert {pid for _, pid, _ in sent} == {"mistral", "codestral"}


def test_history_warm_start_skips_the_warmup_burst() -> None:
    p = provider("c", 3, rpm=60)
    s = Scheduler([p], {"c": Limits(rpm=60)}, Cadence(min_interval_s=30.0))
    for i in range(3):
        s.seen(ModelRef("c", f"m{i}"), 90.0)
    assert s.take("c", 100.0) is None, "every model was probed 10 s ago"
    assert s.take("c", 121.0) is not None


def test_a_budget_with_nothing_eligible_is_due_when_its_first_model_is() -> None:
    """No polling while every model waits out its interval: an idle dashboard's loop sleeps
    until a turn comes (it woke some twenty times a second across the real catalog)."""
    p = provider("g", 2)
    s = Scheduler([p], {}, Cadence(min_interval_s=60.0, jitter=0.0), rng=random.Random(1))
    first, second = s.take("g", 0.0), s.take("g", 5.0)
    assert first and second
    s.done(ModelRef("g", "m0"), Outcome.OK, 1.0)
    s.done(ModelRef("g", "m1"), Outcome.OK, 6.0)
    assert s.take("g", 10.0) is None
    assert s.next_due(10.0) == 60.0, "m0's interval ends 60 s after it was sent"
    assert s.take("g", 59.9) is None
    assert s.take("g", 60.0) is not None


def test_a_probe_finishing_wakes_a_budget_that_had_no_model_to_send() -> None:
    p = provider("g", 1)
    s = Scheduler([p], {}, Cadence(min_interval_s=60.0, jitter=0.0), rng=random.Random(1))
    assert s.take("g", 0.0) is not None
    assert s.take("g", 1.0) is None, "its one model is in flight"
    assert s.done(ModelRef("g", "m0"), Outcome.OK, 2.0), "the caller should look again"
    assert not s.done(ModelRef("g", "m0"), Outcome.OK, 3.0), "nothing was waiting"
    assert s.next_due(2.0) <= 2.0
    assert s.take("g", 2.0) is None and s.next_due(2.0) == 60.0
