"""docs/design.md's layer table names exactly the packages and modules of ``actorbus/``, in the
levels ``tests/test_layers.py`` enforces (highest row first), and writes down its exceptions."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layers import EXTRA, LEVELS, PKG

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"
#: A table row: an optional level label, then from column 11 the unit paths (comma-separated),
#: then prose; a line whose column 11 is not a path continues the prose of the row above.
_ROW = re.compile(r"^(?P<label>\w+)?\s+(?P<units>actorbus/[\w.]+/?(?:,\s*actorbus/[\w.]+/?)*)")
_COLUMN = 11
_UNIT = re.compile(r"actorbus/([\w.]+?)(?:/|\.py)?(?=,|\s|$)")


def _table() -> str:
    section = DESIGN.read_text(encoding="utf-8").split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```\n(.*?)```", section, re.S)
    assert match, "docs/design.md lost the layer table under ## Layers"
    return match.group(1)


def documented_levels(table: str) -> tuple[list[set[str]], dict[str, str]]:
    """The table's levels, lowest first, and each unit's rows of text (for its exceptions)."""
    levels: list[set[str]] = []
    text: dict[str, str] = {}
    current: list[str] = []
    for line in table.splitlines():
        row = _ROW.match(line) if line[_COLUMN:].startswith("actorbus/") else None
        if row is None:  # prose continuing the row above
            for unit in current:
                text[unit] += "\n" + line
            continue
        units = [_unit(u) for u in re.split(r",\s*", row["units"])]
        if row["label"]:
            levels.append(set())
        levels[-1].update(units)
        current = units
        for unit in units:
            text[unit] = line
    return levels[::-1], text


def _unit(path: str) -> str:
    """``actorbus/_cli/`` → ``_cli``, ``actorbus/__init__.py`` → ``__init__``."""
    match = _UNIT.fullmatch(path)
    assert match, path
    return match.group(1)


def _actual_units() -> set[str]:
    """Every top-level package and module of ``actorbus/`` (what a layer can be)."""
    found = set()
    for entry in PKG.iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            found.add(entry.name)
        elif entry.suffix == ".py":
            found.add(entry.stem)
    return found


def test_the_table_names_every_package_and_module() -> None:
    levels, _ = documented_levels(_table())
    named = set().union(*levels)
    actual = _actual_units()
    assert not actual - named, f"docs/design.md's layer table does not name {actual - named}"
    assert not named - actual, f"docs/design.md's layer table names {named - actual}: gone"


def test_the_table_has_the_levels_the_layer_test_enforces() -> None:
    levels, _ = documented_levels(_table())
    assert levels == LEVELS, (
        "docs/design.md's layer table (lowest first) disagrees with tests/test_layers.py's "
        f"LEVELS:\n  design: {levels}\n  tests:  {LEVELS}"
    )


def test_the_exceptions_are_written_on_their_rows() -> None:
    _, text = documented_levels(_table())
    for importer, imported in EXTRA:
        assert f"actorbus/{imported}" in text[importer], (
            f"the layer table allows {importer} to import {imported} but does not say so on "
            f"{importer}'s row"
        )


def test_the_parser_sees_a_wrong_table() -> None:
    """A table with two units swapped, or one missing, is told apart (the checks can fail)."""
    table = _table()
    levels, _ = documented_levels(table)
    assert levels[0] == {"_version", "_excgroups"} and levels[1] == {"_wire"}
    swapped = table.replace("actorbus/_wire/ ", "actorbus/_tmp_/ ").replace(
        "actorbus/_transport/ ", "actorbus/_wire/ "
    )
    assert documented_levels(swapped)[0] != LEVELS
    assert "_transport" not in set().union(*documented_levels(swapped)[0])
