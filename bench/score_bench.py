"""Benchmark ``leadgrade score`` on about a million events, against a DuckDB ceiling.

What it does, in order:

1. Generates (untimed, cached in ``--out``) a leads CSV and an events CSV for the shipped
   employer model with :func:`leadgrade.sample.employers`.
2. Times the real CLI, ``leadgrade score … -o cli_scores.csv``, as a subprocess, ``--runs``
   times: wall time and the child's peak RSS. ``leadgrade --help`` is timed apart as the
   cost of starting the interpreter and importing the CLI.
3. Times the ceiling: the same fit and decayed, capped engagement as ONE hand-written
   DuckDB query over ``read_csv`` of the same two files, in-process (CSV parsing
   included), writing ``duckdb_scores.csv``.
4. Checks that every lead's score agrees within 0.011 (the CLI writes cents); exits 1 if
   not.
5. Prints a report, with whether the issue's targets (≥ 300,000 events/s, peak memory
   under 1.5 GB) are met, and writes it as JSON to ``score_bench.json`` in ``--out``.

Run it as ``.venv/bin/python bench/score_bench.py`` (or ``make bench``); ``--help`` lists
the options. See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb

from leadgrade import sample
from leadgrade.core import Model
from leadgrade.core.conditions import Between, In, Matches, Memo, Prefix
from leadgrade.core.model import EngagementRule, FitRule
from leadgrade.workspace import load_model

HERE = Path(__file__).resolve().parent
#: The time everything is scored as of: the sample's events lie in the 180 days before it.
AS_OF = sample.AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
#: The issue's targets for the CLI.
TARGET_EVENTS_PER_SECOND = 300_000
TARGET_PEAK_BYTES = 1.5e9  # 1.5 GB; MB and GB in this report are powers of ten
#: The CLI writes scores rounded to cents, so a correct score is within half a cent.
TOLERANCE = 0.011


class BenchError(Exception):
    """Something that stops the benchmark (the CLI failed, the model changed shape)."""


# ------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Dataset:
    leads_csv: Path
    events_csv: Path
    leads: int
    events: int
    generated_in: float | None  # seconds; None when taken from the cache


def _generator_digest() -> str:
    """Part of the cache key: a changed generator must not reuse old files."""
    return hashlib.sha256(inspect.getsource(sample).encode()).hexdigest()[:10]


def data_folder(out: Path, leads: int, activity: float, seed: int) -> Path:
    return out / "data" / f"employer-n{leads}-a{activity:g}-s{seed}-{_generator_digest()}"


def generate(folder: Path, leads: int, activity: float, seed: int) -> Dataset:
    """The leads and events files for these parameters, generated once and then cached.

    Each lead's events are written right after it is drawn (the generator orders them by
    time within the lead), so memory stays flat; the CLI does not care about file order.
    ``counts.json`` is written last and marks the folder complete.
    """
    leads_csv, events_csv, counts = (
        folder / "leads.csv",
        folder / "events.csv",
        folder / "counts.json",
    )
    if counts.is_file() and leads_csv.is_file() and events_csv.is_file():
        known = json.loads(counts.read_text(encoding="utf-8"))
        return Dataset(leads_csv, events_csv, int(known["leads"]), int(known["events"]), None)

    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    lead_count = event_count = 0
    leads_tmp, events_tmp = leads_csv.with_suffix(".tmp"), events_csv.with_suffix(".tmp")
    with (
        leads_tmp.open("w", encoding="utf-8", newline="") as lead_file,
        events_tmp.open("w", encoding="utf-8", newline="") as event_file,
    ):
        lead_writer = csv.DictWriter(lead_file, sample.EMPLOYER_COLUMNS, lineterminator="\n")
        event_writer = csv.DictWriter(event_file, sample.EVENT_COLUMNS, lineterminator="\n")
        lead_writer.writeheader()
        event_writer.writeheader()
        for lead, events in sample.employers(random.Random(seed), leads, activity=activity):
            lead_writer.writerow(lead)
            event_writer.writerows(events)
            lead_count += 1
            event_count += len(events)
    leads_tmp.replace(leads_csv)
    events_tmp.replace(events_csv)
    counts.write_text(json.dumps({"leads": lead_count, "events": event_count}), encoding="utf-8")
    return Dataset(leads_csv, events_csv, lead_count, event_count, time.perf_counter() - start)


# -------------------------------------------------------------------------------- CLI


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_kib: int
    stderr: str


def _child_env() -> dict[str, str]:
    # --workspace reads $LEADGRADE_WORKSPACE; the model file's own workspace must win, so
    # that the CLI uses the same lists as this script.
    return {k: v for k, v in os.environ.items() if k != "LEADGRADE_WORKSPACE"}


def run_child(argv: Sequence[str], stderr_path: Path) -> ChildRun:
    """Run ``argv`` and return its wall time and its own peak RSS.

    ``os.wait4`` gives the rusage of this one child; ``getrusage(RUSAGE_CHILDREN)`` would
    give the maximum over every child so far (ru_maxrss is KiB on Linux)."""
    with stderr_path.open("w+b") as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=_child_env())
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        text = err.read().decode("utf-8", "replace").strip()
    if child.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited with {child.returncode}:\n{text}")
    return ChildRun(seconds, usage.ru_maxrss, text)


def leadgrade_command() -> str:
    beside = Path(sys.executable).with_name("leadgrade")
    found = str(beside) if beside.is_file() else shutil.which("leadgrade")
    if found is None:
        raise BenchError("no `leadgrade` command beside this Python or on PATH")
    return found


# ----------------------------------------------------------------------- DuckDB query
#
# The query below is written by hand for the shipped employer model. Its constants
# (points, caps, windows, patterns, list entries, the decay rate) come from the loaded
# model; the helpers check that each rule still has the shape the query assumes, so an
# edited model stops the benchmark instead of silently disagreeing with it.

Op = TypeVar("Op")


def _bare(condition: object) -> object:
    """The operator inside the model's memoising wrapper."""
    return condition.condition if isinstance(condition, Memo) else condition


