"""The user documentation, held to the code by tests.

Every command and option of the CLI, every key of the model file, every compliance
guardrail and every documented lint message must be in ``docs/``, and every link between
the pages must resolve. A change to the code that the docs do not follow fails here.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import typer.core
import typer.main
from pydantic import BaseModel

from leadgrade.cli import app
from leadgrade.core import check_model, lint, spec
from leadgrade.workspace import TEMPLATE, read_lists

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: The pydantic models of a model file; a test checks this list against the schema.
SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    spec.ModelSpec,
    spec.FitSpec,
    spec.FitRule,
    spec.Bin,
    spec.Case,
    spec.Operators,
    spec.EngagementSpec,
    spec.EngagementRule,
    spec.Cap,
    spec.Decay,
    spec.Grades,
    spec.FitGrades,
    spec.EngagementGrades,
    spec.Mql,
    spec.MqlWhen,
    spec.AccountsSpec,
    spec.Mqa,
    spec.MqaWhen,
)

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def squeeze(text: str) -> str:
    """``text`` with every run of whitespace made one space (help text wraps)."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------------- CLI

CLI_GROUP = typer.main.get_command(app)
assert isinstance(CLI_GROUP, typer.core.TyperGroup)


def _commands(group: typing.Any, prefix: str = "") -> dict[str, typing.Any]:
    found: dict[str, typing.Any] = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if hasattr(command, "commands"):  # a command group: `leadgrade keys create`, …
            found.update(_commands(command, f"{prefix}{name} "))
    return found


#: Name → the click command object (Typer's, whether click is vendored or not); the
#: commands of a group under "GROUP COMMAND".
COMMANDS: dict[str, typing.Any] = _commands(CLI_GROUP)


def cli_section(name: str) -> str:
    """The part of docs/cli.md under the heading ``## `leadgrade NAME` ``."""
    text = page("cli.md")
    heading = re.search(rf"^## `leadgrade {re.escape(name)}`\s*$", text, re.MULTILINE)
    assert heading is not None, f"docs/cli.md has no section '## `leadgrade {name}`'"
    following = re.search(r"^## ", text[heading.end() :], re.MULTILINE)
    end = heading.end() + following.start() if following else len(text)
    return text[heading.end() : end]


def long_flags(command: typing.Any) -> list[str]:
    return [
        flag
        for param in command.params
        if param.param_type_name == "option"
        for flag in (*param.opts, *param.secondary_opts)
        if flag.startswith("--")
    ]


