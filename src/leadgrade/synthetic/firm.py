"""Drawing the firm: accounts, contacts, candidates and their events (the story is in
the package's docstring). One ``random.Random(seed)`` makes every draw, in a fixed order."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from leadgrade.engine import EventIn, PersonRef
from leadgrade.synthetic import words as w

DAY = 86_400.0
SPAN_DAYS = 182  # six months of events before ``now``
SEED = 2026
ACCOUNTS = 300  # at scale 1
CANDIDATES = 10_000  # at scale 1

Touch = tuple[str | None, str | None, str | None]  # channel, source, campaign


@dataclass(frozen=True)
class Account:
    """An employer company; ``need`` (0–1) is its latent hiring need."""

    key: str
    name: str
    domain: str
    industry: str
    employees: int
    state: str
    need: float
    competitor: bool = False


@dataclass(frozen=True)
class Person:
    """An employer contact or a candidate: what the store learns (``attributes``) and
    what it never sees (``intent``, ``propensity``)."""

    key: str  # E00042 (a contact) or C000123 (a candidate)
    audience: str
    email: str
    attributes: Mapping[str, str]
    intent: float  # 0–1: how keen they are; drives their events
    propensity: float  # 0–1: can they buy (or be placed): the fit the model tries to see
    anonymous_id: str  # their browser's cookie
    account: str | None = None
    competitor: bool = False
    free_mail: bool = False

    @property
    def quality(self) -> float:
        """How likely sales converts them once worked: fit and intent together."""
        return self.propensity * (0.3 + 0.7 * self.intent)


@dataclass(frozen=True)
class Firm:
    seed: int
    scale: float
    now: float
    start: float
    accounts: tuple[Account, ...]
    people: tuple[Person, ...]
    by_person: Mapping[str, tuple[EventIn, ...]]  # person key → their events, oldest first

    @cached_property
    def events(self) -> tuple[EventIn, ...]:
        """Every event, oldest first (ties by id)."""
        every = [event for events in self.by_person.values() for event in events]
        every.sort(key=lambda e: (e.occurred_at, e.id))
        return tuple(every)

    @cached_property
    def _by_email(self) -> dict[str, Person]:
        return {person.email: person for person in self.people}

    def person(self, email: str) -> Person | None:
        return self._by_email.get(email.strip().lower())

    def audience(self, name: str) -> list[Person]:
        return [p for p in self.people if p.audience == name]


def generate(seed: int = SEED, *, scale: float = 1.0, now: float) -> Firm:
    """The firm of ``seed`` at ``scale`` (1.0: 300 accounts, 10,000 candidates), with the
    six months of events before ``now`` (epoch seconds)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    world = _World(random.Random(seed), now - SPAN_DAYS * DAY, now, f"demo{seed}")
    accounts = world.accounts(max(1, round(ACCOUNTS * scale)))
    people: list[Person] = []
    by_person: dict[str, tuple[EventIn, ...]] = {}
    for person in world.contacts(accounts):
        people.append(person)
        by_person[person.key] = world.employer_events(person)
    for person in world.candidates(max(1, round(CANDIDATES * scale))):
        people.append(person)
        by_person[person.key] = world.candidate_events(person)
    return Firm(seed, scale, now, world.start, tuple(accounts), tuple(people), by_person)


# ------------------------------------------------------------------------------ draws