def _fit_rule(model: Model, rule_id: str, field: str) -> FitRule:
    for rule in model.fit_rules:
        if rule.id == rule_id:
            if rule.field != field:
                raise BenchError(f"fit rule {rule_id!r} now reads {rule.field!r}, not {field!r}")
            return rule
    raise BenchError(f"the model has no fit rule {rule_id!r}")


def _cases(model: Model, rule_id: str, field: str, kind: type[Op]) -> list[tuple[Op, float]]:
    """A fit rule's cases (or bins, or single condition), all of operator ``kind``."""
    out = []
    for condition, points in _fit_rule(model, rule_id, field).cases:
        operator = _bare(condition)
        if not isinstance(operator, kind):
            raise BenchError(f"fit rule {rule_id!r} has a {type(operator).__name__} case")
        out.append((operator, points))
    return out


def _single(model: Model, rule_id: str, field: str, kind: type[Op]) -> tuple[Op, float]:
    """A fit rule with one condition and its points."""
    cases = _cases(model, rule_id, field, kind)
    if len(cases) != 1:
        raise BenchError(f"fit rule {rule_id!r} now has {len(cases)} cases")
    return cases[0]


def _engagement_rule(model: Model, rule_id: str) -> EngagementRule:
    for rule in model.engagement_rules:
        if rule.id == rule_id:
            if len(rule.event_types) != 1:
                raise BenchError(f"engagement rule {rule_id!r} now takes several event types")
            return rule
    raise BenchError(f"the model has no engagement rule {rule_id!r}")


