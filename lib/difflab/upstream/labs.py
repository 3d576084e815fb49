"""Find every upstream reference a lab makes, so a test can check they all still resolve after an upgrade.

A lab cell such as
    from difflab import upstream
    upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step", start="pred_original_sample =")
is parsed (ast), never run; each call with literal arguments is resolved against the pinned upstream files.
"""

import ast
import json
from pathlib import Path

from . import locate

CHECKED = {"source": locate.source}  # functions whose literal arguments name upstream code


def _upstream_names(tree: ast.AST, names: dict[str, str]) -> None:
    """Record how this cell's imports spell difflab.upstream and its functions (names → 'module' or a function)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "difflab":
            for alias in node.names:
                if alias.name == "upstream":
                    names[alias.asname or "upstream"] = "module"
        elif isinstance(node, ast.ImportFrom) and node.module == "difflab.upstream":
            for alias in node.names:
                if alias.name in CHECKED:
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "difflab.upstream" and alias.asname:
                    names[alias.asname] = "module"


def _called_function(func: ast.expr, names: dict[str, str]) -> str | None:
    """'source' when `func` is upstream.source / difflab.upstream.source / an imported source; else None."""
    if isinstance(func, ast.Name) and names.get(func.id, "module") != "module":
        return names[func.id]
    if isinstance(func, ast.Attribute) and func.attr in CHECKED:
        owner = ast.unparse(func.value)
        if owner == "difflab.upstream" or names.get(owner) == "module":
            return func.attr
    return None


def _code_cells(notebook: Path) -> list[tuple[int, str]]:
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    out = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            lines = [line for line in text.splitlines() if not line.lstrip().startswith(("%", "!"))]  # IPython magics
            out.append((i, "\n".join(lines)))
    return out


def references(notebook: Path) -> list[tuple[int, str, tuple, dict]]:
    """(cell index, function name, args, kwargs) of each upstream call with literal arguments in a notebook."""
    names: dict[str, str] = {}
    found = []
    for index, code in _code_cells(notebook):
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # a cell that does not parse is another test's business
        _upstream_names(tree, names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (function := _called_function(node.func, names)):
                try:
                    args = tuple(ast.literal_eval(a) for a in node.args)
                    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
                except ValueError:
                    continue  # built from variables: only the lab's own run can check it
                found.append((index, function, args, kwargs))
    return found


def stale_references(notebook: Path) -> list[str]:
    """One message per upstream reference of the notebook that no longer resolves (an empty list when all do)."""
    problems = []
    for index, function, args, kwargs in references(notebook):
        try:
            CHECKED[function](*args, **kwargs)
        except (LookupError, ValueError, TypeError) as error:
            call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
            problems.append(f"lab {Path(notebook).stem}, cell {index}: {function}({call}) no longer resolves: {error}")
    return problems
