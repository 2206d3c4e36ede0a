"""The sample windows: time passed in by hand, no server, no clock, no sleep."""

from __future__ import annotations

import random

from freemodels.core.monitor.stats import RECENT_OK_S, ModelInfo, model_stats
from freemodels.core.monitor.windows import EARLIER_S, SampleWindows
from freemodels.core.records import ModelRef, Outcome, ProbeResult

T0 = 1_800_000_000.0
A, B = ModelRef("p", "a"), ModelRef("p", "b")


def windows(window_s: float = 300.0) -> SampleWindows:
    infos = [ModelInfo("p", "a", "A"), ModelInfo("p", "b", "B")]
    return SampleWindows(infos, window_s)


def ok(ref: ModelRef, at: float, ttft_ms: float = 100.0) -> ProbeResult:
    return ProbeResult(ref.provider, ref.model, Outcome.OK, at, 200, ttft_ms=ttft_ms)


def row(w: SampleWindows, now: float, ref: ModelRef):
    return next(r for r in w.refresh(now) if r.ref == ref)


def test_new_samples_show_at_once_and_rank_the_models() -> None:
    w = windows()
    assert w.add(ok(A, T0, ttft_ms=300.0)) and w.add(ok(B, T0, ttft_ms=100.0))
    rows = w.refresh(T0 + 1)
    assert [r.ref for r in rows] == [B, A]
    assert rows[0].samples == 1 and rows[0].ttft_ms == 100.0
    assert w.samples()[A] == (ok(A, T0, ttft_ms=300.0),)


def test_a_sample_of_a_model_outside_the_catalog_is_ignored() -> None:
    w = windows()
    assert not w.add(ok(ModelRef("p", "elsewhere"), T0))
    assert {r.ref for r in w.refresh(T0)} == {A, B}


def test_stats_age_out_of_the_window_without_new_samples() -> None:
    w = windows(window_s=300.0)
    w.add(ok(A, T0))
    assert row(w, T0 + 1, A).samples == 1
    assert row(w, T0 + 299.9, A).samples == 1, "still inside the window"
    aged = row(w, T0 + 300, A)  # the window is (now - 300, now]
    assert aged.samples == 0 and aged.ttft_ms is None
    assert w.samples()[A] == (), "the sparkline empties too"


def test_an_unchanged_model_is_recomputed_only_when_its_stats_can_change() -> None:
    w = windows(window_s=300.0)
    w.add(ok(A, T0))
    w.add(ok(A, T0 + 100))
    assert row(w, T0 + 1, A).samples == 1, "a sample ahead of the clock (stepped back) waits"
    first = row(w, T0 + 100, A)
    assert first.samples == 2, "and counts once the clock reaches it"
    assert row(w, T0 + 299, A) is first, "nothing new and nothing aged out: not recomputed"
    w.add(ok(B, T0 + 250))
    assert row(w, T0 + 251, A) is first, "another model's sample leaves A alone"
    assert row(w, T0 + 251, B).samples == 1, "B got a sample: recomputed at once"
    assert row(w, T0 + 300, A).samples == 1, "its first sample left the window"
    assert row(w, T0 + 400, A).samples == 0


def test_earlier_samples_stand_in_until_the_model_is_probed_again() -> None:
    w = windows()
    assert w.unmeasured() == [A, B]
    yesterday = T0 - 20 * 3600
    w.resume_earlier([ok(A, yesterday, ttft_ms=400.0), ok(A, yesterday + 1, ttft_ms=400.0)])
    assert w.measured()
    standing = row(w, T0, A)
    assert standing.samples == 2 and standing.ttft_p50_ms == 400.0
    assert row(w, T0 + EARLIER_S, A).samples == 0, "a day later they too have aged out"
    w.add(ok(A, T0 + EARLIER_S, ttft_ms=90.0))
    fresh = row(w, T0 + EARLIER_S + 1, A)
    assert fresh.samples == 1 and fresh.ttft_ms == 90.0


def test_earlier_samples_never_replace_the_window() -> None:
    w = windows()
    w.add(ok(A, T0))
    assert w.unmeasured() == [B]
    w.resume_earlier([ok(A, T0 - 3600, ttft_ms=999.0), ok(B, T0 - 3600, ttft_ms=50.0)])
    assert row(w, T0 + 1, A).ttft_ms == 100.0
    assert row(w, T0 + 1, B).ttft_ms == 50.0


def test_a_stored_not_found_run_keeps_its_start_beyond_the_window() -> None:
    w = windows(window_s=300.0)
    began = T0 - 26 * 3600
    w.resume_not_found({A: began, ModelRef("p", "elsewhere"): began})
    w.add(ProbeResult("p", "a", Outcome.NOT_FOUND, T0, 404))
    assert row(w, T0 + 1, A).not_found_since == began
    w.add(ok(A, T0 + 2))
    w.add(ProbeResult("p", "a", Outcome.NOT_FOUND, T0 + 3, 404))
    assert row(w, T0 + 4, A).not_found_since == T0 + 3, "an answer ends the run"


def test_kept_stats_match_stats_recomputed_from_scratch_at_every_step() -> None:
    """Samples of mixed outcomes arriving out of start order, looked at on an irregular clock
    (also right at a sample's exit and at the end of a success's recent period): the kept stats
    always equal a recomputation over the same samples."""
    rng = random.Random(20261130)
    window_s = 1800.0  # longer than RECENT_OK_S: a success can stop being recent inside it
    w = windows(window_s=window_s)
    held: dict[ModelRef, list[ProbeResult]] = {A: [], B: []}
    now = T0
    outcomes = [Outcome.OK] * 6 + [Outcome.SERVER_ERROR, Outcome.TIMEOUT]
    for step in range(2000):
        now += rng.choice([0.0, 0.5, 7.0, 31.0, 120.0])
        if rng.random() < 0.4:
            ref = rng.choice([A, B])
            sample = ProbeResult(
                ref.provider, ref.model, rng.choice(outcomes), now - rng.choice([0.0, 3.0, 14.0]),
                200, ttft_ms=rng.uniform(50, 500),
            )  # fmt: skip
            w.add(sample)
            held[ref].append(sample)
        edges = [s.started_at + window_s for ss in held.values() for s in ss]
        edges += [s.started_at + RECENT_OK_S for ss in held.values() for s in ss]
        if rng.random() < 0.2 and edges:
            now = max(now, rng.choice(edges))  # exactly at an edge
        kept = {r.ref: r for r in w.refresh(now)}
        for ref, samples in held.items():
            info = ModelInfo(ref.provider, ref.model, ref.model.upper())
            assert kept[ref] == model_stats(info, samples, now, window_s), (step, ref)
