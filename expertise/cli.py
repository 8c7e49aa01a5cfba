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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="expertise")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
