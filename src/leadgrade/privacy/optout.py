"""Opt-outs: SMS replies that mean stop, e-mail unsubscribes and CRM opt-out flags, all
recorded in the consent ledger in the transaction that brings them in (DESIGN §9.2).

:func:`read_reply` is pure: it reads an inbound SMS the way a careful person would. A
reply that is a stop word — STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE, STOPALL,
in any case, with politeness around it or a typo in it, or a common Spanish form (no más,
para, cancelar, baja) — or that plainly asks for the texts to stop ("please stop texting
me") means stop. One that mentions stopping but also says something else ("stop calling
me at work, text instead", "cancel my interview") is for a human to read. A negated one
("don't stop") is not an opt-out.

:class:`Suppression` rides on the engine's transactions (:meth:`Engine.within`): a stop
opts the person out of every channel before the request that brought the reply returns.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.core.attributes import attribute_name
from leadgrade.engine import Engine, IngestResult, PeopleMerged
from leadgrade.privacy.consent import CHANNELS, ConsentRecord, insert, states_of
from leadgrade.privacy.quiet import ContactRules
from leadgrade.store.bulk import Bulk
from leadgrade.store.schema import consents, outbox, review_flags
from leadgrade.times import epoch

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------ reading a reply


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOP, REVIEW, NONE, WRONG_NUMBER, RESTART = "stop", "review", "none", "wrong_number", "restart"

#: Words that add nothing to what a reply means.
FILLER = _set(
    "please pls plz pleas thanks thank thx ty you u ok okay k now asap just right away "
    "immediately already sir maam hi hello hey lol omg seriously again por favor porfa "
    "porfavor gracias ya ahora"
)
#: What a stop word may be followed by and still mean "stop the texts".
OBJECTS = _set(
    "texting texts text txt txts texted messaging messages message msgs msg sms sending "
    "contacting me this these it them that all everything everyone spam mensajes mensaje "
    "textos enviar enviarme escribir escribirme suscripcion de"
)
#: A stop word followed by one of these is about a channel, not all of them.
CHANNEL_WORDS = _set(
    "calling calls call ringing emailing emails email mail mails emails llamadas llamar "
    "llamarme correos correo"
)
NEGATORS = frozenset({"not", "never", "no", "nunca"})
#: Words that make a stop conditional or partial: a human should read it.
HEDGES = _set("instead but unless if except only rather maybe later until sino pero solo si luego")
DETERMINERS = _set(
    "the a an my your our his her their this that at to by of in on for el la los las un "
    "una mi tu su"
)
#: A stop word then one of these is another verb: "stop by", "end of", "quit my job".
PHRASAL = {
    "stop": frozenset({"by", "in", "over", "and", "working", "looking"}),
    "end": frozenset({"of", "up", "date", "client", "user", "time", "day", "week"}),
    "quit": frozenset({"my", "job", "smoking", "working"}),
}
CONTRACTIONS = {
    "dont": ("do", "not"),
    "doesnt": ("does", "not"),
    "didnt": ("did", "not"),
    "wont": ("will", "not"),
    "cant": ("can", "not"),
    "cannot": ("can", "not"),
    "shouldnt": ("should", "not"),
    "wouldnt": ("would", "not"),
    "isnt": ("is", "not"),
    "arent": ("are", "not"),
    "im": ("i", "am"),
}

# kinds: strong — means stop wherever it stands (unless negated); verb — means stop as the
# last word or before an object; common — an everyday word too, so only alone or before
# an object; review — a refusal a human should read; wrong — a wrong number; restart.
LEXICON: dict[tuple[str, ...], tuple[str, str]] = {
    ("unsubscribe",): ("unsubscribe", "strong"),
    ("unsub",): ("unsubscribe", "strong"),
    ("optout",): ("opt out", "strong"),
    ("opt", "out"): ("opt out", "strong"),
    ("opt", "me", "out"): ("opt out", "strong"),
    ("stopall",): ("stopall", "strong"),
    ("stop", "all"): ("stopall", "strong"),
    ("revoke",): ("revoke", "strong"),
    ("remove", "me"): ("remove me", "strong"),
    ("take", "me", "off"): ("take me off", "strong"),
    ("leave", "me", "alone"): ("leave me alone", "strong"),
    ("lose", "my", "number"): ("lose my number", "strong"),
    ("do", "not", "text"): ("do not text", "strong"),
    ("do", "not", "txt"): ("do not text", "strong"),
    ("do", "not", "message"): ("do not text", "strong"),
    ("do", "not", "contact"): ("do not contact", "strong"),
    ("darme", "de", "baja"): ("baja", "strong"),
    ("dame", "de", "baja"): ("baja", "strong"),
    ("dar", "de", "baja"): ("baja", "strong"),
    ("de", "baja"): ("baja", "strong"),
    ("no", "me", "escribas"): ("no me escribas", "strong"),
    ("no", "me", "envies"): ("no me envíes", "strong"),
    ("stop",): ("stop", "verb"),
    ("cancel",): ("cancel", "verb"),
    ("cancelar",): ("cancelar", "verb"),
    ("basta",): ("basta", "verb"),
    ("detener",): ("detener", "verb"),
    ("detente",): ("detener", "verb"),
    ("end",): ("end", "common"),
    ("quit",): ("quit", "common"),
    ("remove",): ("remove", "common"),
    ("para",): ("para", "common"),
    ("parar",): ("para", "common"),
    ("pare",): ("para", "common"),
    ("paren",): ("para", "common"),
    ("pares",): ("para", "common"),
    ("alto",): ("alto", "common"),
    ("baja",): ("baja", "common"),
    ("no", "mas"): ("no más", "common"),
    ("no", "more"): ("no more", "common"),
    ("not", "interested"): ("not interested", "review"),
    ("no", "thanks"): ("no thanks", "review"),
    ("no", "thank"): ("no thanks", "review"),
    ("no", "gracias"): ("no gracias", "review"),
    ("no", "me", "interesa"): ("no me interesa", "review"),
    ("no", "interesado"): ("no me interesa", "review"),
    ("no", "interesada"): ("no me interesa", "review"),
    ("wrong", "number"): ("wrong number", "wrong"),
    ("wrong", "person"): ("wrong number", "wrong"),
    ("numero", "equivocado"): ("número equivocado", "wrong"),
}
RESTARTS = {("start",), ("unstop",), ("resume",), ("subscribe",)}
#: Typos of the short stop word that edit distance would not catch safely ("top", "shop").
STOP_TYPOS = frozenset({"stp", "stpo", "sotp", "stopp", "stoop", "sttop", "stopo", "stoo", "sop"})
#: Real words one typo away from a stop word.
NOT_TYPOS = frozenset({"cancer", "camcel", "revolve", "detenet"})

_STOP_CLASSES = ("strong", "verb", "common")
_CLAUSE = re.compile(r"[.,;:!?¡¿\n()\[\]]+|\s[-–—]\s")
_WORD = re.compile(r"[a-z0-9'#]+")


@dataclass(frozen=True)
class Reading:
    """What a reply means: ``stop`` (opt out of every channel), ``wrong_number`` (opt
    out of texts, and a human fixes the number), ``review`` (a human reads it),
    ``restart`` (the person may want texts again: a human checks) or ``none``."""

    outcome: str
    reason: str
    keyword: str | None = None


@dataclass(frozen=True)
class _Mention:
    word: str  # the stop word as written in LEXICON's values
    kind: str
    start: int
    end: int
    clause: int
    negated: bool


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return text.replace("’", "'").replace("‘", "'")  # curly apostrophes


def _squash(word: str) -> str:
    """Runs of three or more of a letter become one: "stooop" is "stop"."""
    return re.sub(r"(.)\1{2,}", r"\1", word)


def _clauses(text: str) -> list[list[str]]:
    clauses = []
    for part in _CLAUSE.split(_plain(text)):
        words: list[str] = []
        for raw in _WORD.findall(part):
            word = _squash(raw.strip("'").replace("'", ""))
            if word == "#":
                word = "number"
            word = word.replace("#", "")
            if not word:
                continue
            words.extend(CONTRACTIONS.get(word, (word,)))
        if words:
            clauses.append(words)
    return clauses


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (edits, with swaps of neighbours)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _is(word: str, target: str) -> bool:
    if word == target:
        return True
    if target == "stop":
        return word in STOP_TYPOS
    if len(target) < 6 or word in NOT_TYPOS or abs(len(word) - len(target)) > 2:
        return False
    return _distance(word, target) <= (2 if len(target) >= 10 else 1)


_PHRASES = sorted(LEXICON, key=len, reverse=True)


def _mentions(clauses: list[list[str]]) -> list[_Mention]:
    found = []
    for c, words in enumerate(clauses):
        i = 0
        while i < len(words):
            for phrase in _PHRASES:
                end = i + len(phrase)
                if end <= len(words) and all(
                    _is(w, p) for w, p in zip(words[i:end], phrase, strict=True)
                ):
                    word, kind = LEXICON[phrase]
                    before = words[max(0, i - 3) : i]
                    negated = any(w in NEGATORS for w in before)
                    found.append(_Mention(word, kind, i, end, c, negated))
                    i = end
                    break
            else:
                i += 1
    return found


def _next(words: list[str], end: int) -> str | None:
    for word in words[end:]:
        if word not in FILLER:
            return word
    return None


def _prev(words: list[str], start: int) -> str | None:
    for word in reversed(words[:start]):
        if word not in FILLER:
            return word
    return None


def read_reply(text: str) -> Reading:
    """What an inbound SMS means for consent (see the module's doc)."""
    clauses = _clauses(text)
    words = [w for clause in clauses for w in clause if w not in FILLER]
    if not words:
        return Reading(NONE, "nothing to read")
    if tuple(dict.fromkeys(words)) in RESTARTS:
        return Reading(RESTART, f"asks to start again ({words[0]!r})", words[0])
    mentions = _mentions(clauses)
    if not mentions:
        return Reading(NONE, "no stop word")
    wrong = [m for m in mentions if m.kind == "wrong" and not m.negated]
    if wrong:
        return Reading(WRONG_NUMBER, "says it is the wrong number", wrong[0].word)
    hedges = sorted({w for w in words if w in HEDGES})
    # The whole reply is a stop word, with only politeness and objects around it.
    covered: set[tuple[int, int]] = set()
    for m in mentions:
        covered.update((m.clause, i) for i in range(m.start, m.end))
    rest = [
        w
        for c, clause in enumerate(clauses)
        for i, w in enumerate(clause)
        if (c, i) not in covered and w not in FILLER
    ]
    stops = [m for m in mentions if m.kind in _STOP_CLASSES and not m.negated]
    if stops and len(mentions) == len(stops) and all(w in OBJECTS for w in rest):
        return Reading(STOP, f"the reply is a stop word ({stops[0].word!r})", stops[0].word)
    meant: list[_Mention] = []  # stop words used to ask for the texts to stop
    partial: list[_Mention] = []  # about one channel, or used another way
    noted: list[_Mention] = []  # a stop word used as another word a human may want to see
    for m in mentions:
        if m.kind == "review" or m.negated:
            continue
        clause = clauses[m.clause]
        after, before = _next(clause, m.end), _prev(clause, m.start)
        if m.kind == "strong":
            meant.append(m)
        elif after in CHANNEL_WORDS:
            partial.append(m)
        elif after is not None and after in PHRASAL.get(m.word, ()):
            continue
        elif after in OBJECTS or (after is None and m.kind == "verb" and before not in DETERMINERS):
            meant.append(m)
        elif m.kind == "verb":
            noted.append(m)
    negated = [m for m in mentions if m.negated and m.kind in _STOP_CLASSES]
    refusals = [m for m in mentions if m.kind == "review" and not m.negated]
    if meant and not hedges and not negated and not partial:
        return Reading(STOP, f"asks to stop ({meant[0].word!r})", meant[0].word)
    if meant or partial or noted or refusals:
        said = (meant + partial + noted + refusals)[0].word
        why = f"says {said!r}"
        if hedges:
            why += f" but also {', '.join(repr(h) for h in hedges)}"
        elif partial:
            why += " about one channel"
        elif negated:
            why += f" and a negated {negated[0].word!r}"
        elif refusals and not (meant or partial or noted):
            why = f"declines ({said!r}) without a stop word"
        else:
            why += " in a sentence that may mean something else"
        return Reading(REVIEW, why, said)
    if negated:
        return Reading(NONE, f"a negated stop word ({negated[0].word!r})")
    return Reading(NONE, "stop words only in another sense")


# --------------------------------------------------------------------------- CRM flags

#: Attributes (as ``attribute_name`` spells them) that mean an opt-out when true, by the
#: channel they opt out of: HubSpot, Salesforce and Bullhorn exports among others.
OPT_OUT_FLAGS: dict[str, str] = {
    **dict.fromkeys(
        (
            "email_opt_out",
            "email_optout",
            "email_opted_out",
            "has_opted_out_of_email",
            "opted_out_of_email",
            "unsubscribed_from_all_email",
            "hs_email_optout",
            "email_unsubscribed",
            "unsubscribed",
            "do_not_email",
            "mass_mail_opt_out",
        ),
        "email",
    ),
    **dict.fromkeys(("do_not_call", "dnc", "phone_opt_out", "call_opt_out"), "phone"),
    **dict.fromkeys(
        (
            "sms_opt_out",
            "sms_optout",
            "sms_opted_out",
            "text_opt_out",
            "do_not_text",
            "has_opted_out_of_sms",
        ),
        "sms",
    ),
    **dict.fromkeys(
        ("opt_out", "opted_out", "do_not_contact", "global_opt_out", "marketing_opt_out"), "all"
    ),
}
_TRUE = frozenset({"true", "yes", "y", "1", "t", "x", "on"})


def _true(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def crm_opt_outs(attributes: Mapping[str, Any]) -> list[tuple[str, str, object]]:
    """The opt-out flags set in a person's attributes: (channel, attribute, value)."""
    found = []
    for name, value in attributes.items():
        channel = OPT_OUT_FLAGS.get(attribute_name(name))
        if channel is not None and _true(value):
            found.append((channel, name, value))
    return found


# ---------------------------------------------------------------------- the engine hook

#: Where an inbound SMS event keeps the text of the message, the first found.
TEXT_PROPERTIES = ("text", "body", "Body", "message", "content")


def reply_text(properties: Mapping[str, Any]) -> str | None:
    for name in TEXT_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, str):
            return value
    return None


class Suppression:
    """Opt-outs recorded in the transaction that brings them in: SMS replies that mean
    stop, ``email.unsubscribe`` events, and CRM opt-out flags among people's attributes.
    Also holds the contact rules (quiet hours, caps) of the engine's workspace."""

    def __init__(self, rules: ContactRules | None = None) -> None:
        self.rules = rules or ContactRules()

    def __call__(self, conn: sa.Connection, result: IngestResult) -> None:
        merges = [c for c in result.domain_events if isinstance(c, PeopleMerged)]
        for merge in merges:
            move_person(conn, merge.merged, merge.kept)
        records: list[ConsentRecord] = []
        flags: list[dict[str, Any]] = []
        stopped: dict[str, set[str]] = {}
        now = result.now
        for row in result.consent_events:
            person, event_id = row["person_id"], row["id"]
            at = epoch(row["occurred_at"])
            if row["type"] == "email.unsubscribe":
                evidence = {"event_id": event_id}
                if row.get("campaign"):
                    evidence["campaign"] = row["campaign"]
                records.append(
                    _opt_out(_key("opt-out", event_id), person, "email", "email", evidence, at, now)
                )
                stopped.setdefault(person, set()).add("email")
                continue
            text = reply_text(row["properties"] or {})
            if text is None:
                continue
            reading = read_reply(text)
            evidence = {"event_id": event_id, "keyword": reading.keyword, "text": text[:500]}
            if reading.outcome == STOP:
                records.append(
                    _opt_out(_key("opt-out", event_id), person, "all", "sms", evidence, at, now)
                )
                stopped.setdefault(person, set()).update(CHANNELS)
            elif reading.outcome == WRONG_NUMBER:
                records.append(
                    _opt_out(_key("opt-out", event_id), person, "sms", "sms", evidence, at, now)
                )
                stopped.setdefault(person, set()).add("sms")
            if reading.outcome in (REVIEW, WRONG_NUMBER, RESTART):
                kind = {REVIEW: "sms_reply", WRONG_NUMBER: "sms_wrong_number"}.get(
                    reading.outcome, "sms_restart"
                )
                flags.append(
                    {
                        "id": _key("review", event_id),
                        "person_id": person,
                        "kind": kind,
                        "text": f"SMS reply {text[:1000]!r}: {reading.reason}",
                        "at": row["occurred_at"],
                        "resolved_at": None,
                        "resolution": None,
                    }
                )
            if reading.outcome != NONE:
                logger.info("SMS reply %s of person %s: %s", event_id, person, reading.reason)
        if result.reattributed:
            for record in self._flags(conn, result.reattributed, now):
                records.append(record)
                stopped.setdefault(record.person_id, set()).update(
                    CHANNELS if record.channel == "all" else (record.channel,)
                )
        if records:
            insert(conn, records)
        if flags:
            Bulk(conn).insert(review_flags, flags, skip_conflicts_on="id")
        if stopped:
            cancel_pending(conn, stopped)

    def _flags(
        self, conn: sa.Connection, attributes: Mapping[str, Mapping[str, Any]], now: float
    ) -> list[ConsentRecord]:
        """Opt-outs for the CRM flags set on these people that the ledger does not say
        already (an opt-out recorded once is not recorded again at every import)."""
        flagged = {p: found for p, a in attributes.items() if (found := crm_opt_outs(a))}
        if not flagged:
            return []
        states = states_of(conn, flagged)
        records = []
        for person, found in flagged.items():
            state = states[person]
            for channel, name, value in found:
                covers = CHANNELS if channel == "all" else (channel,)
                if all(state.status(c) in ("opted_out", "objected") for c in covers):
                    continue
                evidence = {"attribute": name, "value": str(value)}
                records.append(
                    _opt_out(
                        f"import_{uuid.uuid4().hex}", person, channel, "import", evidence, now, now
                    )
                )
        return records


def _key(kind: str, event_id: str) -> str:
    """A ledger or flag id made from an event id (200 characters at most)."""
    key = f"{kind}:{event_id}"
    return (
        key if len(key) <= 200 else f"{kind}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
    )


def _opt_out(
    record_id: str,
    person: str,
    channel: str,
    source: str,
    evidence: Mapping[str, Any],
    at: float,
    now: float,
) -> ConsentRecord:
    clean = {k: v for k, v in evidence.items() if v is not None}
    return ConsentRecord(record_id, person, channel, "opted_out", source, at, now, clean)


def move_person(conn: sa.Connection, merged: str, kept: str) -> None:
    """A merged person's consent and review flags become the kept person's."""
    conn.execute(sa.update(consents).where(consents.c.person_id == merged).values(person_id=kept))
    conn.execute(
        sa.update(review_flags).where(review_flags.c.person_id == merged).values(person_id=kept)
    )


def cancel_pending(conn: sa.Connection, stopped: Mapping[str, set[str]]) -> int:
    """Drop the messages to these people still waiting in the outbox on the channels
    they opted out of: what was queued before the opt-out is not sent after it."""
    dropped = 0
    for person, channels in stopped.items():
        dropped += conn.execute(
            sa.delete(outbox).where(
                outbox.c.person_id == person,
                outbox.c.status == "pending",
                outbox.c.channel.in_(sorted(channels)),
            )
        ).rowcount
    if dropped:
        logger.info("dropped %d queued messages to people who opted out", dropped)
    return dropped


def install(engine: Engine, rules: ContactRules | None = None) -> Suppression:
    """Record opt-outs in every transaction of ``engine`` (once, however often asked);
    ``rules`` (default: the built-in ones) are the workspace's contact rules."""
    found = engine.services.get("consent")
    if isinstance(found, Suppression):
        if rules is not None:
            found.rules = rules
        return found
    hook = Suppression(rules)
    engine.services["consent"] = hook
    engine.within(hook)
    return hook


def contact_rules(engine: Engine) -> ContactRules:
    """The contact rules installed on ``engine``, else the built-in ones."""
    found = engine.services.get("consent")
    return found.rules if isinstance(found, Suppression) else ContactRules()
