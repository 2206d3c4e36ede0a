"""The request ledger: sliding windows, shared budgets, pauses, and two processes at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

from freemodels.core.monitor.budget import Ledger, Limits, budget_limits
from freemodels.core.records import Model, ProbeKind, Provider
from freemodels.core.store.history import History

MODEL = Model("m", "M", 8192)


def provider(
    pid: str = "p", *, rpm: int | None = None, rpd: int | None = None, budget: str | None = None
) -> Provider:
    return Provider(
        pid,
        pid,
        "https://x.invalid/v1",
        ("K",),
        "https://x.invalid",
        rpm=rpm,
        rpd=rpd,
        budget=budget,
        models=(MODEL,),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def ledger(tmp_path: Path, providers: list[Provider], clock: Clock) -> Ledger:
    history = History(tmp_path / "h.sqlite3")
    return Ledger(history.db, budget_limits(providers), clock=clock)


def test_rpm_is_a_sliding_window(tmp_path: Path) -> None:
    clock = Clock()
    p = provider(rpm=3)
    lg = ledger(tmp_path, [p], clock)
    for _ in range(3):
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
        clock.now += 10
    wait = lg.try_acquire(p, MODEL, ProbeKind.PROBE)
    assert 29 < wait <= 30.01, "the first request ages out 60 s after it was sent"
    clock.now += wait
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
    assert lg.state("p").used_minute == 3


def test_rpd_and_a_models_own_rpd(tmp_path: Path) -> None:
    clock = Clock()
    limited = Model("m", "M", 8192, rpd=2)
    p = Provider(
        "p",
        "p",
        "https://x.invalid/v1",
        ("K",),
        "https://x.invalid",
        rpd=5,
        models=(limited, MODEL),
    )
    lg = ledger(tmp_path, [p], clock)
    assert lg.try_acquire(p, limited, ProbeKind.PROBE) == 0
    assert lg.try_acquire(p, limited, ProbeKind.SPEED) == 0
    assert lg.try_acquire(p, limited, ProbeKind.PROBE) > 80000
    for _ in range(3):
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) > 80000, "the provider's day is used up"
    assert lg.state("p").remaining_day == 0


def test_every_kind_of_request_counts(tmp_path: Path) -> None:
    clock = Clock()
    p = provider(rpm=4)
    lg = ledger(tmp_path, [p], clock)
    for kind in (ProbeKind.PROBE, ProbeKind.SPEED, ProbeKind.KEY_TEST, ProbeKind.MODELS):
        assert lg.try_acquire(p, None, kind) == 0
    assert lg.try_acquire(p, None, ProbeKind.TOOLS) > 0


def test_providers_naming_one_budget_share_it(tmp_path: Path) -> None:
    clock = Clock()
    a = provider("mistral", rpm=2, budget="mistral")
    b = provider("codestral", rpm=5, budget="mistral")
    assert budget_limits([a, b]) == {"mistral": Limits(rpm=2)}
    lg = ledger(tmp_path, [a, b], clock)
    assert lg.try_acquire(a, MODEL, ProbeKind.PROBE) == 0
    assert lg.try_acquire(b, MODEL, ProbeKind.PROBE) == 0
    assert lg.try_acquire(b, MODEL, ProbeKind.PROBE) > 0


def test_a_pause_holds_every_request_until_it_ends(tmp_path: Path) -> None:
    clock = Clock()
    p = provider()
    lg = ledger(tmp_path, [p], clock)
    lg.pause("p", clock.now + 30, "429")
    assert lg.paused_until("p") == clock.now + 30
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 30
    clock.now += 31
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
    assert lg.paused_until("p") is None


def _hammer(path: str, rpm: int, count: int, start: Any, out: multiprocessing.Queue[int]) -> None:
    history = History(Path(path))
    p = provider(rpm=rpm)
    lg = Ledger(history.db, budget_limits([p]))
    start.wait(30)
    granted = 0
    for _ in range(count):
        granted += lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
        time.sleep(0.001)  # interleave with the other process
    out.put(granted)


def test_two_processes_never_exceed_one_budget_together(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    History(Path(path)).close()
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = ctx.Queue()
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_hammer, args=(path, 60, 80, start, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    granted = [queue.get(timeout=5) for _ in workers]
    assert sum(granted) == 60, granted
    rows = sqlite3.connect(path).execute("SELECT COUNT(DISTINCT pid) FROM ledger").fetchone()
    assert rows[0] == 2, "both processes recorded requests in the one ledger"


def test_one_batch_grants_up_to_each_window_and_no_more(tmp_path: Path) -> None:
    """A sweep's grants share one transaction; the window is counted once and then kept in
    memory, so the batch stops exactly at the cap (rpm, rpd, and a model's own rpd)."""
    clock = Clock()
    p = provider(rpm=5, rpd=7)
    limited = Model("l", "L", 8192, rpd=2)
    lg = ledger(tmp_path, [p], clock)
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
    waits = lg.try_acquire_many([(p, MODEL, ProbeKind.PROBE)] * 6)
    assert [w == 0 for w in waits] == [True] * 4 + [False] * 2
    assert 59 < waits[-1] <= 60.01
    clock.now += 61
    waits = lg.try_acquire_many([(p, limited, ProbeKind.PROBE)] * 3 + [(p, MODEL, ProbeKind.PROBE)])
    assert [w == 0 for w in waits] == [True, True, False, False]
    assert waits[2] > 80000, "the model's own day is used up"
    assert waits[3] > 80000, "the provider's day is used up (7 granted)"
    rows = lg._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    assert rows == 7


def _hammer_batches(
    path: str, rpm: int, count: int, start: Any, out: multiprocessing.Queue[int]
) -> None:
    history = History(Path(path))
    p = provider(rpm=rpm)
    lg = Ledger(history.db, budget_limits([p]))
    start.wait(30)
    granted = 0
    for _ in range(count // 5):
        waits = lg.try_acquire_many([(p, MODEL, ProbeKind.PROBE)] * 5)
        granted += sum(1 for w in waits if w == 0)
        time.sleep(0.001)  # interleave with the other process
    out.put(granted)


def test_two_processes_granting_in_batches_never_exceed_one_budget(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    History(Path(path)).close()
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = ctx.Queue()
    start = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_hammer_batches, args=(path, 60, 80, start, queue)) for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    granted = [queue.get(timeout=5) for _ in workers]
    assert sum(granted) == 60, granted


async def test_concurrent_acquires_share_a_transaction_and_respect_the_cap(
    tmp_path: Path,
) -> None:
    """The gate batches the acquires of one loop turn; 50 probes at once against rpm 20 get
    exactly 20 grants, the rest are told to wait."""
    import asyncio

    from freemodels.core.monitor.budget import RequestGate

    clock = Clock()
    p = provider(rpm=20)
    lg = ledger(tmp_path, [p], clock)
    gate = RequestGate(lg)
    calls: list[int] = []
    many = lg.try_acquire_many

    def counting(requests: Any) -> list[float]:
        calls.append(len(requests))
        return many(requests)

    lg.try_acquire_many = counting  # type: ignore[method-assign]
    admitted = await asyncio.gather(
        *(gate.acquire(p, MODEL, ProbeKind.PROBE, max_wait_s=0) for _ in range(50))
    )
    assert sum(admitted) == 20
    assert calls[0] == 50, "the first loop turn's acquires went in one transaction"


def test_a_days_count_kept_between_whole_counts_matches_a_whole_count(tmp_path: Path) -> None:
    """`state` counts a budget's day whole only now and then; in between it adds what was
    recorded since (here also by another process) and takes off what aged out of the day. At
    every step it must say what a whole count says, also across a clock step."""
    from freemodels.core.monitor.budget import DAY

    clock = Clock()
    p, q = provider("p"), provider("q")
    lg = ledger(tmp_path, [p, q], clock)
    other = Ledger(History(tmp_path / "h.sqlite3").db, budget_limits([p, q]), clock=clock)

    def whole(budget: str) -> int:
        (count,) = lg._db.execute(
            "SELECT COUNT(*) FROM ledger WHERE budget = ? AND at > ?", (budget, clock.now - DAY)
        ).fetchone()
        return int(count)

    def check_each_second(seconds: int) -> None:
        for second in range(seconds):
            if second % 3 == 0:
                (lg if second % 2 else other).try_acquire(p, MODEL, ProbeKind.PROBE)
            clock.now += 1.0
            for budget in ("p", "q"):
                assert lg.state(budget).used_day == whole(budget), f"{budget} at {second} s"

    for second in range(20):  # a burst a day ago, one a second, from both processes
        (lg if second % 2 else other).try_acquire(p if second % 4 else q, MODEL, ProbeKind.PROBE)
        clock.now += 1.0
    clock.now += DAY - 30.0  # the burst starts leaving the day 10 s from now
    assert lg.state("p").used_day == whole("p") == 15  # counted whole here
    check_each_second(40)  # within DAY_RECOUNT_S: counted from what came and went
    assert whole("p") < 15, "the burst did leave the day"

    for _ in range(20):  # another burst; a day later the wall clock steps back 30 s
        lg.try_acquire(p, MODEL, ProbeKind.PROBE)
        clock.now += 1.0
    clock.now += DAY - 45.0
    assert lg.state("p").used_day == whole("p")
    clock.now += 5.0
    lg.shift(-30.0)  # the ledger's times move with the step
    check_each_second(30)
