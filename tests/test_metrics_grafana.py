"""contrib/grafana/freemodels.json queries only metrics that `serve --metrics` really exposes."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric

from serve_fixtures import scrape_until, start_serve

DASHBOARD = Path(__file__).parent.parent / "contrib" / "grafana" / "freemodels.json"
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}
# Everything in a PromQL expression that is not a metric name.
FUNCTIONS = {
    "sum", "rate", "increase", "histogram_quantile", "label_values", "max", "min", "avg",
    "topk", "bottomk", "count", "irate", "delta", "clamp_min", "clamp_max",
}  # fmt: skip
OPERATORS = {"and", "or", "unless", "bool", "offset"}
CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
STRIPPED = (
    re.compile(r"\{[^}]*\}"),  # label matchers
    re.compile(r"\[[^\]]*\]"),  # range selectors
    re.compile(r'"[^"]*"'),  # strings
    re.compile(r"\$\w+"),  # Grafana variables
)
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression in the dashboard: panel targets and query variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                yield value["query"]
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects."""
    text = CLAUSES.sub(" ", expr)
    for pattern in STRIPPED:
        text = pattern.sub(" ", text)
    # label_values(metric, label): the second argument is a label, not a metric.
    text = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", text)
    names = set()
    for match in IDENTIFIER.finditer(text):
        word = match.group()
        following = text[match.end() :].lstrip()
        if word in FUNCTIONS or word in OPERATORS or following.startswith("("):
            continue
        names.add(word)
    return names


def test_the_expression_parser_finds_metrics_and_nothing_else() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, instance, provider) (rate(freemodels_probe_ttft_"
        'seconds_bucket{instance=~"$instance", outcome="ok"}[$__rate_interval]))) * 60 '
        "/ on(budget) freemodels_budget_limit_rpm"
    )
    assert metric_names(expr) == {
        "freemodels_probe_ttft_seconds_bucket",
        "freemodels_budget_limit_rpm",
    }
    assert metric_names('label_values(freemodels_model_up{instance=~"$i"}, provider)') == {
        "freemodels_model_up"
    }


def test_every_dashboard_metric_is_exposed_by_serve() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set()
    for expr in expressions(dashboard):
        used |= metric_names(expr)
    assert len(used) >= 10, used

    serve, url = start_serve("--demo", "--interval", "2")
    with serve:
        scrape_until(url, "freemodels_probe_ttft_seconds")
        # Some series appear only once enough probes landed (availability needs 3 samples).
        families = scrape_until(
            url,
            "freemodels_availability_ratio",
            timeout=30,
            until=lambda families: used <= exposed_names(families),
        )
        assert serve.stop(signal.SIGTERM) == 0
    exposed = exposed_names(families)
    assert used <= exposed, f"not exposed: {sorted(used - exposed)}"


def exposed_names(families: dict[str, Metric]) -> set[str]:
    """Every series name a scrape exposes (histograms and counters with their suffixes)."""
    exposed = set()
    for family in families.values():
        exposed.add(family.name)
        exposed.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return exposed


def test_the_dashboard_covers_what_teams_asked_for() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("ranking", "ttft p50", "ttft p95", "availability", "budget", "429"):
        assert topic in titles, topic
    assert any(p["type"] == "table" for p in panels)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "instance"}
