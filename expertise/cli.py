"""The command-line adapter: parse, call one library function, render, map errors to exit codes.

Heavy modules (pandas, numpy, scikit-learn) are imported inside commands, never here, so that
`expertise --help` stays fast. There is no `from __future__ import annotations` here: typer
reads every command's annotations at each start, and as strings it would evaluate them one by
one (about 15 ms of every run).
"""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core

from expertise.config import __version__
from expertise.errors import ExpertiseError

if TYPE_CHECKING:
    from expertise.knowledge_base import KnowledgeBase
    from expertise.store.db import Store

# One BLAS thread per process, set before numpy loads (a user's own setting wins): the engine's
# dense products are small, training limits BLAS to one thread anyway, and `score --jobs N`
# parallelises by worker processes, so more threads would only cost start-up (OpenBLAS starts
# one per core: about 4% of a one-shot answer) and oversubscribe the cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
class _Command(typer.core.TyperCommand):
    """A command whose usage line names its arguments as words (``INPUT``), not as typer
    writes a required one (``{INPUT}``), and whose usage errors are one line (exit 2), as its
    own are (:func:`_usage`): click's took four (the usage, a hint, a blank, the error)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
                for piece in super().collect_usage_pieces(ctx)]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            # click's UsageError, known by its exit code and message: typer 0.2x raises its
            # own copy of click's exceptions (typer._click, private), older typers click's own
            if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
                raise
            raise _usage(self.usage_message(ctx, exc)) from None

    def usage_message(self, ctx: Any, exc: Any) -> str:
        """The one line that says what is wrong with the command line."""
        return str(exc.format_message()).rstrip(".")


class _TextCommand(_Command):
    """A command whose argument is what a caller said: a text that starts with '-' reads as an
    unknown option, and the usage error says how to pass it (``--`` before it)."""

    def usage_message(self, ctx: Any, exc: Any) -> str:
        # click's NoSuchOption, known by what only it carries
        name = getattr(exc, "option_name", None)
        if not isinstance(name, str) or not hasattr(exc, "possibilities"):
            return super().usage_message(ctx, exc)
        similar: list[str] = list(getattr(exc, "possibilities", None) or [])
        near = f" (did you mean {', '.join(similar)}?)" if similar else ""
        return (f"no such option: {name}{near}; to answer a text that starts with '-', put -- "
                f'before it (and any options before the --): {ctx.command_path} -- '
                '"-my wifi is down"')


kb_app = typer.Typer(help="Inspect and check the knowledge base.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
KbOpt = Annotated[
    Path | None,
    typer.Option("--kb", metavar="FOLDER",
                 help="Knowledge-base folder (default: bundled; $EXPERTISE_KB)."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    from expertise.render import neutralise

    typer.echo(f"Error: {neutralise(message, one_line=True)}", err=True)
    return typer.Exit(code=code)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (sent by `timeout`, systemd, docker, Kubernetes): stopped like Ctrl-C, so the
    same clean-up runs (temporary outputs, worker processes), then exit 143."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`_Terminated` (a KeyboardInterrupt)
    instead of ending the process on the spot, leaving temporary files and orphaned workers.
    Only the main thread can take signals; elsewhere nothing changes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _command(group: typer.Typer, name: str | None = None,
             cls: type[_Command] = _Command) -> Callable[[F], F]:
    """Register a command, its usage naming arguments as words. Library errors become one line
    on stderr and exit code 1; Ctrl-C exit 130 and SIGTERM exit 143, each after the same
    clean-up."""

    def register(func: F) -> F:
        @wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                with _sigterm_as_interrupt():
                    return func(*args, **kwargs)
            except ExpertiseError as exc:
                raise _fail(str(exc)) from None
            except _Terminated:
                raise _fail("terminated (SIGTERM)", code=143) from None
            except KeyboardInterrupt:
                raise _fail("interrupted", code=130) from None

        return group.command(name, cls=cls)(run)  # type: ignore[return-value]

    return register


def _show(json_: bool, result: Any, human: Callable[[Any], None], data: Any = None) -> None:
    """A command's result: with --json, ``data`` (else ``result.to_dict()``) as JSON;
    otherwise ``human(result)``, for people."""
    from expertise import render

    if json_:
        render.print_json(result.to_dict() if data is None else data)
    else:
        human(result)


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


def _kb(kb: Path | None) -> "KnowledgeBase":
    """The knowledge base in --kb, else the bundled one ($EXPERTISE_KB)."""
    from expertise.config import kb_dir
    from expertise.knowledge_base import load_knowledge_base

    return load_knowledge_base(kb if kb is not None else kb_dir())


@_command(kb_app, "list")
def kb_list(kb: KbOpt = None, json_: JsonOpt = False) -> None:
    """List topics with the levels present and their titles.

    Example: expertise kb list --json
    """
    from expertise import render

    base = _kb(kb)
    _show(json_, base, render.kb_list, render.kb_list_data(base))


@_command(kb_app, "show")
def kb_show(
    article_id: Annotated[str, typer.Argument(metavar="ARTICLE",
                                              help="Article id, e.g. wifi-dropping/novice.")],
    kb: KbOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Render one article.

    Example: expertise kb show wifi-dropping/novice
    """
    from expertise import render

    article = _kb(kb).article(article_id)
    _show(json_, article, render.article, render.article_data(article))