def _where(model: Model, rule_id: str, prop: str, kind: type[Op]) -> Op:
    """The one property filter of an engagement rule."""
    where = _engagement_rule(model, rule_id).where
    if len(where) != 1 or where[0][0] != prop or not isinstance(_bare(where[0][1]), kind):
        raise BenchError(f"engagement rule {rule_id!r} no longer filters on {prop!r} alone")
    operator = _bare(where[0][1])
    assert isinstance(operator, kind)
    return operator


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_double(value: float) -> str:
    # An explicit DOUBLE: a bare literal such as 3.7e-08 or 12.0 may be typed DECIMAL,
    # and DECIMAL arithmetic in the hot expression makes the query several times slower.
    if not math.isfinite(value):
        raise BenchError(f"{value} has no place in this query")
    return f"CAST({float(value)!r} AS DOUBLE)"


def _folded(operator: In) -> set[str]:
    """``In`` options as the CLI compares them: trimmed and case-folded."""
    if not all(isinstance(o, str) for o in operator.options):
        raise BenchError(f"only text options are supported, not {operator.options}")
    return {str(o).strip().casefold() for o in operator.options}


def _sql_set(operator: In) -> str:
    """``In`` options as a SQL list; the query folds values with lower(trim(…)) to match."""
    return "(" + ", ".join(_sql_text(o) for o in sorted(_folded(operator))) + ")"


def _sql_regex(operator: Matches) -> str:
    # DuckDB's RE2 reads the (?i) inline flag and \b, \w like Python does on ASCII text
    # (RE2's \b and \w are ASCII-only; Python's are Unicode). regexp_matches is a search.
    if operator.pattern.flags & ~(re.UNICODE | re.IGNORECASE):  # (?i) sets IGNORECASE
        raise BenchError(f"/{operator.pattern.pattern}/ uses flags RE2 is not given here")
    return _sql_text(operator.pattern.pattern)


def _sql_range(value: str, operator: Between) -> str:
    parts = []
    if operator.low is not None:
        parts.append(f"{value} >= {_sql_double(operator.low)}")
    if operator.high is not None:
        parts.append(f"{value} <= {_sql_double(operator.high)}")
    return " AND ".join(parts)


def _first_case(whens: Sequence[tuple[str, float]]) -> str:
    """A fit rule: the points of the first case that holds, else 0."""
    lines = [f"WHEN {test} THEN {_sql_double(points)}" for test, points in whens]
    return "CASE\n" + "".join(f"{' ' * 16}{line}\n" for line in lines) + f"{' ' * 16}ELSE 0 END"


def _feed(model: Model, rule_id: str, test: str = "") -> str:
    """One WHEN of the event → rule CASE: the rule's event type, its filter, its index."""
    rule = _engagement_rule(model, rule_id)
    if not test and rule.where:
        raise BenchError(f"engagement rule {rule_id!r} now has a filter")
    condition = f"type = {_sql_text(rule.event_types[0])}" + (f" AND {test}" if test else "")
    return f"WHEN {condition} THEN {rule.index}"


def _disjoint(first: EngagementRule, second: EngagementRule) -> bool:
    """Whether no event can match both rules (as far as this check can tell)."""
    if len(first.where) != 1 or len(second.where) != 1 or first.where[0][0] != second.where[0][0]:
        return False
    a, b = _bare(first.where[0][1]), _bare(second.where[0][1])
    if isinstance(a, In) and isinstance(b, In):
        return not _folded(a) & _folded(b)
    if isinstance(a, Prefix) and isinstance(b, Prefix):
        x, y = a.prefix.casefold(), b.prefix.casefold()
        return not (x.startswith(y) or y.startswith(x))
    return False


def _check_one_rule_per_event(model: Model) -> None:
    """The query gives each event at most one rule (a CASE), where the CLI lets an event
    feed several. The two agree when no two rules of one event type can match the same
    event: disjoint ``in`` sets, or prefixes neither of which starts the other."""
    for event_type, rules in model.by_event.items():
        for i, first in enumerate(rules):
            for second in rules[i + 1 :]:
                if not _disjoint(first, second):
                    raise BenchError(
                        f"{event_type}: rules {first.id!r} and {second.id!r} may both match "
                        "one event; the query's CASE gives it only the first"
                    )


