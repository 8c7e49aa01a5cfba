"""The command-line adapter: parse, call one library function, render, map errors to exit codes.

Heavy modules (pandas, numpy, scikit-learn) are imported inside commands, never here, so that
`expertise --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from expertise import __version__
from expertise.errors import ExpertiseError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="expertise",
    help="Answer support tickets at the caller's level of technical expertise.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
kb_app = typer.Typer(help="Inspect and check the knowledge base.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
KbOpt = Annotated[
    Path | None, typer.Option("--kb", help="Knowledge-base folder (default: bundled; $EXPERTISE_KB).")
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=code)


def handle_errors(func: F) -> F:
    """Turn library errors into one line on stderr and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ExpertiseError as exc:
            raise _fail(str(exc)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"expertise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Answer support tickets at the caller's level of technical expertise."""


def _kb_root(kb: Path | None) -> Path:
    from expertise.config import kb_dir

    return kb if kb is not None else kb_dir()


@kb_app.command("list")
@handle_errors
def kb_list(kb: KbOpt = None, json_: JsonOpt = False) -> None:
    """List topics with the levels present and their titles.

    Example: expertise kb list --json
    """
    from expertise import render
    from expertise.knowledge_base import load_knowledge_base

    base = load_knowledge_base(_kb_root(kb))
    if json_:
        render.print_json(render.kb_list_data(base))
    else:
        render.kb_list(base)


@kb_app.command("show")
@handle_errors
def kb_show(
    article_id: Annotated[str, typer.Argument(help="Article id, e.g. wifi-dropping/novice.")],
    kb: KbOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Render one article.

    Example: expertise kb show wifi-dropping/novice
    """
    from expertise import render
    from expertise.knowledge_base import load_knowledge_base

    article = load_knowledge_base(_kb_root(kb)).article(article_id)
    if json_:
        render.print_json(render.article_data(article))
    else:
        render.article(article)


@kb_app.command("lint")
@handle_errors
def kb_lint(kb: KbOpt = None, json_: JsonOpt = False) -> None:
    """Check every article; exit 1 on any error, 0 with warnings printed.

    Example: expertise kb lint --kb path/to/knowledge_base
    """
    from expertise import render
    from expertise.knowledge_base import load_knowledge_base

    base = load_knowledge_base(_kb_root(kb))
    if json_:
        render.print_json({"errors": [str(p) for p in base.errors],
                           "warnings": [str(p) for p in base.warnings],
                           "articles": len(base.articles), "topics": len(base.topics)})
    else:
        render.kb_lint(base)
    if base.errors:
        raise typer.Exit(code=1)


DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="SQLite store (default: $EXPERTISE_DB, else the user data folder)."),
]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="Model bundle folder (default: models/current).")
]
TrustOpt = Annotated[
    bool, typer.Option("--trust", help="Accept a bundle from outside the models folder.")
]
AgentOpt = Annotated[
    str | None, typer.Option("--agent", help="Who is looking (default: your login name).")
]


def _db(db: Path | None, *, required: bool = False) -> Path | None:
    """--db, else $EXPERTISE_DB; the default file only when a command needs a store."""
    import os

    from expertise.config import ENV_DB, default_db_path

    if db is not None:
        return db
    if os.environ.get(ENV_DB) or required:
        return default_db_path()
    return None


@app.command()
@handle_errors
def answer(
    text: Annotated[str, typer.Argument(help="What the caller said (quote it).")],
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    db: DbOpt = None,
    top: Annotated[int, typer.Option("--top", min=1, max=10, help="Topics to show.")] = 3,
    created_at: Annotated[
        str | None, typer.Option("--created-at", help="Answer as of this time (ISO-8601).")
    ] = None,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    agent: AgentOpt = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Why (audit log).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Estimate the caller's expertise and show the article written for that level.

    Example: expertise answer "the box with the lights has gone orange" --customer C00042
    """
    from expertise.engine import Engine

    engine = Engine(model_dir=model, db_path=_db(db), trust=trust)
    try:
        result = engine.answer(text, customer_id=customer, top=top, created_at=created_at,
                               actor=agent, purpose=purpose)
    finally:
        engine.close()
    from expertise import render

    if json_:
        render.print_json(result.to_dict())
    else:
        render.answer(result)


@app.command()
@handle_errors
def train(
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Labelled export(s) (default: bundled).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Models folder.")] = None,
    promote: Annotated[bool, typer.Option("--promote", help="Make the new model current.")] = False,
    version: Annotated[str | None, typer.Option("--version-name", help="Bundle name.")] = None,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip evaluation.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Fit a model bundle on labelled tickets and evaluate it.

    Example: expertise train --promote
    """
    from expertise import render
    from expertise.training import train_bundle

    report = train_bundle(data=data or None, out_dir=out, promote=promote, version=version,
                          evaluate=not no_eval)
    if json_:
        render.print_json({"version": report.version, "path": str(report.path),
                           "promoted": report.promoted, "facts": report.facts,
                           "summary": report.metrics.get("summary", {})})
        return
    render.evaluation(report.metrics)
    render.console.print(f"saved {report.path} in {report.facts['train_seconds']} s"
                         + (" (now current)" if report.promoted else ""))


@app.command()
@handle_errors
def evaluate(
    data: Annotated[Path | None, typer.Option("--data", help="Labelled tickets to score.")] = None,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Evaluate a model on labelled tickets against two baselines; with --data, check drift.

    Example: expertise evaluate --data recent_labelled.csv
    """
    from expertise import render
    from expertise.evaluation import evaluate_bundle

    report = evaluate_bundle(model_dir=model, data=data, trust=trust)
    if json_:
        render.print_json(report)
        return
    render.evaluation(report)
    if "drift" in report:
        render.console.print(f"drift: {report['drift']['recommendation']}")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="expertise")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
