"""The bundled sample: a fictional staffing firm's leads and events, from a fixed seed.

The story: every lead has a hidden intent between 0 and 1. Intent sets how many visits a
lead makes, how recent they are and how far down the funnel they go (pricing pages, guide
downloads, consultation requests for employers; applications and recruiter replies for
candidates). Fit attributes are drawn independently, so fit and engagement are separate
signals, as the A1–D4 grid assumes. ``python scripts/make_sample.py`` rewrites the files
under ``data/sample``; a test checks that they match this code.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

#: The time the sample is scored as of: every event lies in the 180 days before it.
AS_OF = datetime(2026, 10, 1, tzinfo=UTC)
SPAN_DAYS = 180
SEED = 20261001

EVENT_COLUMNS = (
    "id",
    "lead_id",
    "type",
    "occurred_at",
    "path",
    "asset_type",
    "form",
    "channel",
    "source",
    "campaign",
)
EMPLOYER_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "job_title",
    "company",
    "company_size",
    "industry",
    "state",
    "country",
)
CANDIDATE_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "job_category",
    "skills",
    "city",
    "state",
    "country",
)

FIRST = (
    "Ava",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kara",
    "Luis",
    "Maya",
    "Nikhil",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
)
LAST = (
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
    "Moreau",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quinlan",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Vargas",
    "Walsh",
    "Xu",
    "Young",
    "Zimmer",
)
SENIORITY = (
    ("VP", 0.12),
    ("Head of", 0.08),
    ("Director of", 0.2),
    ("", 0.1),
    ("Senior Manager,", 0.15),
    ("Manager,", 0.2),
    ("Coordinator,", 0.15),
)
FUNCTION = (
    ("Talent Acquisition", 0.3),
    ("Human Resources", 0.2),
    ("People", 0.1),
    ("Engineering", 0.12),
    ("Operations", 0.12),
    ("Finance", 0.08),
    ("Marketing", 0.08),
)
INDUSTRIES = (
    ("Healthcare", 0.18),
    ("Information Technology", 0.16),
    ("Manufacturing", 0.14),
    ("Logistics", 0.12),
    ("Financial Services", 0.1),
    ("Retail", 0.1),
    ("Education", 0.08),
    ("Hospitality", 0.07),
    ("Government", 0.05),
)
STATES = (
    ("TX", 0.3),
    ("OK", 0.06),
    ("LA", 0.06),
    ("AZ", 0.08),
    ("CO", 0.08),
    ("GA", 0.07),
    ("FL", 0.1),
    ("CA", 0.1),
    ("NY", 0.08),
    ("IL", 0.07),
)
CITIES = {
    "TX": "Houston",
    "OK": "Tulsa",
    "LA": "Baton Rouge",
    "AZ": "Phoenix",
    "CO": "Denver",
    "GA": "Atlanta",
    "FL": "Tampa",
    "CA": "Sacramento",
    "NY": "Buffalo",
    "IL": "Chicago",
}
CATEGORIES = (
    ("Nursing", 0.14),
    ("Software Engineering", 0.1),
    ("Data Engineering", 0.05),
    ("Warehouse Operations", 0.12),
    ("CNC Machining", 0.04),
    ("Accounting", 0.08),
    ("Administrative", 0.1),
    ("Customer Service", 0.12),
    ("Light Industrial", 0.1),
    ("Sales", 0.08),
    ("Graphic Design", 0.04),
    ("Legal", 0.03),
)
SKILLS = {
    "Nursing": ("RN, ICU, BLS", "LPN, long-term care", "CNA, patient care"),
    "Software Engineering": ("Python, AWS, SQL", "Java, Spring", "TypeScript, React"),
    "Data Engineering": ("SQL, Python, Airflow", "Spark, Scala"),
    "Warehouse Operations": ("Forklift, inventory", "shipping, receiving"),
    "CNC Machining": ("CNC, blueprint reading", "lathe, mill"),
    "Accounting": ("Accounts payable, SAP", "bookkeeping, QuickBooks"),
    "Administrative": ("scheduling, MS Office", "data entry"),
    "Customer Service": ("call center, Salesforce", "retail, POS"),
    "Light Industrial": ("assembly, packing", "Forklift, assembly"),
    "Sales": ("B2B sales, Salesforce", "retail sales"),
    "Graphic Design": ("Figma, Illustrator",),
    "Legal": ("paralegal, e-discovery",),
}
FREE_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
COMPANY_WORDS = (
    "Apex",
    "Blue",
    "Cedar",
    "Delta",
    "Evergreen",
    "Frontier",
    "Granite",
    "Harbor",
    "Ironwood",
    "Juniper",
    "Keystone",
    "Lone Star",
    "Meridian",
    "Northstar",
    "Oakridge",
    "Pioneer",
    "Quarry",
    "Redline",
    "Summit",
    "Trident",
)
COMPANY_KINDS = (
    "Health",
    "Systems",
    "Logistics",
    "Manufacturing",
    "Partners",
    "Labs",
    "Foods",
    "Energy",
    "Financial",
    "Medical Group",
)
COMPETITORS = ("rivalstaffing.example", "quickhire-partners.example")
CHANNELS = (
    ("organic", "google", ""),
    ("paid_search", "google", "brand-2026"),
    ("email", "newsletter", "monthly-hiring-update"),
    ("social", "linkedin", "q3-salary"),
    ("referral", "partner", ""),
    ("direct", "", ""),
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class _Clock:
    """Event times: recent for keen leads, spread over the span for the rest."""

    def __init__(self, rng: random.Random, as_of: datetime, span_days: int) -> None:
        self.rng, self.as_of, self.span = rng, as_of, span_days

    def days_ago(self, intent: float) -> float:
        # Keen leads act recently; an exponential with a shorter mean for higher intent.
        mean = self.span * (0.6 - 0.5 * intent)
        return min(self.span - 0.01, self.rng.expovariate(1.0 / max(mean, 3.0)))

    def at(self, days_ago: float) -> str:
        moment = self.as_of - timedelta(days=days_ago)
        return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _Ids:
    def __init__(self, prefix: str) -> None:
        self.prefix, self.next = prefix, 0

    def __call__(self) -> str:
        self.next += 1
        return f"{self.prefix}{self.next:07d}"


def employers(
    rng: random.Random,
    count: int,
    *,
    as_of: datetime = AS_OF,
    span_days: int = SPAN_DAYS,
    prefix: str = "E",
    activity: float = 1.0,
) -> Iterator[tuple[dict[str, str], list[dict[str, str]]]]:
    """(lead, events) for ``count`` employer contacts; ``activity`` scales how many visits
    each makes (the bundled sample uses 1; the benchmark more)."""
    clock, event_id = _Clock(rng, as_of, span_days), _Ids(f"{prefix.lower()}v")
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
        roll = rng.random()
        domain = (
            rng.choice(COMPETITORS)
            if roll < 0.02
            else rng.choice(FREE_DOMAINS)
            if roll < 0.17
            else _slug(company) + ".example"
        )
        seniority, function = _pick(rng, SENIORITY), _pick(rng, FUNCTION)
        title = f"{seniority} {function}".strip().rstrip(",")
        lead = {
            "id": f"{prefix}{n:06d}",
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}{n}@{domain}",
            "job_title": title,
            "company": company,
            "company_size": str(max(2, int(math.exp(rng.gauss(5.3, 1.6))))),
            "industry": _pick(rng, INDUSTRIES),
            "state": _pick(rng, STATES),
            "country": "US",
        }
        yield lead, _employer_events(rng, lead["id"], clock, event_id, activity)


def _touch(rng: random.Random) -> dict[str, str]:
    channel, source, campaign = rng.choice(CHANNELS)
    return {"channel": channel, "source": source, "campaign": campaign}


def _employer_events(
    rng: random.Random, lead_id: str, clock: _Clock, event_id: _Ids, activity: float
) -> list[dict[str, str]]:
    intent = rng.betavariate(1.2, 3.0)
    events: list[dict[str, str]] = []

    def add(kind: str, days: float, **props: str) -> None:
        events.append(
            {
                "id": event_id(),
                "lead_id": lead_id,
                "type": kind,
                "occurred_at": clock.at(days),
                **_touch(rng),
                **props,
            }
        )

    for _ in range(int(rng.expovariate(1.0) * (1 + 14 * intent) * activity)):
        days = clock.days_ago(intent)
        roll = rng.random()
        if roll < 0.45:
            path = rng.choice(("/", "/blog/hiring-trends", "/about", "/careers-advice"))
            if rng.random() < intent:
                path = rng.choice(
                    (
                        "/pricing",
                        "/pricing/contract-staffing",
                        "/services/rpo",
                        "/services/direct-hire",
                    )
                )
            add("web.page_view", days, path=path)
        elif roll < 0.6:
            add("email.open" if rng.random() < 0.6 else "email.click", days)
        elif roll < 0.72:
            asset = rng.choice(
                (
                    "salary_guide",
                    "hiring_report",
                    "case_study",
                    "checklist",
                    "ebook",
                    "workforce_plan",
                )
            )
            add("content.download", days, asset_type=asset)
        elif roll < 0.82:
            add("social.engage", days)
        elif roll < 0.9:
            add("webinar.register", days)
            if rng.random() < 0.6:
                add("webinar.attend", max(0.0, days - 7))
        elif rng.random() < 0.03:
            add("email.unsubscribe", days)
    if rng.random() < intent**2:
        form = rng.choice(("consultation", "request_proposal", "job_order"))
        add("form.submit", clock.days_ago(intent), form=form)
    if rng.random() < 0.25 * intent:
        add("demo.request", clock.days_ago(intent))
    events.sort(key=lambda e: e["occurred_at"])
    return events


def candidates(
    rng: random.Random,
    count: int,
    *,
    as_of: datetime = AS_OF,
    span_days: int = SPAN_DAYS,
    prefix: str = "C",
) -> Iterator[tuple[dict[str, str], list[dict[str, str]]]]:
    """(lead, events) for ``count`` candidates."""
    clock, event_id = _Clock(rng, as_of, span_days), _Ids(f"{prefix.lower()}v")
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        category = _pick(rng, CATEGORIES)
        state = _pick(rng, STATES)
        lead = {
            "id": f"{prefix}{n:06d}",
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}{n}@{rng.choice(FREE_DOMAINS)}",
            "job_category": category,
            "skills": rng.choice(SKILLS[category]),
            "city": CITIES[state],
            "state": state,
            "country": "US",
        }
        yield lead, _candidate_events(rng, lead["id"], clock, event_id)


def _candidate_events(
    rng: random.Random, lead_id: str, clock: _Clock, event_id: _Ids
) -> list[dict[str, str]]:
    intent = rng.betavariate(1.3, 2.5)
    events: list[dict[str, str]] = []

    def add(kind: str, days: float, **props: str) -> None:
        events.append(
            {
                "id": event_id(),
                "lead_id": lead_id,
                "type": kind,
                "occurred_at": clock.at(days),
                **_touch(rng),
                **props,
            }
        )

    for _ in range(int(rng.expovariate(1.0) * (1 + 10 * intent))):
        days = clock.days_ago(intent)
        roll = rng.random()
        if roll < 0.5:
            add(
                "web.page_view",
                days,
                path=rng.choice(("/jobs", "/jobs/search", "/jobs/1234", "/", "/career-tips")),
            )
        elif roll < 0.65:
            add("email.open" if rng.random() < 0.5 else "email.click", days)
        elif roll < 0.8 and rng.random() < intent + 0.2:
            add("job.apply", days)
        elif roll < 0.86:
            add("job.alert_signup", days)
        elif roll < 0.9:
            add("form.submit", days, form="talent_community")
        elif roll < 0.95 and rng.random() < intent:
            add("assessment.complete", days)
        elif rng.random() < intent:
            add(rng.choice(("email.reply", "sms.reply")), days)
        elif rng.random() < 0.05:
            add("email.unsubscribe", days)
    events.sort(key=lambda e: e["occurred_at"])
    return events


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def bundled(seed: int = SEED) -> dict[str, str]:
    """File name → text of the bundled sample (250 employer contacts, 350 candidates)."""
    rng = random.Random(seed)
    files: dict[str, str] = {}
    for audience, people, columns in (
        ("employer", employers(rng, 250), EMPLOYER_COLUMNS),
        ("candidate", candidates(rng, 350), CANDIDATE_COLUMNS),
    ):
        leads, events = [], []
        for lead, lead_events in people:
            leads.append(lead)
            events.extend(lead_events)
        events.sort(key=lambda e: (e["occurred_at"], e["id"]))
        files[f"{audience}_leads.csv"] = to_csv(leads, columns)
        files[f"{audience}_events.csv"] = to_csv(events, EVENT_COLUMNS)
    return files
