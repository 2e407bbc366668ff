"""The README and docs/ say what the code does: every `posenet`, `python stages/...` and `python tools/...` command in
their ```bash blocks has that command's --help answer, every long option it uses is in that --help, the Quickstart's
experiment is one of the Experiments section's, the `dvc exp show` line is the one CI checks, and links resolve."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from posenet.commands import main as posenet_main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
# programs the test does not run: other tools' own CLIs, shell builtins, system package managers
SKIPPED = {"dvc", "streamlit", "pip", "git", "npm", "node", "apt-get", "export", "cd", "curl", "wget", "mkdir"}
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)


def bash_commands(path: Path) -> list[list[str]]:
    """The commands of ``path``'s ```bash blocks as argument lists: continuation lines joined, comments dropped,
    `&&` / `;` / `|` chains split."""
    commands = []
    for block in BASH_BLOCK.findall(path.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split, lexer.commenters = True, "#"
            current: list[str] = []
            for token in lexer:
                if set(token) <= set(";&|"):
                    commands.append(current) if current else None
                    current = []
                else:
                    current.append(token)
            if current:
                commands.append(current)
    return commands


def long_options(args: list[str]) -> list[str]:
    return sorted({a.split("=", 1)[0] for a in args if a.startswith("--") and len(a) > 2})


@cache
def posenet_help(subcommand: str) -> str:
    result = CliRunner().invoke(posenet_main, [subcommand, "--help"])
    assert result.exit_code == 0, f"posenet {subcommand} --help: {result.output}"
    return result.output


@cache
def script_help(*args: str) -> str:
    result = subprocess.run([sys.executable, *args, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"python {' '.join(args)} --help: {result.stderr[-2000:]}"
    return result.stdout


def checked_command(args: list[str]) -> tuple[str, str, list[str]] | None:
    """(what to call it, its --help text, the options the command uses), or None for a command not checked here."""
    if args[0] == "torchrun":  # torchrun [its options] script.py [script options]: check the script
        script = next((i for i, a in enumerate(args) if a.endswith(".py")), None)
        assert script is not None, f"torchrun without a script: {args}"
        args = ["python", *args[script:]]
    if args[0] == "python" and args[1:3] == ["-m", "posenet"]:
        args = ["posenet", *args[3:]]
    if args[0] == "posenet":
        sub = args[1] if len(args) > 1 and not args[1].startswith("-") else None
        if sub is None:
            result = CliRunner().invoke(posenet_main, ["--help"])
            assert result.exit_code == 0, result.output
            return "posenet", result.output, long_options(args[1:])
        return f"posenet {sub}", posenet_help(sub), long_options(args[2:])
    if args[0] == "python" and len(args) > 1 and re.match(r"(stages|tools)/\w+\.py$", args[1]):
        text = script_help(args[1])
        rest = args[2:]
        if "Commands:" in text and rest and not rest[0].startswith("-"):  # a group: check the subcommand's help
            return f"python {args[1]} {rest[0]}", script_help(args[1], rest[0]), long_options(rest[1:])
        return f"python {args[1]}", text, long_options(rest)
    if args[0] in SKIPPED or args[0] == "python":  # python -m http.server, python -c ...
        return None
    raise AssertionError(f"a command this test does not know how to check: {' '.join(args)}")


def all_commands() -> list[tuple[str, list[str]]]:
    return [(f"{path.relative_to(REPO)}", args) for path in [README, *DOCS] for args in bash_commands(path)]


def project_commands() -> list[tuple[str, list[str]]]:
    """The commands of this project (``posenet``, ``python stages/...``, ``python tools/...``, under torchrun)."""
    return [(where, args) for where, args in all_commands()
            if args[0] in ("posenet", "torchrun") or (args[0] == "python" and len(args) > 1
                                                      and (args[1].endswith(".py") or args[1:3] == ["-m", "posenet"]))]


def test_the_readme_has_commands_to_check():
    names = {args[0] for _, args in all_commands()}
    assert {"posenet", "dvc", "torchrun", "python"} <= names


def test_every_command_is_checked_or_knowingly_skipped():
    for _, args in all_commands():
        checked_command(args) if args[0] in ("posenet", "torchrun", "python") else None
        assert args[0] in SKIPPED | {"posenet", "torchrun", "python"}, f"unknown program in {' '.join(args)}"


@pytest.mark.parametrize("where, args", project_commands(),
                         ids=lambda v: " ".join(v)[:70] if isinstance(v, list) else v)
def test_each_documented_command_answers_help_with_its_options(where, args):
    checked = checked_command(args)
    assert checked is not None
    name, text, options = checked
    missing = [o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text)]
    assert not missing, f"{where}: `{' '.join(args)}` uses {missing}, which `{name} --help` does not list"


def section(text: str, title: str) -> str:
    """The body of the Markdown section headed ``title`` (any level), up to the next heading of that level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^\1 |\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"README has no section {title!r}"
    return match.group(2)


def test_quickstart_and_experiments_agree():
    text = README.read_text(encoding="utf-8")
    runs = re.compile(r"dvc exp run (-S [^\s#]+(?: -S [^\s#]+)*)")
    quick, experiments = set(runs.findall(section(text, "Quickstart"))), set(runs.findall(section(text, "Experiments")))
    assert quick and quick <= experiments, f"Quickstart runs {quick}, Experiments shows {experiments}"


def test_the_exp_show_line_is_the_one_ci_checks():
    ci = (REPO / ".ci" / "pipeline-smoke").read_text(encoding="utf-8")
    line = re.search(r"^dvc exp show --only-changed .*?(?= --csv)", ci, re.MULTILINE).group(0)
    assert line in README.read_text(encoding="utf-8")


def test_relative_links_resolve():
    broken = []
    for path in [README, *DOCS]:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"[a-z]+:", target) and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
    assert not broken, broken


def test_anchor_links_name_headings():
    def anchors(path: Path) -> set[str]:
        headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}

    broken = []
    for path in [README, *DOCS]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", path.read_text(encoding="utf-8")):
            where = (path.parent / target) if target else path
            if where.suffix == ".md" and anchor not in anchors(where):
                broken.append(f"{path.relative_to(REPO)}: {target}#{anchor}")
    assert not broken, broken


def test_every_set_param_is_a_params_key():
    """`dvc exp run -S key=value` in the README and docs names a key of params.yaml."""
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))

    def exists(dotted: str) -> bool:
        node = params
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    unknown = []
    for where, args in all_commands():
        for flag, value in zip(args, args[1:]):
            if args[:3] == ["dvc", "exp", "run"] and flag == "-S" and not exists(value.split("=", 1)[0]):
                unknown.append(f"{where}: -S {value}")
    assert not unknown, unknown