@_command(kb_app, "stats")
def kb_stats(kb: KbOpt = None, json_: JsonOpt = False) -> None:
    """How the levels differ: words per sentence and share of technical terms.

    Example: expertise kb stats
    """
    from expertise import render
    from expertise.knowledge_base import level_stats

    stats = level_stats(_kb(kb))
    _show(json_, stats, render.kb_stats, stats)


@_command(kb_app, "lint")
def kb_lint(kb: KbOpt = None, json_: JsonOpt = False) -> None:
    """Check every article; exit 1 on any error, 0 with warnings printed.

    Example: expertise kb lint --kb path/to/knowledge_base
    """
    from expertise import render

    base = _kb(kb)
    _show(json_, base, render.kb_lint, {"errors": [str(p) for p in base.errors],
                                        "warnings": [str(p) for p in base.warnings],
                                        "articles": len(base.articles),
                                        "topics": len(base.topics)})
    if base.errors:
        raise typer.Exit(code=1)


DbOpt = Annotated[
    Path | None,
    typer.Option("--db", metavar="FILE",
                 help="SQLite store (default: $EXPERTISE_DB, else the user data folder)."),
]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", metavar="FOLDER",
                              help="Model bundle folder (default: models/current).")
]
TrustOpt = Annotated[
    bool, typer.Option("--trust", help="Accept a bundle from outside the models folder.")
]
FormatOpt = Annotated[
    str, typer.Option("--format", metavar="FORMAT",
                      help="auto, csv, jsonl, parquet, zendesk or freshdesk.")
]
EncodingOpt = Annotated[
    str, typer.Option("--encoding", metavar="CODEC",
                      help="The export's text encoding, e.g. cp1252 or latin-1 (default: "
                           "auto: UTF-8, or UTF-16/32 by byte-order mark or pattern; a file "
                           "in an 8-bit encoding is refused with the fix).")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", metavar="NEW=OLD",
                 help="Name a column: NEW=OLD, e.g. ticket_id='Case ID' (repeatable)."),
]