def build_query(model: Model, leads_csv: Path, events_csv: Path, out_csv: Path) -> str:
    """The hand-written query: per lead fit, engagement and score, COPY'd to ``out_csv``."""
    _check_one_rule_per_event(model)
    as_of = _sql_double(sample.AS_OF.timestamp())

    seniority = _cases(model, "title-seniority", "job_title", Matches)
    function = _cases(model, "title-function", "job_title", Matches)
    size = _cases(model, "company-size", "company_size", Between)
    industry, industry_points = _single(model, "target-industry", "industry", In)
    state, state_points = _single(model, "served-geography", "state", In)
    free, free_points = _single(model, "free-email", "email_domain", In)
    rival, rival_points = _single(model, "competitor", "email_domain", In)
    fit_low = "" if model.fit_min is None else _sql_double(model.fit_min)
    fit_raw = "\n            + ".join(
        (
            _first_case([(f"regexp_matches(job_title, {_sql_regex(m)})", p) for m, p in seniority]),
            _first_case([(f"regexp_matches(job_title, {_sql_regex(m)})", p) for m, p in function]),
            _first_case([(_sql_range("company_size", b), p) for b, p in size]),
            _first_case([(f"lower(trim(industry)) IN {_sql_set(industry)}", industry_points)]),
            _first_case([(f"lower(trim(state)) IN {_sql_set(state)}", state_points)]),
            _first_case([(f"email_domain IN {_sql_set(free)}", free_points)]),
            _first_case([(f"email_domain IN {_sql_set(rival)}", rival_points)]),
        )
    )
    fit = f"greatest({fit_raw}, {fit_low})" if fit_low else fit_raw

    def path_prefix(rule_id: str) -> str:
        prefix = _where(model, rule_id, "path", Prefix).prefix
        return f"starts_with(lower(trim(path)), {_sql_text(prefix.casefold())})"

    def one_of(rule_id: str, prop: str) -> str:
        return f"lower(trim({prop})) IN {_sql_set(_where(model, rule_id, prop, In))}"

    feeds = "\n                ".join(
        (
            _feed(model, "pricing-page", path_prefix("pricing-page")),
            _feed(model, "services-page", path_prefix("services-page")),
            _feed(model, "guide-download", one_of("guide-download", "asset_type")),
            _feed(model, "content-download", one_of("content-download", "asset_type")),
            _feed(model, "webinar-register"),
            _feed(model, "webinar-attend"),
            _feed(model, "consultation-request", one_of("consultation-request", "form")),
            _feed(model, "demo-request"),
            _feed(model, "email-click"),
            _feed(model, "social-engage"),
            _feed(model, "unsubscribe"),
        )
    )
    if len(model.engagement_rules) != 11:
        raise BenchError("the model's engagement rules changed; update the query's CASE")

    # Per rule: points, cap (NULL: uncapped; `once` is a lifetime cap of |points|), window
    # length in seconds (NULL: all time) and decay rate λ (0 for `decays: false`).
    rules = ",\n            ".join(
        f"({r.index}, {_sql_double(r.points)}, "
        f"{'NULL' if r.cap is None else _sql_double(r.cap)}, "
        f"{'NULL' if r.window is None else _sql_double(r.window)}, "
        f"{_sql_double(model.decay_rate if r.decays else 0.0)})"
        for r in model.engagement_rules
    )
    lead_columns = ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in sample.EMPLOYER_COLUMNS)
    event_columns = ", ".join(
        f"{_sql_text(c)}: {_sql_text('TIMESTAMPTZ' if c == 'occurred_at' else 'VARCHAR')}"
        for c in sample.EVENT_COLUMNS
    )
    return f"""
COPY (
    WITH
    leads AS (
        SELECT
            trim(id) AS id,
            job_title, industry, state,
            -- numbers as the CLI reads them: thousands separators dropped, else not a number
            TRY_CAST(replace(trim(company_size), ',', '') AS DOUBLE) AS company_size,
            -- derived as the CLI does: after the last '@', trimmed, lower-cased
            lower(trim(regexp_extract(email, '@([^@]*)$', 1))) AS email_domain
        FROM read_csv({_sql_text(str(leads_csv))}, header = true, columns = {{{lead_columns}}})
    ),
    fit AS (
        -- each rule adds the points of its first case that holds; fit is clipped
        SELECT id, least({fit}, {_sql_double(model.fit_max)}) AS fit
        FROM leads
    ),
    rules (rule, points, cap, span, rate) AS (
        VALUES
            {rules}
    ),
    events AS (
        SELECT
            id, lead_id, epoch(occurred_at) AS seconds,
            CASE
                {feeds}
            END AS rule
        FROM read_csv({_sql_text(str(events_csv))}, header = true, columns = {{{event_columns}}})
    ),
    fed AS (
        -- events that feed a rule, of leads in the leads file, not after the as-of time;
        -- a replayed event id counts once (the CLI keeps the first in file order, which
        -- read_csv does not expose; here the earliest: the same for exact replays)
        SELECT id, lead_id, seconds, rule
        FROM events
        WHERE rule IS NOT NULL AND seconds <= {as_of} AND lead_id IN (SELECT id FROM leads)
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY seconds, lead_id, rule) = 1
    ),
    ranked AS (
        -- k: the event's 0-based position in its (lead, rule, window), by (time, id);
        -- windows count from the Unix epoch
        SELECT
            fed.lead_id, fed.seconds, rules.points, rules.cap, rules.rate,
            row_number() OVER (
                PARTITION BY fed.lead_id, fed.rule,
                    CASE WHEN rules.span IS NULL THEN 0 ELSE floor(fed.seconds / rules.span) END
                ORDER BY fed.seconds, fed.id
            ) - 1 AS k
        FROM fed JOIN rules USING (rule)
    ),
    engagement AS (
        -- the k-th event of a capped window adds what is left of the cap, at most |points|;
        -- every point decays continuously with the event's age at the as-of time
        SELECT
            lead_id AS id,
            least(
                sum(
                    CASE
                        WHEN cap IS NULL THEN points
                        ELSE sign(points) * least(greatest(cap - k * abs(points), 0), abs(points))
                    END
                    * exp(-rate * ({as_of} - seconds))
                ),
                {_sql_double(model.engagement_max)}
            ) AS engagement
        FROM ranked
        GROUP BY lead_id
    )
    SELECT
        fit.id,
        fit.fit,
        coalesce(engagement.engagement, 0) AS engagement,
        fit.fit + coalesce(engagement.engagement, 0) AS score
    FROM fit LEFT JOIN engagement USING (id)
) TO {_sql_text(str(out_csv))} (HEADER, DELIMITER ',')
"""


