"""The code-shape figures of issue 12, measured the same way before and after.

    python scripts/code_shape.py            # from the repository's root

Prints, for the production packages (bot, care, flows, scheduler, store, sandbox):
functions longer than 50 lines, functions with 7 or more parameters (self/cls not
counted), `commit()` call sites per module and outside care/ and store/, and outbox
state assignments outside store/outbox.py. The `duplicates` command gives the pairs.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

PACKAGES = ("bot", "care", "flows", "scheduler", "store", "sandbox")


def _files(root: Path) -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py"))


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return len([n for n in names if n not in ("self", "cls")])


def main(root: Path) -> None:
    long_functions, many_params, commits, state_moves = [], [], Counter[str](), []
    for path in _files(root):
        rel = str(path.relative_to(root))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    long_functions.append(f"{rel}:{node.lineno} {node.name} ({length} lines)")
                if _params(node) >= 7:
                    many_params.append(f"{rel}:{node.lineno} {node.name} ({_params(node)})")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "commit":
                    commits[rel] += 1
                # update(OutboxMessage).values(state=OutboxState.…) outside store/outbox.py
                elif node.func.attr == "values" and rel != "store/outbox.py":
                    for kw in node.keywords:
                        if kw.arg == "state" and "OutboxState" in ast.unparse(kw.value):
                            state_moves.append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.Assign) and rel != "store/outbox.py":
                # row.state = OutboxState.…, also inside a tuple assignment
                for target in node.targets:
                    names = target.elts if isinstance(target, ast.Tuple) else [target]
                    values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                    for name, value in zip(names, values, strict=False):
                        if (
                            isinstance(name, ast.Attribute)
                            and name.attr == "state"
                            and "OutboxState" in ast.unparse(value)
                        ):
                            state_moves.append(f"{rel}:{node.lineno}")
    outside = {m: n for m, n in commits.items() if not m.startswith(("care/", "store/"))}
    print(f"functions over 50 lines: {len(long_functions)}")
    print(f"functions with 7 or more parameters: {len(many_params)}")
    print(f"commit() call sites: {sum(commits.values())} in {len(commits)} modules")
    print(f"commit() call sites outside care/ and store/: {sum(outside.values())} {outside}")
    print(f"outbox state assignments outside store/outbox.py: {len(state_moves)} {state_moves}")
    if "-v" in sys.argv:
        print("\n".join(["", *long_functions, "", *many_params, "", *map(str, commits.items())]))


if __name__ == "__main__":
    main(Path.cwd())
