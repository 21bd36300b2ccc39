"""Invariant 9, one owner for each change of state: the operations in care/ and store/ are
the units of work and commit; the edges (bot/, scheduler/, sandbox/, and flows/, which does
no I/O at all) call them. A handler or a job that commits on its own splits a change that
must land whole (a check-in's state and its outbox row) or hides a write no operation
answers for. No module outside care/ and store/ may end a transaction: there is no
allow-list to add one to."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The packages that own transactions; every other package of the project is an edge.
OWNERS = frozenset({"care", "store"})


def edge_packages() -> list[Path]:
    """Every top-level package of the project but the owners and the tests — a package
    added later is scanned without anyone remembering to list it."""
    return sorted(
        p.parent
        for p in ROOT.glob("*/__init__.py")
        if p.parent.name not in OWNERS and p.parent.name != "tests"
    )


def transaction_calls(source: str, name: str) -> list[str]:
    """`….commit()` and `….rollback()` calls in one module's source, as "name:line call"."""
    return [
        f"{name}:{node.lineno} {node.func.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
    ]


def calls_in(path: Path) -> list[str]:
    return transaction_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def test_nothing_outside_care_and_store_ends_a_transaction() -> None:
    found = [
        call
        for package in edge_packages()
        for path in sorted(package.rglob("*.py"))
        for call in calls_in(path)
    ]
    assert found == []


def test_the_scan_covers_every_edge() -> None:
    """The edges the design names are all scanned (a glob that matched nothing would pass)."""
    names = {p.name for p in edge_packages()}
    assert {"bot", "scheduler", "sandbox", "flows"} <= names
    assert not names & OWNERS


def test_the_check_finds_a_commit() -> None:
    """The scan sees a commit or a rollback wherever it stands, here one added to an edge
    module (a check that finds nothing tests nothing)."""
    assert calls_in(ROOT / "care" / "controls.py")
    clock = (ROOT / "scheduler" / "clock.py").read_text(encoding="utf-8")
    assert transaction_calls(clock, "clock") == []
    planted = clock + "\n\nasync def f(db):\n    await db.commit()\n    db.sync.rollback()\n"
    assert sorted(c.split(" ")[1] for c in transaction_calls(planted, "clock")) == [
        "commit",
        "rollback",
    ]