@dataclass(frozen=True)
class DuckRun:
    seconds: float
    threads: int


def run_duckdb(query: str) -> DuckRun:
    """One timed run: connect, read both CSVs, score, write the CSV."""
    start = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")  # a time without an offset is UTC, as in the CLI
        con.execute(query)
        threads = con.execute("SELECT current_setting('threads')").fetchone()
    finally:
        con.close()
    return DuckRun(time.perf_counter() - start, int(threads[0]) if threads else 0)


# ---------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class Agreement:
    compared: int
    max_score_diff: float
    max_fit_diff: float
    max_engagement_diff: float
    missing: list[str]  # lead ids in one output and not the other
    worst: list[tuple[str, float, float]]  # (lead, CLI score, DuckDB score), worst first

    @property
    def agrees(self) -> bool:
        return not self.missing and self.max_score_diff <= TOLERANCE


def _read_scores(path: Path) -> dict[str, tuple[float, float, float]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["id"]: (float(row["fit"]), float(row["engagement"]), float(row["score"]))
            for row in csv.DictReader(handle)
        }


def compare(cli_csv: Path, duck_csv: Path) -> Agreement:
    cli, duck = _read_scores(cli_csv), _read_scores(duck_csv)
    missing = sorted(set(cli) ^ set(duck))
    common = [lead for lead in cli if lead in duck]
    diffs = [(abs(cli[lead][2] - duck[lead][2]), lead) for lead in common]
    worst = sorted(diffs, reverse=True)[:5]

    def largest(column: int) -> float:
        return max((abs(cli[lead][column] - duck[lead][column]) for lead in common), default=0.0)

    return Agreement(
        compared=len(common),
        max_score_diff=worst[0][0] if worst else 0.0,
        max_fit_diff=largest(0),
        max_engagement_diff=largest(1),
        missing=missing[:10],
        worst=[(lead, cli[lead][2], duck[lead][2]) for d, lead in worst if d > TOLERANCE],
    )


