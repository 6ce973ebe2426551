"""``GET /metrics``: Prometheus text format. Counts of leads by audience and stage are read
from the store at scrape time; request counters live in this process. Each app has its own
registry, so several apps in one process (tests) do not collide."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leadgrade.engine import Engine
from leadgrade.store.schema import leads


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "leadgrade_leads", "Leads by audience and stage.", labels=["audience", "stage"]
        )
        with self.engine.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(leads.c.audience, leads.c.stage, sa.func.count()).group_by(
                    leads.c.audience, leads.c.stage
                )
            )
            for audience, stage, count in rows:
                family.add_metric([audience, stage], count)
        yield family


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(engine))
        self.events = Counter(
            "leadgrade_events", "Events received, by outcome.", ["outcome"], registry=self.registry
        )
