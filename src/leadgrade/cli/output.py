"""Rendering scored leads: a rich table, CSV, JSON Lines, and the A1–D4 grid."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO

from rich.console import Console
from rich.table import Table

from leadgrade.batch.score import ScoredLead
from leadgrade.cli.common import iso
from leadgrade.core import Contribution, Scorecard
from leadgrade.core.explain import apportion
from leadgrade.core.model import ENGAGEMENT_DIGITS, FIT_LETTERS

COLUMNS = ("id", "audience", "fit", "engagement", "score", "grade", "mql", "reasons")


def shown(card: Scorecard) -> list[tuple[Contribution, float]]:
    """Each contribution with its points rounded to cents so that they add up to the shown
    score, which is what a person checking an explanation by hand expects."""
    rounded = apportion([c.points for c in card.contributions])
    return list(zip(card.contributions, rounded, strict=True))


def reason_text(contribution: Contribution, points: float) -> str:
    text = f"{contribution.rule_id} {points:+.2f}"
    if contribution.events > 1:
        text += f" ({contribution.events} events)"
    return text


def top_reasons(card: Scorecard, count: int) -> list[str]:
    ranked = [(c, p) for c, p in shown(card) if not c.clip and p]
    ranked.sort(key=lambda cp: -abs(cp[1]))
    return [reason_text(c, p) for c, p in ranked[:count]]


def _parts(card: Scorecard) -> tuple[float, float, float]:
    """Fit, engagement and score as shown (cents), consistent with the shown explanation."""
    pairs = shown(card)
    fit = round(sum(p for c, p in pairs if c.kind == "fit"), 2)
    score = round(sum(p for _, p in pairs), 2)
    return fit, round(score - fit, 2), score


def record(lead: ScoredLead, reasons: int) -> dict[str, object]:
    card = lead.card
    fit, engagement, score = _parts(card)
    return {
        "id": lead.lead_id,
        "audience": card.audience,
        "fit": fit,
        "engagement": engagement,
        "score": score,
        "grade": card.grade,
        "mql": card.mql,
        "reasons": top_reasons(card, reasons),
    }


def write_csv(leads: Iterable[ScoredLead], handle: IO[str], reasons: int) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    for lead in leads:
        row = record(lead, reasons)
        row["mql"] = "true" if row["mql"] else "false"
        row["reasons"] = "; ".join(row["reasons"])  # type: ignore[arg-type]
        writer.writerow(row[c] for c in COLUMNS)


def write_jsonl(leads: Iterable[ScoredLead], handle: IO[str], reasons: int) -> None:
    for lead in leads:
        row = record(lead, reasons)
        row["as_of"] = iso(lead.card.at)
        row["explanation"] = [
            {
                "rule": c.rule_id,
                "kind": c.kind,
                "clip": c.clip,
                "points": p,
                "reason": c.reason,
                "description": c.description,
                "events": c.events,
                "event_ids": list(c.event_ids),
            }
            for c, p in shown(lead.card)
        ]
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def leads_table(leads: Sequence[ScoredLead], reasons: int, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (("lead", "left"), ("fit", "right"), ("engagement", "right"),
                          ("score", "right"), ("grade", "center"), ("MQL", "center"),
                          ("top reasons", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for lead in leads:
        row = record(lead, reasons)
        table.add_row(
            lead.lead_id,
            f"{row['fit']:.2f}",
            f"{row['engagement']:.2f}",
            f"[bold]{row['score']:.2f}[/]",
            str(row["grade"]),
            "[green]yes[/]" if row["mql"] else "",
            ", ".join(row["reasons"]),  # type: ignore[arg-type]
        )
    return table


def grade_grid(leads: Sequence[ScoredLead], title: str | None = None) -> Table:
    """The 4×4 A1–D4 grid: leads per cell, and how many of them are MQLs."""
    count = Counter(lead.card.grade for lead in leads)
    mqls = Counter(lead.card.grade for lead in leads if lead.card.mql)
    table = Table(title=title, title_justify="left", header_style="bold", show_lines=True)
    table.add_column("fit \\ engagement", justify="center")
    for digit in ENGAGEMENT_DIGITS:
        table.add_column(digit, justify="right")
    table.add_column("all", justify="right")
    for letter in FIT_LETTERS:
        cells = []
        for digit in ENGAGEMENT_DIGITS:
            grade = letter + digit
            n, m = count[grade], mqls[grade]
            cells.append(f"{n}" + (f"\n[green]{m} MQL[/]" if m else "") if n else "[dim]·[/]")
        total = sum(count[letter + d] for d in ENGAGEMENT_DIGITS)
        table.add_row(f"[bold]{letter}[/]", *cells, str(total))
    totals = [str(sum(count[letter + d] for letter in FIT_LETTERS)) for d in ENGAGEMENT_DIGITS]
    table.add_row("all", *totals, f"{len(leads)}\n[green]{sum(mqls.values())} MQL[/]")
    return table


def print_table(
    console: Console, leads: Sequence[ScoredLead], reasons: int, limit: int | None = None
) -> None:
    ranked = sorted(leads, key=lambda lead: -lead.card.score)
    shown_leads = ranked if limit is None else ranked[:limit]
    audience = leads[0].card.audience if leads else ""
    title = f"{audience} leads by score" + (
        f" (top {len(shown_leads)} of {len(leads)})" if len(shown_leads) < len(leads) else ""
    )
    console.print(leads_table(shown_leads, reasons, title))
    console.print(grade_grid(leads, f"{audience}: leads per grade (A–D fit × 1–4 engagement)"))