# ----------------------------------------------------------------------------- report


def _rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else math.inf


def _mb(kib: int) -> float:
    return kib * 1024 / 1e6


@contextmanager
def _model_path() -> Iterator[Path]:
    data = resources.files("leadgrade").joinpath("data", "workspace", "models", "employer.yaml")
    with resources.as_file(data) as path:
        yield path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `leadgrade score` on generated employer data against a DuckDB "
        "query computing the same scores, and check that the two agree."
    )
    parser.add_argument("--leads", type=int, default=100_000, help="leads (default 100000)")
    parser.add_argument(
        "--activity",
        type=float,
        default=2.2,
        help="visits per lead, scaled (sample.employers' knob); 2.2 gives about 10 events a "
        "lead (default 2.2)",
    )
    parser.add_argument("--seed", type=int, default=sample.SEED, help="random seed")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3)")
    parser.add_argument(
        "--out", type=Path, default=HERE / "out", help="output and cache folder (bench/out)"
    )
    parser.add_argument("--show-sql", action="store_true", help="print the DuckDB query and exit")
    parser.add_argument(
        "--all-cores",
        action="store_true",
        help="do not pin the CLI and DuckDB to one core (the issue's target is for one core)",
    )
    args = parser.parse_args(argv)
    if args.leads < 1 or args.runs < 1 or args.activity <= 0:
        parser.error("--leads and --runs must be at least 1, --activity above 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cores = "all cores"
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        # The target is one core: pin this process, so the CLI's children and the DuckDB
        # ceiling (in this process) run on it alone.
        first = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {first})
        cores = f"one core (cpu {first})"
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cli_csv, duck_csv = out / "cli_scores.csv", out / "duckdb_scores.csv"

    with _model_path() as model_path:
        model = load_model(model_path)
        folder = data_folder(out, args.leads, args.activity, args.seed)
        query = build_query(model, folder / "leads.csv", folder / "events.csv", duck_csv)
        if args.show_sql:
            print(query)
            return 0
        data = generate(folder, args.leads, args.activity, args.seed)
        where = "generated in " + (
            f"{data.generated_in:.1f} s" if data.generated_in is not None else "an earlier run"
        )
        print(
            f"data: {data.leads:,} leads, {data.events:,} events "
            f"({where}; {data.leads_csv.parent})",
            flush=True,
        )

        leadgrade = leadgrade_command()
        stderr_path = out / "cli_stderr.txt"
        startups = [run_child([leadgrade, "--help"], stderr_path).seconds for _ in range(args.runs)]
        score_argv = [
            leadgrade,
            "score",
            "--model",
            str(model_path),
            "--leads",
            str(data.leads_csv),
            "--events",
            str(data.events_csv),
            "--as-of",
            AS_OF,
            "-o",
            str(cli_csv),
        ]
        cli_runs = []
        for n in range(args.runs):
            cli_runs.append(run_child(score_argv, stderr_path))
            print(f"CLI run {n + 1}: {cli_runs[-1].seconds:.2f} s", flush=True)

    duck_runs = []
    for n in range(args.runs):
        duck_runs.append(run_duckdb(query))
        print(f"DuckDB run {n + 1}: {duck_runs[-1].seconds:.2f} s", flush=True)

    agreement = compare(cli_csv, duck_csv)
    events = data.events
    startup = statistics.median(startups)
    cli_times = sorted(r.seconds for r in cli_runs)
    cli_best, cli_median = cli_times[0], statistics.median(cli_times)
    duck_times = sorted(r.seconds for r in duck_runs)
    duck_best, duck_median = duck_times[0], statistics.median(duck_times)
    peak_kib = max(r.peak_rss_kib for r in cli_runs)
    cli_rate, cli_rate_warm = _rate(events, cli_best), _rate(events, cli_best - startup)
    duck_rate = _rate(events, duck_best)

    print()
    print(
        f"leadgrade score benchmark: employer model, as of {AS_OF}, {args.runs} runs each, "
        f"on {cores}"
    )
    print(f"  events            {events:,}")
    print(f"  leads             {data.leads:,}")
    print(f"  CLI says          {cli_runs[-1].stderr.splitlines()[-1]}")
    print(f"  start-up          {startup:.2f} s (median `leadgrade --help`)")
    print(f"  CLI wall          best {cli_best:.2f} s, median {cli_median:.2f} s")
    print(
        f"  CLI events/s      best {cli_rate:,.0f}, median {_rate(events, cli_median):,.0f}"
        "  (start-up included)"
    )
    print(
        f"                    best {cli_rate_warm:,.0f}, "
        f"median {_rate(events, cli_median - startup):,.0f}  (start-up excluded)"
    )
    print(f"  CLI peak RSS      {_mb(peak_kib):,.0f} MB")
    print(
        f"  DuckDB {duckdb.__version__:<10} best {duck_best:.2f} s, median {duck_median:.2f} s "
        f"({duck_runs[0].threads} threads, CSV reading included)"
    )
    print(f"  DuckDB events/s   best {duck_rate:,.0f}, median {_rate(events, duck_median):,.0f}")
    print(
        f"  DuckDB / CLI      {duck_rate / cli_rate:.1f}x (start-up included), "
        f"{duck_rate / cli_rate_warm:.1f}x (excluded), best runs"
    )
    print(
        f"  agreement         {agreement.compared:,} leads compared, max |score diff| "
        f"{agreement.max_score_diff:.4f} (fit {agreement.max_fit_diff:.4f}, "
        f"engagement {agreement.max_engagement_diff:.4f}); tolerance {TOLERANCE}: "
        + ("agree" if agreement.agrees else "DISAGREE")
    )
    for lead, cli_score, duck_score in agreement.worst:
        print(f"    {lead}: CLI {cli_score:.2f}, DuckDB {duck_score:.4f}")
    if agreement.missing:
        print(f"    in one output only: {', '.join(agreement.missing)}")
    speed_met = cli_rate >= TARGET_EVENTS_PER_SECOND
    memory_met = peak_kib * 1024 < TARGET_PEAK_BYTES
    print(
        f"  target speed      ≥ {TARGET_EVENTS_PER_SECOND:,} events/s: "
        f"{'met' if speed_met else 'NOT met'} (best run, start-up included: {cli_rate:,.0f})"
    )
    print(
        f"  target memory     < {TARGET_PEAK_BYTES / 1e9:g} GB peak RSS: "
        f"{'met' if memory_met else 'NOT met'} ({_mb(peak_kib):,.0f} MB)"
    )

    results = {
        "as_of": AS_OF,
        "leads": data.leads,
        "events": events,
        "activity": args.activity,
        "cores": cores,
        "seed": args.seed,
        "startup_seconds": startups,
        "cli_seconds": [r.seconds for r in cli_runs],
        "cli_peak_rss_kib": [r.peak_rss_kib for r in cli_runs],
        "duckdb_version": duckdb.__version__,
        "duckdb_seconds": [r.seconds for r in duck_runs],
        "agreement": asdict(agreement) | {"agrees": agreement.agrees},
        "targets_met": {"events_per_second": speed_met, "peak_memory": memory_met},
    }
    (out / "score_bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if agreement.agrees else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"score_bench: {exc}", file=sys.stderr)
        sys.exit(2)