def _label(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """Refuse an --agent, --purpose or --customer that is blank, or not one line of plain text
    of at most 200 characters (a usage error, exit 2): such values could hide audit rows."""
    if value is None:
        return value
    from expertise.errors import InputError
    from expertise.store.db import check_label

    what = (param.opts[0] if param.param_type_name == "option" and param.opts
            else str(param.human_readable_name))
    if not value.strip():  # "" would read as no customer in one place, a customer in another
        raise _usage(f"{what} is empty; give a value, or leave {what} out")
    if value in {opt for p in ctx.command.params for opt in (*p.opts, *p.secondary_opts)}:
        # `--customer --json`: the value forgotten, the next option taken for it (an audit row
        # for customer "--json", and no JSON)
        raise _usage(f"{what} needs a value before the next option (it took {value} as one)")
    try:
        return check_label(value, what)
    except InputError as exc:
        raise _usage(str(exc)) from None


def _id(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """An id argument (TICKET): as :func:`_label` checks, and not blank."""
    if not value.strip():
        raise _usage(f"{param.human_readable_name} is empty; give the id")
    return str(_label(ctx, param, value))


def _level(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """A --level value: one of the three levels, else a usage error (exit 2) naming the value,
    before any store is opened or made."""
    from expertise.config import LEVELS

    if value is None or value in LEVELS:
        return value
    raise _usage(f"--level {value!r}: level must be one of {', '.join(LEVELS)}")


def _time(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """A --created-at value: a date or time as the readers take one, else a usage error (exit
    2) naming the value, before a model or store is opened."""
    if value is None:
        return value
    from expertise.tickets.readers import parse_timestamp

    if parse_timestamp(value) is None:
        raise _usage(f"--created-at {value!r}: not a date or time; use ISO-8601, e.g. "
                     "2026-03-01T10:30")
    return value


AgentOpt = Annotated[
    str | None, typer.Option("--agent", metavar="NAME",
                             help="Who is looking (default: your login name).",
                             callback=_label)
]


def _db(db: Path | None, *, required: bool = False, create: bool = False,
        missing_ok: bool = False) -> Path | None:
    """--db, else $EXPERTISE_DB; the default file only when a command needs a store.

    Only the commands that bring data in (``create``: ingest, feedback, retrain) make a
    missing or empty store; the others refuse it (``missing_ok``: a missing file is fine, as
    a dry run does not open it), so that a mistyped path is an error rather than a new, empty
    store that answers "unknown customer". Another program's SQLite file is always refused,
    before anything opens it to write.
    """
    import os

    from expertise.config import ENV_DB, default_db_path
    from expertise.errors import StoreError

    path = db
    if path is None and (os.environ.get(ENV_DB) or required):
        path = default_db_path()
    if path is None:
        return path
    from expertise.store.db import check_store_file

    if not (create or missing_ok) and str(path) != ":memory:" and not path.exists():
        raise StoreError(f"{path}: no store there; check --db (or ${ENV_DB}), or create it by "
                         f"loading tickets: expertise ingest EXPORT --db {path}")
    check_store_file(path, create=create)
    return path


def _training_store(db: Path | None) -> Path | None:
    """The store whose exclusions training follows: --db, else $EXPERTISE_DB, else the
    default store when there is one (training needs no store, but one that holds opt-outs
    and erasures must be heeded)."""
    from expertise.config import default_db_path

    path = _db(db, missing_ok=db is None)  # a missing $EXPERTISE_DB store holds no opt-out
    if path is not None and not path.exists():
        return None
    if path is None and default_db_path().exists():
        path = _db(default_db_path())
    return path


def _store(db: Path | None, *, create: bool = False) -> "Store":
    """The store of a command that needs one (see :func:`_db`)."""
    from expertise.store.db import Store

    path = _db(db, required=True, create=create)
    assert path is not None
    return Store(path, create=create)


def _lookup_store(db: Path | None, customers: bool) -> tuple[Path | None, Path | None]:
    """Where `answer` and `session` look customers up: (the store to open, or None; the
    default file looked for and not there yet, or None).

    --db, $EXPERTISE_DB, else (when customers are asked about) the default file, the one
    `ingest` fills. A path typed or set that is missing is refused as a mistake; the default
    file not there yet only means no store, said by naming where it looked, and the customer
    is answered as anonymous: a live call still gets its answer.
    """
    from expertise.config import ENV_DB

    typed = db is not None or bool(os.environ.get(ENV_DB))
    path = _db(db, required=customers, missing_ok=not typed)
    if typed or path is None or path.exists():
        return path, None
    return None, path


@_command(app, cls=_TextCommand)
def answer(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What the caller said (quote it).")],
    customer: Annotated[str | None, typer.Option("--customer", metavar="ID", help="Customer id.",
                                                 callback=_label)] = None,
    db: DbOpt = None,
    top: Annotated[int, typer.Option("--top", metavar="N",
                                     min=1, max=10, help="Topics to show.")] = 3,
    created_at: Annotated[
        str | None, typer.Option("--created-at", metavar="TIME",
                                 help="Answer as of this time (ISO-8601).", callback=_time)
    ] = None,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    agent: AgentOpt = None,
    purpose: Annotated[str | None, typer.Option("--purpose", metavar="TEXT",
                                                help="Why (audit log).",
                                                callback=_label)] = None,
    product: Annotated[str | None, typer.Option(
        "--product", metavar="NAME",
        help="The product, service or support account the caller is about (e.g. 'Lumen "
             "Mobile'): tilts topics to its area.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Estimate the caller's expertise and show the article written for that level.

    Example: expertise answer "the box with the lights has gone orange" --customer C00042
    """
    from expertise import render
    from expertise.engine import Engine

    path, nowhere = _lookup_store(db, customer is not None)
    with contextlib.closing(Engine(model_dir=model, db_path=path, trust=trust,
                                   looked_for_store=nowhere)) as engine:
        result = engine.answer(text, customer_id=customer, top=top, created_at=created_at,
                               product=product, actor=agent, purpose=purpose)
    _show(json_, result, render.answer)


@_command(app)
def session(
    customer: Annotated[str | None, typer.Option("--customer", metavar="ID", help="Customer id.",
                                                 callback=_label)] = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    agent: AgentOpt = None,
) -> None:
    """Live-call mode: type what the caller says a line at a time; `:help` lists commands.

    Example: expertise session --customer C00042 --db support.db
    """
    from expertise import render
    from expertise.engine import Engine
    from expertise.session import HELP, Session

    if sys.stdin is None:  # started with its input closed (`<&-`, some service managers)
        from expertise.errors import InputError

        raise InputError("the session reads what the caller says from its input, which is "
                         "closed; run it in a terminal, or pipe lines in: expertise session "
                         "< call.txt")
    path, nowhere = _lookup_store(db, True)  # `:customer` can come at any time
    engine = Engine(model_dir=model, db_path=path, trust=trust, looked_for_store=nowhere)
    interactive = sys.stdin.isatty()
    # A byte that is not UTF-8 (a paste from a Latin-1 page, a broken pipe's end) reaches the
    # session as text it replaces, rather than stopping it: strict decoding raised on it
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    with contextlib.ExitStack() as stack, contextlib.closing(engine):
        if interactive:
            stack.enter_context(_line_editing())
        live = Session(engine, agent=agent)
        live.warm_up()
        if interactive:
            render.console.print(HELP, markup=False, highlight=False)
        if customer:
            render.session_event(live.set_customer(customer))
        errors = 0
        try:
            while True:
                try:
                    line = input("caller> " if interactive else "")
                except EOFError:
                    line = ":quit"
                event = live.handle(line)
                render.session_event(event)
                # a script must learn that a line failed; an agent at a terminal has seen it,
                # and only a call that was not kept still needs saying when the session ends
                errors += bool(event.warning) or (event.kind == "error" and not interactive)
                if event.kind == "quit":
                    break
                if line == ":quit":  # the input ended, and ending the call failed: once more
                    render.session_event(live.handle(":quit"))
                    break
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: the call so far is kept as :quit keeps it (its votes with
            # it; its level labels are already stored), then exit 130 or 143
            render.session_event(live.handle(":quit"))
            raise
        except (BrokenPipeError, SystemExit):
            # whatever read the output has gone (`| head`; rich exits 1 then, click on its
            # own writes): the call so far is still kept, with nothing more said, then exit 1
            live.handle(":quit")
            raise
    if errors:
        raise _fail(f"the session had {errors} error{'s' if errors > 1 else ''} (shown above)")


@contextlib.contextmanager
def _line_editing() -> Iterator[None]:
    """Line editing and history for the session in a terminal (the standard library's
    readline, where there is one): arrow keys edit and recall lines. Only `:commands` are kept
    for later sessions (`session.CommandHistory`: what callers say stays out of files)."""
    try:
        import readline
    except ImportError:  # no readline here (Windows): plain input
        yield
        return
    from expertise.config import session_history_path
    from expertise.session import CommandHistory

    history = CommandHistory(session_history_path())
    readline.clear_history()
    for line in history.load():
        readline.add_history(line)
    try:
        yield
    finally:
        typed = [readline.get_history_item(i)
                 for i in range(1, readline.get_current_history_length() + 1)]
        readline.clear_history()
        with contextlib.suppress(OSError):  # a history that cannot be saved is no reason to fail
            history.save(line for line in typed if line)


@_command(app)
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", metavar="FILE",
                     help="Labelled export (repeatable; default: the bundled training split)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FOLDER", help="Models folder.")
    ] = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make the new model current if it passes the "
                                              "promotion gate (not worse than the current one "
                                              "on the fixed evaluation sets).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Train on less data than the minimum, and with "
                                           "--promote promote past the gate; both said loudly.")
    ] = False,
    version: Annotated[
        str | None, typer.Option("--version-name", metavar="NAME", help="Bundle name.")
    ] = None,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip evaluation.")] = False,
    if_changed: Annotated[
        bool,
        typer.Option("--if-changed", help="Do nothing when the current model was trained on "
                                          "this data, knowledge base and code."),
    ] = False,
    encoding: EncodingOpt = "auto",
    map_: MapOpt = None,
    db: Annotated[Path | None, typer.Option(
        "--db", metavar="FILE", dir_okay=False,
        help="Store whose opted-out and erased customers are left out of --data (default: "
             "$EXPERTISE_DB, else the user data folder's store if there is one).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Fit a model bundle on labelled tickets and evaluate it.

    With --promote it becomes current only if it passes the same gate as `retrain`; a refusal
    keeps the bundle, leaves the current model as it is and exits 1. Too little training data
    (under config.MIN_TRAIN_TICKETS, MIN_TRAIN_TOPICS or MIN_LEVEL_TICKETS) is refused. Rows
    of --data that cannot be used are left out, counted, and listed in FILE.rejects.csv next
    to it.

    Example: expertise train --promote
    """
    from expertise import render
    from expertise.lifecycle.train import train_bundle, training_status
    from expertise.tickets.readers import parse_mapping

    _reading_options_need_data(data, encoding, map_)
    mapping = parse_mapping(map_ or []) or None
    if if_changed:
        reasons = training_status(data=data or None, root=out, mapping=mapping,
                                  encoding=encoding)
        if not reasons:
            if json_:
                render.print_json({"version": None, "promoted": False, "up_to_date": True})
            else:
                render.console.print("models up to date: the current model was trained on this "
                                     "data, knowledge base and code")
            return
        if not json_:
            render.err_console.print(f"training: {'; '.join(reasons)}")
    if force and not json_:
        render.err_console.print("WARNING: --force: the training-data minimum is not checked"
                                 + (", and the promotion gate is overridden" if promote else ""),
                                 markup=False)
    report = train_bundle(data=data or None, out_dir=out, promote=promote, force=force,
                          version=version, evaluate=not no_eval, mapping=mapping,
                          encoding=encoding,
                          # the bundled split is made up: only exports hold real customers
                          store_path=_training_store(db) if data else None)
    if json_:
        render.print_json({"version": report.version, "path": str(report.path),
                           "promoted": report.promoted, "decision": report.decision,
                           "reasons": report.reasons, "facts": report.facts,
                           "summary": report.metrics.get("summary", {}),
                           "left_out": report.left_out})
    else:
        for info in report.left_out:
            render.left_out(info)
        render.training_exclusions(report.facts)
        if report.metrics:
            render.evaluation(report.metrics)
        render.console.print(f"saved {report.path} in {report.facts['train_seconds']} s"
                             + (" (now current)" if report.promoted else ""), markup=False)
        if report.decision == "forced":
            render.err_console.print(f"WARNING: {report.reasons[0]}", markup=False)
    if report.decision == "refused":
        from expertise.lifecycle.models import Verdict, refusal_message

        raise _fail(refusal_message(Verdict(report.version, report.current, False,
                                            report.reasons)))


@_command(app)
def evaluate(
    data: Annotated[Path | None, typer.Option("--data", metavar="FILE",
                                              help="Labelled tickets to score.")] = None,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    encoding: EncodingOpt = "auto",
    map_: MapOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Evaluate a model on labelled tickets against two baselines; with --data, check drift.

    Rows that cannot be used are left out, counted, and listed in FILE.rejects.csv next to
    the file; the figures are on the others.

    Example: expertise evaluate --data recent_labelled.csv
    """
    from expertise import render
    from expertise.modeling.evaluate import evaluate_bundle
    from expertise.tickets.readers import parse_mapping

    _reading_options_need_data(data, encoding, map_)
    report = evaluate_bundle(model_dir=model, data=data, trust=trust, encoding=encoding,
                             mapping=parse_mapping(map_ or []) or None)
    _show(json_, report, render.evaluation, report)


# ---- the store: ingest and feedback ------------------------------------------------------------

CustomerOpt = Annotated[str, typer.Option("--customer", metavar="ID",
                                          help="Customer id.", show_default=False,
                                          callback=_label)]
PurposeOpt = Annotated[
    str | None, typer.Option("--purpose", metavar="TEXT",
                             help="Why you are doing this (kept in the audit log).",
                             callback=_label)
]


def _usage(message: str) -> typer.Exit:
    """A usage error: the message on stderr and exit code 2, as for typer's own."""
    return _fail(f"{message} (see --help)", code=2)


def _reading_options_need_data(data: object, encoding: str, map_: list[str] | None) -> None:
    """The library's rule (`check_reading_options`), checked before anything is read or
    trained, as a usage error."""
    from expertise.errors import InputError
    from expertise.tickets.readers import check_reading_options

    try:
        check_reading_options(data, encoding=encoding, mapping=map_)
    except InputError as exc:
        raise _usage(str(exc)) from None


@_command(app)
def ingest(
    input_: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="Ticket export: CSV, JSONL, Parquet, Zendesk JSON "
                                             "or Freshdesk CSV."),
    ],
    db: DbOpt = None,
    format_: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    map_: MapOpt = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", metavar="FILE", help="Where refused rows are listed (default: "
                                       "INPUT.rejects.csv, written only if any)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Load tickets into the store, redacted; loading the same file again adds nothing.

    Example: expertise ingest exports/tickets.csv --db support.db
    """
    from expertise import render
    from expertise.tickets.readers import parse_mapping

    mapping = parse_mapping(map_ or [])
    with _store(db, create=True) as store:
        report = store.ingest_file(input_, format=format_, mapping=mapping or None,
                                   rejects_path=rejects, encoding=encoding)
    _show(json_, report, lambda r: render.ingest(r, store.path),
          render.ingest_data(report, store.path))


@_command(app)
def score(
    input_: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="Ticket export: CSV, JSONL, Parquet, Zendesk JSON "
                                             "or Freshdesk CSV (--engine dask: CSV or Parquet "
                                             "file or folder)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE",
                     help="Output; .csv, .jsonl or .parquet picks the format "
                          "(default: INPUT's name + .scored.<ext>, next to it)."),
    ] = None,
    format_: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    map_: MapOpt = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", metavar="FILE",
                     help="Where refused rows are listed (default: the "
                          "output's name + .rejects.csv, written only if any)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", metavar="N", min=1, max=10,
                                     help="Topics considered for the alternatives.")] = 3,
    jobs: Annotated[int, typer.Option("--jobs", metavar="N", min=1, max=256,
                                      help="Worker processes, each loading the model once.")] = 1,
    engine: Annotated[
        str, typer.Option("--engine", metavar="ENGINE",
                          help="local, or dask (needs `pip install expertise[dask]`).")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address to join (default: a local "
                          "cluster of --jobs workers)."),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", metavar="FILE",
                     help="Also use customers' earlier tickets in this store, honouring "
                          "consent (default: $EXPERTISE_DB if set)."),
    ] = None,
    keep_text: Annotated[
        bool, typer.Option("--keep-text", help="Write the passed-through text columns as they "
                                               "came, personal data included (by default they "
                                               "are redacted like the scored text).")
    ] = False,
    redact: Annotated[
        bool, typer.Option("--redact", hidden=True,
                           help="Redact the passed-through text (the default; kept for old "
                                "scripts).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first bad row (nothing is written).")
    ] = False,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score every ticket of an export: level, confidence, topic, article, reasons.

    Every input column is kept; the scored columns are added. Text columns are written with
    personal data redacted (--keep-text writes them as they came). Bad rows go to the rejects
    file and the run carries on. Writes atomically: an interrupted run leaves no output behind.

    Example: expertise score exports/tickets.csv --jobs 2
    """
    from expertise import render
    from expertise.batch.run import score_file
    from expertise.tickets.readers import parse_mapping

    if keep_text and redact:
        raise _usage("--keep-text and --redact contradict each other; give one")
    if keep_text:
        render.err_console.print("warning: --keep-text writes the text columns with the "
                                 "personal data they hold (names, e-mail addresses, phone "
                                 "numbers...); keep the output as you keep the export",
                                 markup=False, soft_wrap=True)
    mapping = parse_mapping(map_ or [])
    with render.score_progress(None if not json_ else False) as progress:
        report = score_file(input_, out=out, format=format_, mapping=mapping or None,
                            rejects=rejects, top=top, jobs=jobs, engine=engine,
                            scheduler=scheduler, db_path=_db(db), redact=not keep_text,
                            strict=strict, model_dir=model, trust=trust, progress=progress,
                            actor=agent, encoding=encoding)
    _show(json_, report, render.score_summary)


@_command(app)
def feedback(
    ticket_id: Annotated[str, typer.Argument(metavar="TICKET",
                                             help="The ticket (or call id) the article was "
                                                  "served for.", callback=_id)],
    article: Annotated[str, typer.Option("--article", metavar="ARTICLE", help="Article id, e.g. "
                                                         "wifi-dropping/novice.",
                                         show_default=False)],
    helpful: Annotated[bool, typer.Option("--helpful", help="The article helped.")] = False,
    not_helpful: Annotated[
        bool, typer.Option("--not-helpful", help="The article did not help.")
    ] = False,
    level: Annotated[
        str | None,
        typer.Option("--level", metavar="LEVEL",
                     help="The caller's real level: novice, intermediate or expert "
                          "(a training label; pinned for the ticket's customer "
                          "until `expertise pin --clear`).", callback=_level),
    ] = None,
    db: DbOpt = None,
    agent: AgentOpt = None,
    kb: KbOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record whether a served article helped, and optionally correct the caller's level.

    Example: expertise feedback T000123 --article wifi-dropping/novice --not-helpful --level expert
    """
    if helpful == not_helpful:
        raise _usage("give exactly one of --helpful or --not-helpful")
    from expertise import render

    _kb(kb).article(article)  # an unknown or broken article fails here
    with _store(db, create=True) as store:
        data = store.record_feedback(ticket_id, article_id=article, helpful=helpful,
                                     level=level, actor=agent)
    _show(json_, data, render.feedback, data)


@_command(app)
def pin(
    customer: CustomerOpt,
    level: Annotated[
        str | None,
        typer.Option("--level", metavar="LEVEL",
                     help="novice, intermediate or expert: decides this customer's "
                          "answers until cleared.", callback=_level),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the pinned level.")] = False,
    db: DbOpt = None,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Pin a customer's level (an agent's judgement outweighs the evidence), or clear it.

    Example: expertise pin --customer C00042 --level expert --db support.db
    """
    if (level is None) == (not clear):
        raise _usage("give exactly one of --level LEVEL or --clear")
    from expertise import render

    with _store(db) as store:
        previous = store.pin_level(customer, None if clear else level, actor=agent)
    data = {"customer_id": customer, "pinned_level": None if clear else level,
            "previous": previous}
    _show(json_, data, render.pin, data)


# ---- the customer's rights: consent, explain, forget; and the audit log -------------------------


@_command(app)
def consent(
    customer: CustomerOpt,
    opt_out: Annotated[
        bool, typer.Option("--opt-out", help="Stop personalising: no history, no profile, "
                                             "no training.")
    ] = False,
    opt_in: Annotated[
        bool, typer.Option("--opt-in", help="Personalise again (the default for customers).")
    ] = False,
    db: DbOpt = None,
    agent: AgentOpt = None,
    purpose: PurposeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record a customer's choice about personalised answers.

    Example: expertise consent --customer C00042 --opt-out --db support.db
    """
    if opt_out == opt_in:
        raise _usage("give exactly one of --opt-out or --opt-in")
    from expertise import render
    from expertise.rights.consent import set_consent

    with _store(db) as store:
        change = set_consent(store, customer, opted_out=opt_out, actor=agent, purpose=purpose)
    _show(json_, change, render.consent)


@_command(app)
def explain(
    customer: CustomerOpt,
    db: DbOpt = None,
    model: ModelOpt = None,
    trust: TrustOpt = False,
    agent: AgentOpt = None,
    purpose: PurposeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Tell a customer, in plain words, what we use about them and what we worked out.

    Example: expertise explain --customer C00042 --db support.db
    """
    from expertise import render
    from expertise.engine import Engine
    from expertise.rights.disclosure import disclose

    engine = Engine(model_dir=model, db_path=_db(db, required=True), trust=trust)
    with contextlib.closing(engine):
        result = disclose(engine, customer, actor=agent, purpose=purpose)
    _show(json_, result, render.disclosure)


@_command(app)
def forget(
    customer: Annotated[str, typer.Option(
        "--customer", metavar="ID",
        help="Customer id (any id the store holds, even one from before ids were checked).",
        show_default=False)],
    db: DbOpt = None,
    agent: AgentOpt = None,
    wait: Annotated[float | None, typer.Option(
        "--wait", metavar="SECONDS", min=0, max=3600,
        help="Seconds to wait for other programs reading the store before saying the erased "
             "bytes are still on disk (default: 10).")
    ] = None,
    even_if_unknown: Annotated[bool, typer.Option(
        "--even-if-unknown",
        help="Record the erasure even when neither the store nor any model holds the customer "
             "(their tickets are only in an export), so that ingest and retraining leave them "
             "out.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Erase a customer: tickets, feedback and profile; list the models that learned from them.

    The audit log keeps only that an erasure happened. The freed bytes are overwritten in the
    database file; if another program keeps that from happening, the erasure stands but the
    command says so and exits with 1. Files written earlier (score outputs, rejects files) and
    exports are not touched: delete those copies separately. Example:
    expertise forget --customer C00042 --db support.db
    """
    from expertise import render
    from expertise.rights.erasure import forget_customer

    with _store(db) as store:
        erasure = forget_customer(store, customer, actor=agent, purge_wait=wait,
                                  even_if_unknown=even_if_unknown)
    _show(json_, erasure, render.erasure)
    if not erasure.purged:
        raise _fail(erasure.warning or "the erased data could not be overwritten on disk")


@_command(app)
def audit(
    customer: Annotated[
        str | None, typer.Option("--customer", metavar="ID", help="Only rows about this customer.",
                                 callback=_label)
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="TIME",
                                 help="Only rows from this date or time on "
                                      "(ISO-8601, UTC).")
    ] = None,
    db: DbOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show the audit log: who looked up, explained, changed or erased whom, when and why.

    Example: expertise audit --customer C00042 --since 2026-01-01
    """
    from dataclasses import asdict

    from expertise import render

    with _store(db) as store:
        rows = store.audit_rows(customer_id=customer, since=since)
    _show(json_, rows, render.audit, [asdict(r) for r in rows])


# ---- the model lifecycle: models list | promote | rollback | prune; retrain ------------------

models_app = typer.Typer(help="List, promote, roll back and prune model bundles.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
EvalOpt = Annotated[
    list[str] | None,
    typer.Option("--eval", metavar="NAME=FILE",
                 help="A fixed evaluation set to compare on (repeatable; default: the bundled "
                      "ones)."),
]


@_command(models_app, "list")
def models_list(json_: JsonOpt = False) -> None:
    """List the bundles in the models folder ($EXPERTISE_MODELS), marking the current one.

    Example: expertise models list
    """
    from expertise import render
    from expertise.bundles.registry import current_version
    from expertise.lifecycle.models import list_models

    rows = list_models()
    _show(json_, rows, render.models_table, rows)
    current_version()  # a pointer that cannot be read: the bundles are listed, then its error


@_command(models_app, "promote")
def models_promote(
    version: Annotated[str, typer.Argument(metavar="VERSION",
                                           help="The bundle to make current.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate refuses (recorded as "
                                           "forced in the promotions log).")
    ] = False,
    eval_: EvalOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Make a bundle current: its files are verified, then it must pass the same gate as
    `retrain` (scored with the current model on the fixed evaluation sets; no set may lose
    more than 1 point of accuracy, severe misses may not rise). Recorded for rollback.

    Example: expertise models promote 20261129-183000
    """
    from expertise import render
    from expertise.lifecycle.models import promote

    _show(json_, promote(version, force=force, eval_sets=_eval_sets(eval_)), render.model_action)


@_command(models_app, "rollback")
def models_rollback(json_: JsonOpt = False) -> None:
    """Return to the model that was current before the latest promotion.

    Example: expertise models rollback
    """
    from expertise import render
    from expertise.lifecycle.models import rollback

    _show(json_, rollback(), render.model_action)


@_command(models_app, "prune")
def models_prune(
    keep: Annotated[int, typer.Option("--keep", min=0, show_default=False, metavar="N",
                                      help="How many of the newest bundles to keep (the "
                                           "current one, and a bundle that verifies, are "
                                           "always kept as well).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Delete old bundles, keeping the N newest, the current one and a bundle that verifies.

    Example: expertise models prune --keep 3 --dry-run
    """
    from expertise import render
    from expertise.lifecycle.models import prune

    _show(json_, prune(keep, dry_run=dry_run), render.prune)


def _eval_sets(pairs: list[str] | None) -> dict[str, Path] | None:
    """--eval NAME=FILE options as {name: path}; None for the default sets."""
    if not pairs:
        return None
    sets = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise _usage(f"--eval {pair!r}: expected NAME=PATH, e.g. eval_split=recent.csv")
        sets[name.strip()] = Path(path.strip())
    return sets


@_command(app)
def retrain(
    inbox: Annotated[
        Path | None, typer.Option("--inbox", metavar="FOLDER",
                                  help="Folder of new exports (default: data/inbox).")
    ] = None,
    db: DbOpt = None,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", metavar="FILE",
                     help="Labelled export to train on besides the store (repeatable; "
                          "default: the bundled training split)."),
    ] = None,
    eval_: EvalOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be ingested (files, rows, "
                                             "labelled rows, rows of opted-out or erased "
                                             "customers), trained on and compared with; "
                                             "change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Train even if nothing changed.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Ingest new exports and feedback, train a candidate, promote it only if not worse.

    The candidate and the current model are scored on the same fixed evaluation sets; it is
    promoted unless some set loses more than 1 point of accuracy or the severe-miss rate
    rises. Exits 0 whether promoted or refused; --json says which.

    Example: expertise retrain --inbox data/inbox --db support.db
    """
    from expertise import render
    from expertise.lifecycle.retrain import retrain as run_retrain

    sets = _eval_sets(eval_)
    path = _db(db, required=True, create=not dry_run, missing_ok=dry_run)
    report = run_retrain(inbox=inbox, db_path=path,
                         base_data=data or None, eval_sets=sets, dry_run=dry_run, force=force)
    _show(json_, report, render.retrain)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="expertise")


if __name__ == "__main__":  # pragma: no cover
    main()
