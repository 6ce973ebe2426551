from __future__ import annotations

import csv
import io
from datetime import datetime
from importlib import resources

from leadgrade import sample


def test_the_bundled_sample_is_what_its_generator_makes() -> None:
    folder = resources.files("leadgrade") / "data" / "sample"
    made = sample.bundled()
    assert sorted(made) == sorted(p.name for p in folder.iterdir() if p.name.endswith(".csv"))
    for name, text in made.items():
        assert (folder / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run `make sample`"
        )


def test_the_sample_is_a_few_hundred_leads_and_a_few_thousand_events() -> None:
    files = sample.bundled()
    leads = sum(
        len(list(csv.DictReader(io.StringIO(files[f"{a}_leads.csv"]))))
        for a in ("employer", "candidate")
    )
    events = sum(
        len(list(csv.DictReader(io.StringIO(files[f"{a}_events.csv"]))))
        for a in ("employer", "candidate")
    )
    assert 300 <= leads <= 1000
    assert 2000 <= events <= 10000
    rows = list(csv.DictReader(io.StringIO(files["employer_events.csv"])))
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(datetime.fromisoformat(r["occurred_at"]) <= sample.AS_OF for r in rows)


def test_the_generator_is_deterministic_and_seeded() -> None:
    assert sample.bundled(1) == sample.bundled(1)
    assert sample.bundled(1) != sample.bundled(2)
