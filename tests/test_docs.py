"""Documentation that cannot drift: every command and option has help, every command the
README shows exists with the options it shows, and every make target it names exists."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer

from expertise.cli import app
from expertise.config import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
ROOT = typer.main.get_command(app)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, group)]
    if hasattr(group, "commands"):  # a group (typer may bundle its own click)
        for name, sub in group.commands.items():
            out += _commands(sub, (*path, name))
    return out


COMMANDS = dict(_commands(ROOT))


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "expertise")
def test_every_command_and_option_has_help(path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    assert (command.help or "").strip(), f"expertise {' '.join(path)} has no help text"
    for param in command.params:
        if param.name in ("help",):
            continue
        text = getattr(param, "help", None) or ""
        assert text.strip(), f"expertise {' '.join(path)}: {param.name} has no help text"


#: A placeholder is a word in capitals (FILE, NAME=PATH, INPUT): not a Python type (<path>,
#: <list[Path]>, <int range>) and not typer's braces for a required argument ({INPUT}).
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(?:=[A-Z][A-Z0-9_]*)?(?:\.\.\.)?")


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "expertise")
def test_every_placeholder_is_a_word(path: tuple[str, ...]) -> None:
    import click

    command = COMMANDS[path]
    ctx = click.Context(command, info_name=" ".join(("expertise", *path)))
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None or getattr(param, "is_flag", False):
            continue
        shown = record[0].split(", ")[-1].split(" ", 1)[-1] if param.param_type_name == \
            "option" else record[0]
        assert PLACEHOLDER.fullmatch(shown), (
            f"expertise {' '.join(path)} {record[0]}: give it a metavar in words, e.g. FILE")
    usage = command.get_usage(ctx)
    assert not re.search(r"[{}<>]", usage), f"{usage!r}: arguments are named as words"


def _readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    lines = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("expertise "):
                lines.append(shlex.split(line))
    return lines


def test_the_readme_shows_commands() -> None:
    assert len(_readme_commands()) >= 15


@pytest.mark.parametrize("words", _readme_commands(), ids=lambda w: " ".join(w)[:60])
def test_every_readme_command_exists_with_its_options(words: list[str]) -> None:
    path: tuple[str, ...] = ()
    rest = words[1:]
    while rest and (*path, rest[0]) in COMMANDS:
        path = (*path, rest[0])
        rest = rest[1:]
    command = COMMANDS[path]
    assert path, f"not a command: {' '.join(words)}"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for word in rest:
        if word.startswith("--"):
            option = word.split("=")[0]
            assert option in known, f"expertise {' '.join(path)} has no option {option}"


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, flags=re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)|^make ([a-z][\w-]*)", README, flags=re.M))
    named = {a or b for a, b in named}
    assert named and named <= targets, f"the README names unknown targets: {named - targets}"
