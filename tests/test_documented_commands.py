"""Every override the documentation shows is accepted as written.

The command lines ``python train.py ...`` (and eval.py, infer.py, export.py, stats.py, preprocess.py)
are read from the README, docs/*.md, data/README.md, the configs' comments and every docstring or
message of the code, and each is composed with Hydra's compose API against its entry point's config.

Read as written, with these exclusions and readings (the shell's or the documentation's, not Hydra's):
- a trailing ``\\`` continues the command on the next line; ``# ...`` ends it;
- ``[key=value]`` is an optional override (composed); words without ``=`` (``[group=option ...]``,
  ``...``, ``-m``) are usage prose or flags, not overrides;
- ``-m`` sweeps (``a,b,c``) compose once per value, and the shell's ``key={a,b}`` once per choice;
- placeholder values (``PATH``, ``...``) are plain strings to compose, so they stay; a ``<time>`` inside a
  value becomes a word (Hydra's grammar has no ``<``), and an override whose whole value is one
  (``model=<name>``) names no option, so it is left out.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tests.conftest import CONF, REPO

ENTRY_POINTS = {"train.py": "train", "eval.py": "eval", "infer.py": "infer", "export.py": "export",
                "stats.py": "stats", "preprocess.py": "preprocess"}
COMMAND = re.compile(r"python (train|eval|infer|export|stats|preprocess)\.py\b")


def _documents() -> list[Path]:
    paths = [REPO / "README.md", REPO / "data" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    paths += sorted(CONF.rglob("*.yaml")) + sorted((REPO / "src").rglob("*.py")) + sorted(REPO.glob("*.py"))
    return [p for p in paths if p.is_file()]


def documented_commands() -> list[tuple[str, str, str]]:
    """(where, entry point, the command's arguments) for every command line in the documentation."""
    found = []
    for path in _documents():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            match = COMMAND.search(line)
            if not match:
                continue
            text = line[match.end():]
            following = number + 1
            while text.rstrip().endswith("\\") and following < len(lines):  # continued on the next line
                text = text.rstrip()[:-1] + " " + lines[following].lstrip(" #")
                following += 1
            found.append((f"{path.relative_to(REPO)}:{number + 1}", f"{match.group(1)}.py", text))
    return found


def _arguments(text: str) -> list[str]:
    """The shell words of a command line up to its comment (or the end of a code span or string)."""
    text = re.split(r"\s#|`|\"\)$", text)[0]
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote: the line is a message's fragment; its words up to the quote
        return shlex.split(text.split("'")[0].split('"')[0])


def override_sets(text: str) -> list[list[str]]:
    """The override lists one documented command stands for (one per sweep value or shell choice)."""
    words = _arguments(text)
    sweep = "-m" in words or "--multirun" in words
    overrides = []
    for word in words:
        if word.startswith("[") and word.endswith("]") and "=" in word and not word.startswith("[group"):
            word = word[1:-1]  # an optional override
        if "=" not in word or word.startswith(("-", "[")) or word.endswith("]") and "[" not in word:
            continue
        key, value = word.split("=", 1)
        if re.fullmatch(r"<[^>]*>", value):
            continue  # model=<name>: the reader picks one
        overrides.append(f"{key}={re.sub(r'<[^>]*>', 'PLACEHOLDER', value)}")
    sets = [overrides]
    for i, override in enumerate(overrides):
        key, value = override.split("=", 1)
        if re.fullmatch(r"\{[\w.,]+\}", value):  # the shell's brace expansion: one command per choice
            choices = value[1:-1].split(",")
        elif sweep and "," in value and not value.startswith(("[", "{", "'", '"')):
            choices = value.split(",")
        else:
            continue
        sets = [s[:i] + [f"{key}={choice}"] + s[i + 1:] for s in sets[:1] for choice in choices]
    return sets


COMMANDS = documented_commands()


def test_the_documentation_is_read():
    """The reader finds the commands it is there for (so that the test below checks something)."""
    where = {w.split(":")[0] for w, _, _ in COMMANDS}
    assert {"README.md", "eval.py", "conf/eval.yaml", "conf/experiment/distill_born_again_lrw.yaml"} <= where
    texts = [t for _, script, t in COMMANDS if script == "eval.py"]
    assert any("data.root=" in t and "+data.root" not in t for t in texts)
    assert override_sets("-m model/backend=tcn,mstcn seed=1 [split=val]") == [
        ["model/backend=tcn", "seed=1", "split=val"], ["model/backend=mstcn", "seed=1", "split=val"]]


@pytest.mark.parametrize("where, script, text", COMMANDS, ids=[f"{w}" for w, _, _ in COMMANDS])
def test_every_documented_override_is_accepted_as_written(where, script, text):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        for overrides in override_sets(text):
            try:
                compose(ENTRY_POINTS[script], overrides=overrides, return_hydra_config=True)
            except Exception as e:  # noqa: BLE001 - report which documented command failed, and how
                pytest.fail(f"{where}: python {script} {' '.join(overrides)}\n{type(e).__name__}: {e}")


def test_the_readmes_table_of_config_groups_lists_every_option():
    """The README's table names every option of each config group it lists (and no option that does not exist)."""
    import re

    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z/_]+)` \| (.*) \| [^|]*\|$",
                                                        (REPO / "README.md").read_text(), re.MULTILINE)}
    assert {"data", "model", "model/frontend", "model/backend", "task", "trainer", "experiment"} <= set(rows)
    for group, text in rows.items():
        options = {p.stem for p in (REPO / "conf" / group).glob("*.yaml")}
        named = set(re.findall(r"`([A-Za-z0-9_.]+)`", text))
        assert options <= named, f"README's `{group}` row lacks {sorted(options - named)}"
        assert named - options <= {"time_budget", "EMAWeightAveraging"}, f"README's `{group}` row names {sorted(named - options)}"