def test_every_command_is_documented() -> None:
    assert COMMANDS, "the Typer app has no commands"
    text = page("cli.md")
    missing = [name for name in COMMANDS if f"`leadgrade {name}`" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_documented_in_its_command_section(name: str) -> None:
    section = cli_section(name)
    missing = [
        flag
        for flag in long_flags(COMMANDS[name])
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", section)
    ]
    assert not missing, (
        f"options of `leadgrade {name}` missing from its docs/cli.md section: {missing}"
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_help_text_is_quoted_in_its_command_section(name: str) -> None:
    """The section shows ``--help`` as the program prints it: each parameter's help."""
    section = squeeze(cli_section(name))
    missing = [
        param.name
        for param in COMMANDS[name].params
        if (helptext := getattr(param, "help", None)) and squeeze(helptext) not in section
    ]
    assert not missing, (
        f"help text of `leadgrade {name}` parameters {missing} is not in docs/cli.md; "
        f"paste the output of `leadgrade {name} --help`"
    )


def test_every_command_option_was_found() -> None:
    """Guards the two tests above from passing on nothing."""
    flags = {flag for command in COMMANDS.values() for flag in long_flags(command)}
    assert {"--model", "--leads", "--events", "--as-of", "--skip-bad-rows"} <= flags


# -------------------------------------------------------------------------- model file


def nested_models(annotation: object) -> set[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    found: set[type[BaseModel]] = set()
    for argument in typing.get_args(annotation):
        found |= nested_models(argument)
    return found


def reachable_models(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen, todo = set(), [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo.extend(nested_models(field.annotation))
    return seen


def test_the_schema_models_listed_here_are_the_whole_schema() -> None:
    reachable = reachable_models(spec.ModelSpec)
    unlisted = sorted(m.__name__ for m in reachable - set(SCHEMA_MODELS))
    unreachable = sorted(m.__name__ for m in set(SCHEMA_MODELS) - reachable)
    assert not unlisted, f"add to SCHEMA_MODELS (and document their keys): {unlisted}"
    assert not unreachable, f"no longer part of a model file: {unreachable}"


def test_every_model_key_is_documented() -> None:
    text = page("models.md")
    missing = [
        f"{model.__name__}.{field.alias or name}"
        for model in SCHEMA_MODELS
        for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in text
    ]
    assert not missing, f"model file keys missing from docs/models.md (as `key`): {missing}"


def bundled_lists() -> dict[str, tuple[str, ...]]:
    return read_lists(Path(str(TEMPLATE)) / "lists")


def model_examples() -> list[tuple[str, str, str | None]]:
    """(page, YAML text, the console block after it) for every complete model in the docs."""
    examples = []
    for path in sorted(DOCS.glob("*.md")):
        blocks = FENCE.findall(path.read_text(encoding="utf-8"))
        for i, (language, body) in enumerate(blocks):
            if language == "yaml" and body.startswith("audience:"):
                after = blocks[i + 1] if i + 1 < len(blocks) else None
                console = after[1] if after and after[0] == "console" else None
                examples.append((path.name, body, console))
    return examples


def test_the_docs_have_model_examples() -> None:
    pages = {name for name, _, _ in model_examples()}
    assert {"models.md", "compliance.md"} <= pages


@pytest.mark.parametrize(
    ("name", "text", "console"),
    model_examples(),
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(model_examples())],
)
def test_model_examples_load_or_fail_as_shown(name: str, text: str, console: str | None) -> None:
    """A complete model in the docs loads without a problem, unless the console block after
    it shows ``leadgrade lint`` rejecting it: then every problem is shown as printed."""
    invalid = re.search(r"^✗ (\S+): invalid$", console or "", re.MULTILINE)
    source = invalid.group(1) if invalid else "example.yaml"
    model, problems = check_model(text, source, bundled_lists())
    if invalid is None:
        assert model is not None, f"a model example in docs/{name} does not load: {problems}"
        assert not problems, f"a model example in docs/{name} has warnings: {problems}"
        return
    assert console is not None
    assert model is None, f"docs/{name} shows {source} rejected, but it loads"
    unshown = [str(p) for p in problems if str(p) not in console]
    assert not unshown, f"docs/{name} does not show these problems of {source}: {unshown}"


# -------------------------------------------------------------------------- compliance


def test_every_guardrail_is_documented_with_its_terms() -> None:
    text = page("compliance.md")
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2:
            rows[cells[0]] = cells[1]
    assert lint.GUARDRAILS
    missing = [g.name for g in lint.GUARDRAILS if g.name not in rows]
    assert not missing, f"guardrails missing from the table in docs/compliance.md: {missing}"
    for guardrail in lint.GUARDRAILS:
        documented = {
            term.strip().replace(" ", "").replace("_", "")
            for term in rows[guardrail.name].split(",")
        }
        assert documented == guardrail.terms, (
            f"terms of guardrail {guardrail.name!r} in docs/compliance.md: "
            f"missing {sorted(guardrail.terms - documented)}, "
            f"not in the code {sorted(documented - guardrail.terms)}"
        )


# ------------------------------------------------------------------------------- links


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for match in re.finditer(r"^#{1,6} (.+)$", FENCE.sub("", text), re.MULTILINE):
        base = slug(match.group(1))
        count = counts.get(base, 0)
        counts[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """Relative link targets outside code blocks and code spans."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))
    return [t for t in LINK.findall(prose) if not re.match(r"[a-z]+:", t)]


def broken_links(source: Path) -> list[str]:
    broken = []
    for target in links(source.read_text(encoding="utf-8")):
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        if not linked.is_file() or (
            anchor
            and linked.suffix == ".md"
            and anchor not in anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(target)
    return broken


def test_every_docs_page_linked_from_the_readme_exists() -> None:
    readme = ROOT / "README.md"
    to_docs = [t for t in links(readme.read_text(encoding="utf-8")) if t.startswith("docs/")]
    assert to_docs, "README.md links to no page under docs/"
    broken = broken_links(readme)
    assert not broken, f"README.md links to pages that do not exist: {broken}"


def test_every_link_between_docs_pages_resolves() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert {"index.md", "models.md", "scoring.md", "cli.md", "compliance.md"} <= {
        p.name for p in pages
    }
    broken = {p.name: found for p in pages if (found := broken_links(p))}
    assert not broken, f"links in docs/ that do not resolve (file or #anchor): {broken}"


def test_the_index_links_every_page() -> None:
    linked = {t.partition("#")[0] for t in links(page("index.md"))}
    unlinked = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md")
    missing = [name for name in unlinked if name not in linked]
    assert not missing, f"docs/index.md does not link to: {missing}"