def _pick(rng: random.Random, weighted: w.Weighted) -> str:
    return rng.choices([x[0] for x in weighted], [x[1] for x in weighted])[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@dataclass
class _Raw:
    """An event before it knows how it names its person. ``how``: ``web`` (the tracker:
    the browser's cookie, and the e-mail once the visitor is known), ``identify`` (a form
    or a tracked link: the e-mail and the cookie), ``mail`` (the e-mail platform, the
    ATS, the social tool: the e-mail only)."""

    at: float
    type: str
    how: str
    properties: dict[str, object]
    touch: Touch
    audience: str | None = None


@dataclass
class _Trail:
    """One person's events as they are drawn."""

    now: float
    raws: list[_Raw] = field(default_factory=list)

    def add(
        self,
        at: float,
        kind: str,
        how: str,
        touch: Touch,
        audience: str | None = None,
        **properties: object,
    ) -> None:
        if at <= self.now:
            self.raws.append(_Raw(at, kind, how, dict(properties), touch, audience))


class _World:
    def __init__(self, rng: random.Random, start: float, now: float, prefix: str) -> None:
        self.rng, self.start, self.now, self.prefix = rng, start, now, prefix
        self.emails: set[str] = set()
        self.webinars = [
            (t, start + (20 + 30 * i) * DAY + 16 * 3600) for i, t in enumerate(w.WEBINARS)
        ]
        # Monthly newsletters to employers, fortnightly job digests to candidates.
        self.newsletters = self._sends(30, 15, "hiring-update")
        self.digests = self._sends(14, 3, "job-digest")
        self.jobs = self._jobs()

    def _sends(self, every_days: int, offset_days: int, name: str) -> list[tuple[float, str]]:
        sends, at = [], self.start + offset_days * DAY + 14 * 3600
        while at < self.now:
            sends.append((at, f"{name}-{datetime.fromtimestamp(at, UTC):%Y-%m-%d}"))
            at += every_days * DAY
        return sends

    def _jobs(self) -> dict[str, list[tuple[int, str]]]:
        """Six open job orders per category: (number, title)."""
        served = [(state, share) for state, share in w.STATES if state in w.SERVED_STATES]
        jobs: dict[str, list[tuple[int, str]]] = {}
        number = 40_000
        for category in w.CATEGORIES:
            for _ in range(6):
                number += self.rng.randint(1, 40)
                state = _pick(self.rng, served)
                city = self.rng.choice(w.CITIES[state])
                level = self.rng.choice(("", "Senior ", "Lead ", ""))
                title = f"{level}{category} ({city}, {state})"
                jobs.setdefault(category, []).append((number, title))
        return jobs

    # -- people

    def _email(self, local: str, domain: str) -> str:
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return email

    def _cookie(self) -> str:
        return f"anon-{self.rng.getrandbits(64):016x}"

    def accounts(self, count: int) -> list[Account]:
        rng = self.rng
        rivals = w.COMPETITORS[: round(count / 100)]
        industries = list(w.INDUSTRIES)
        shares = [w.INDUSTRIES[i][0] for i in industries]
        names: set[str] = set()
        accounts: list[Account] = []
        while len(accounts) < count - len(rivals):
            industry = rng.choices(industries, shares)[0]
            name = f"{rng.choice(w.COMPANY_WORDS)} {rng.choice(w.INDUSTRIES[industry][1])}"
            if name in names:
                continue
            names.add(name)
            accounts.append(
                Account(
                    key=f"A{len(accounts) + 1:04d}",
                    name=name,
                    domain=_slug(name).replace("-", "") + ".example",
                    industry=industry,
                    employees=int(min(80_000, max(5, math.exp(rng.gauss(5.5, 1.5))))),
                    state=_pick(rng, w.STATES),
                    need=rng.betavariate(1.1, 2.6),
                )
            )
        for name, domain in rivals:
            key, employees = f"A{len(accounts) + 1:04d}", rng.randint(80, 400)
            accounts.append(Account(key, name, domain, "Staffing", employees, "TX", 0.8, True))
        return accounts

    def contacts(self, accounts: Sequence[Account]) -> list[Person]:
        rng = self.rng
        functions = list(w.FUNCTIONS)
        shares = [w.FUNCTIONS[f][0] for f in functions]
        people: list[Person] = []
        for account in accounts:
            for _ in range(max(1, round(rng.lognormvariate(1.72, 0.6)))):  # ~6.7 each
                first, last = rng.choice(w.FIRST_NAMES), rng.choice(w.LAST_NAMES)
                level, _, authority = rng.choices(w.SENIORITY, [s[1] for s in w.SENIORITY])[0]
                function = rng.choices(functions, shares)[0]
                if account.competitor:  # their business developers read our pricing
                    level, authority, function = "manager", 0.45, "Recruiting"
                relevance = w.FUNCTIONS[function][1]
                free = not account.competitor and rng.random() < 0.06
                email = self._email(
                    f"{first}{last}".lower() if free else f"{first}.{last}".lower(),
                    _pick(rng, w.FREE_MAIL) if free else account.domain,
                )
                intent = account.need * (0.4 + 0.6 * relevance) * (0.5 + rng.betavariate(2, 2))
                if account.competitor:
                    intent = 0.6 + 0.3 * rng.random()
                size = account.employees
                size_fit = 0.35 if size < 50 else 0.8 if size < 200 else 1 if size < 5000 else 0.6
                propensity = (
                    size_fit
                    * (1.0 if account.industry in w.TARGET_INDUSTRIES else 0.45)
                    * (1.0 if account.state in w.SERVED_STATES else 0.5)
                    * (0.4 + 0.6 * authority)
                    * (0.5 + 0.5 * relevance)
                    * (0.3 if free else 1.0)
                    * (0.0 if account.competitor else 1.0)
                )
                attributes = {
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "job_title": self._title(level, function),
                    "company": account.name,
                    "company_domain": account.domain,
                    "company_size": str(account.employees),
                    "industry": account.industry,
                    "state": account.state,
                    "country": "US",
                }
                people.append(
                    Person(
                        key=f"E{len(people) + 1:05d}",
                        audience="employer",
                        email=email,
                        attributes=attributes,
                        intent=round(min(1.0, intent), 4),
                        propensity=round(propensity, 4),
                        anonymous_id=self._cookie(),
                        account=account.key,
                        competitor=account.competitor,
                        free_mail=free,
                    )
                )
        return people

    def _title(self, level: str, function: str) -> str:
        rng = self.rng
        short = "HR" if function == "Human Resources" and rng.random() < 0.5 else function
        titles = {
            "chief": (w.FUNCTIONS[function][2],),
            "vp": (f"VP of {function}", f"Vice President, {function}"),
            "head": (f"Head of {function}",),
            "director": (f"Director of {function}", f"{short} Director"),
            "senior manager": (f"Senior {short} Manager",),
            "manager": (f"{short} Manager",),
        }
        return rng.choice(titles.get(level, w.FUNCTIONS[function][3]))

    def candidates(self, count: int) -> list[Person]:
        rng = self.rng
        categories = list(w.CATEGORIES)
        shares = [w.CATEGORIES[c][0] for c in categories]
        people = []
        for n in range(1, count + 1):
            first, last = rng.choice(w.FIRST_NAMES), rng.choice(w.LAST_NAMES)
            category = rng.choices(categories, shares)[0]
            skills, in_demand = rng.choice(w.SKILLS[category])
            state = _pick(rng, w.STATES)
            style = rng.random()
            local = (
                f"{first}.{last}"
                if style < 0.4
                else f"{first[0]}{last}{rng.randint(1, 99)}"
                if style < 0.7
                else f"{first}{last}{rng.randint(70, 99)}"
            )
            email = self._email(local.lower(), _pick(rng, w.FREE_MAIL))
            propensity = (
                w.CATEGORIES[category][1]
                * (1.0 if in_demand else 0.6)
                * (1.0 if state in w.SERVED_STATES else 0.35)
            )
            attributes = {
                "first_name": first,
                "last_name": last,
                "email": email,
                "job_category": category,
                "skills": skills,
                "city": rng.choice(w.CITIES[state]),
                "state": state,
                "country": "US",
            }
            people.append(
                Person(
                    key=f"C{n:06d}",
                    audience="candidate",
                    email=email,
                    attributes=attributes,
                    intent=round(rng.betavariate(1.1, 3.2), 4),
                    propensity=round(propensity, 4),
                    anonymous_id=self._cookie(),
                    free_mail=True,
                )
            )
        return people

    # -- events

    def _visits(self, person: Person, mean: float, width_days: tuple[float, float]) -> list[float]:
        """Visit times: a Poisson count with mean ``mean``; the keener the person, the more
        of their visits crowd around their moment of need, and the nearer the present it
        lies (it can lie a month ahead: a need that is only starting)."""
        rng, span, ahead = self.rng, self.now - self.start, 30 * DAY
        peak = self.now + ahead - (span + ahead) * rng.random() ** (1 + 2 * person.intent)
        width = rng.uniform(*width_days) * DAY
        focus = 0.2 + 0.7 * person.intent
        visits = []
        for _ in range(_poisson(rng, mean)):
            near = rng.random() < focus
            at = rng.gauss(peak, width) if near else rng.uniform(self.start, self.now)
            if self.start <= at <= self.now:
                visits.append(at)
        return sorted(visits)

    def _traffic(self, table: w.Traffic) -> Touch:
        channel, source, campaign, _ = self.rng.choices(table, [t[3] for t in table])[0]
        return channel, source, campaign

    def _pages(
        self, trail: _Trail, at: float, page: Callable[[], str], touch: Touch, how: str = "web"
    ) -> float:
        """A visit: a few page views a minute or two apart; returns when it ended."""
        for i in range(1 + min(8, int(self.rng.expovariate(0.7)))):
            if i:
                at += self.rng.uniform(20, 240)
            trail.add(at, "web.page_view", how if i == 0 else "web", touch, path=page())
        return at

    def _mails(
        self,
        trail: _Trail,
        person: Person,
        sends: Sequence[tuple[float, str]],
        since: float,
        page: Callable[[], str],
    ) -> None:
        """Opens and clicks of the sends since ``since``; a click opens a visit that names
        the reader (the link is tracked). An unsubscribe ends the sends."""
        rng, intent, audience = self.rng, person.intent, person.audience
        source = "newsletter" if audience == "employer" else "job-digest"
        for sent, campaign in sends:
            if sent < since:
                continue
            touch = ("email", source, campaign)
            if rng.random() < 0.012 * (1 - intent):
                at = sent + rng.uniform(600, 2 * DAY)
                trail.add(at, "email.unsubscribe", "mail", touch, audience, email=campaign)
                return
            if rng.random() >= 0.12 + 0.45 * intent:
                continue
            opened = sent + rng.expovariate(1 / (6 * 3600))
            trail.add(opened, "email.open", "mail", touch, audience, email=campaign)
            if rng.random() < 0.08 + 0.45 * intent:
                clicked = opened + rng.uniform(5, 600)
                trail.add(clicked, "email.click", "mail", touch, audience, email=campaign)
                if clicked + 2 <= self.now:
                    self._pages(trail, clicked + 2, page, touch, how="identify")

    def employer_events(self, person: Person) -> tuple[EventIn, ...]:
        rng, intent = self.rng, person.intent
        trail = _Trail(self.now)
        hand_raises = 0
        registered: set[str] = set()

        def page() -> str:
            roll = rng.random()
            if roll < 0.04 + 0.3 * intent:
                return rng.choice(w.PRICING_PAGES)
            if roll < 0.16 + 0.6 * intent:
                return rng.choice(w.SERVICE_PAGES)
            return rng.choice(w.GENERAL_PAGES)

        for at in self._visits(person, 0.6 + 14 * intent, (8, 30)):
            touch = self._traffic(w.EMPLOYER_TRAFFIC)
            end = self._pages(trail, at, page, touch)
            if rng.random() < 0.05 + 0.22 * intent:
                asset, kind = rng.choice(w.ASSETS)
                trail.add(
                    end + 60, "content.download", "identify", touch, asset=asset, asset_type=kind
                )
            upcoming = [
                (title, when)
                for title, when in self.webinars
                if at < when < at + 30 * DAY and title not in registered
            ]
            if upcoming and rng.random() < 0.04 + 0.15 * intent:
                title, when = upcoming[0]
                registered.add(title)
                invited = (touch[0], touch[1], f"webinar-{_slug(title)}")
                trail.add(end + 90, "webinar.register", "identify", invited, webinar=title)
                if rng.random() < 0.5 + 0.35 * intent:
                    zoom = ("webinar", "zoom", invited[2])
                    trail.add(
                        when + rng.uniform(0, 600), "webinar.attend", "mail", zoom, webinar=title
                    )
            if hand_raises < 2 and rng.random() < 0.22 * intent**2.5:  # rare, and only keen
                hand_raises += 1
                if rng.random() < 0.25:
                    trail.add(
                        end + 120, "demo.request", "identify", touch, product="talent platform"
                    )
                else:
                    form = rng.choice(
                        ("consultation", "consultation", "request_proposal", "job_order")
                    )
                    trail.add(end + 120, "form.submit", "identify", touch, form=form)
        social = ("social", "linkedin", None)
        for _ in range(_poisson(rng, 3.5 * intent)):
            action = rng.choice(("like", "like", "comment", "share"))
            at = rng.uniform(self.start, self.now)
            trail.add(at, "social.engage", "mail", social, network="linkedin", action=action)
        general = lambda: rng.choice(w.GENERAL_PAGES + w.SERVICE_PAGES)  # noqa: E731
        self._mails(trail, person, self.newsletters, self.start, general)
        return self._events(person, trail)

    def _job_page(self, person: Person) -> str:
        rng, roll = self.rng, self.rng.random()
        if roll < 0.3:
            return "/jobs/search"
        if roll < 0.9:
            mine = rng.random() < 0.8
            category = person.attributes["job_category"] if mine else rng.choice(list(w.CATEGORIES))
            number, title = rng.choice(self.jobs[category])
            return f"/jobs/{number}-{_slug(title)}"
        return rng.choice(w.ADVICE_PAGES)

    def candidate_events(self, person: Person) -> tuple[EventIn, ...]:
        rng, intent = self.rng, person.intent
        category = person.attributes["job_category"]
        trail = _Trail(self.now)
        applied, alerts_at, community = 0, math.inf, False

        def page() -> str:
            return self._job_page(person)

        for at in self._visits(person, 0.5 + 9 * intent, (5, 25)):
            touch = self._traffic(w.CANDIDATE_TRAFFIC)
            end = self._pages(trail, at, page, touch)
            if applied < 6 and rng.random() < 0.04 + 0.45 * intent:
                applied += 1
                number, title = rng.choice(self.jobs[category])
                job = {"job_id": str(number), "job_title": title, "category": category}
                trail.add(end + 60, "job.apply", "identify", touch, **job)
                if rng.random() < 0.3 * intent:
                    done = end + rng.uniform(0.2, 3) * DAY
                    check = f"{category} skills check"
                    tests = ("email", "assessments", None)
                    trail.add(done, "assessment.complete", "mail", tests, assessment=check)
            if alerts_at == math.inf and rng.random() < 0.08 + 0.3 * intent:
                alerts_at = end + 30
                trail.add(alerts_at, "job.alert_signup", "identify", touch, category=category)
            if not community and rng.random() < 0.03 + 0.15 * intent:
                community = True
                trail.add(end + 45, "form.submit", "identify", touch, form="talent_community")
        # Recruiters reach out to the people they can place; the keen ones answer.
        for _ in range(_poisson(rng, 3.0 * intent * person.propensity)):
            sms = rng.random() < 0.4
            kind, channel = ("sms.reply", "sms") if sms else ("email.reply", "email")
            trail.add(rng.uniform(self.start, self.now), kind, "mail", (channel, "recruiter", None))
        in_database = rng.random() < 0.45  # already in the ATS: gets the job digest
        if in_database or alerts_at < math.inf:
            since = self.start if in_database else alerts_at
            self._mails(trail, person, self.digests, since, page)
        return self._events(person, trail)

    def _events(self, person: Person, trail: _Trail) -> tuple[EventIn, ...]:
        """The person's events, oldest first, each naming its person as its source would:
        the web tracker by cookie (and the e-mail, once a form or a tracked link gave it,
        now or before the six months began), the other sources by e-mail. The first
        event that names the e-mail carries what the CRM or ATS knows of them (traits).
        Everyone has at least one event: someone on the list opened a send once."""
        raws = sorted(trail.raws, key=lambda r: r.at)
        if not raws:
            sends = self.newsletters if person.audience == "employer" else self.digests
            sent, name = self.rng.choice(sends) if sends else (self.start, "welcome")
            sender = "newsletter" if person.audience == "employer" else "job-digest"
            at, touch = min(self.now, sent + 3600), ("email", sender, name)
            raws = [_Raw(at, "email.open", "mail", {"email": name}, touch, person.audience)]
        # Most cookies were tied to their person before the six months began (the site has
        # had its tracker for years); the rest browse anonymously until they identify.
        known, traits_sent = self.rng.random() < 0.6, False
        events = []
        for n, raw in enumerate(raws, 1):
            known = known or raw.how == "identify"
            if raw.how == "mail":
                ref = PersonRef(email=person.email)
            elif known:
                ref = PersonRef(email=person.email, anonymous_id=person.anonymous_id)
            else:
                ref = PersonRef(anonymous_id=person.anonymous_id)
            traits: Mapping[str, object] = {}
            if ref.email and not traits_sent:
                traits, traits_sent = dict(person.attributes), True
            channel, source, campaign = raw.touch
            events.append(
                EventIn(
                    id=f"{self.prefix}-{person.key}-{n:03d}",
                    type=raw.type,
                    occurred_at=float(int(raw.at)),
                    person=ref,
                    audience=raw.audience,
                    properties=raw.properties,
                    traits=traits,
                    channel=channel,
                    source=source,
                    campaign=campaign,
                )
            )
        return tuple(events)
