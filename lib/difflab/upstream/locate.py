"""Find a definition in an upstream file by its dotted name, by parsing the file (ast), never by line number.

upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")
    └ source ┘└──────── module: a file ─────────┘└── names inside it ──┘

A name that stops resolving after an upgrade fails loudly, naming the nearest names that do exist.
"""

import ast
import difflib
from functools import cache

from ..source import cut
from .render import UpstreamSnippet
from .sources import get_source, module_files, read_lines


def definitions(tree: ast.Module) -> dict[str, tuple[int, int]]:
    """Every function, class, method (nested ones too) and assigned name of a module → its (first, last) line.

    The first line includes the decorators; a function's local variables are not names of the module. Statements
    under a module-level `if`/`try`/`with` count as the module's own (diffusers guards imports that way). A name
    defined twice keeps its first definition (a property's getter, not its setter).
    """
    found: dict[str, tuple[int, int]] = {}

    def visit(body, prefix, in_function=False):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                found.setdefault(prefix + node.name, (first, node.end_lineno))
                is_function = in_function or not isinstance(node, ast.ClassDef)
                visit(node.body, prefix + node.name + ".", is_function)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and not in_function:  # a function's locals: no
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(prefix + target.id, (node.lineno, node.end_lineno))
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in ("body", "orelse", "handlers", "finalbody"):
                    for part in getattr(node, block, []):
                        visit(part.body if isinstance(part, ast.ExceptHandler) else [part], prefix, in_function)

    visit(tree.body, "")
    return found


@cache
def _definitions_of(distribution: str, path: str) -> dict[str, tuple[int, int]]:
    return definitions(ast.parse("\n".join(read_lines(distribution, path)), filename=path))


def split_reference(reference: str) -> tuple[str, str, str]:
    """'diffusers.schedulers.scheduling_ddim.DDIMScheduler.step' → (source, module path, 'DDIMScheduler.step').

    The module is the longest prefix of the reference that names a file of the distribution.
    """
    if not isinstance(reference, str) or not reference:
        raise ValueError(
            f"reference: expected a dotted name like 'diffusers.models.attention.Attention', got {reference!r}"
        )
    source = get_source(reference.split(".")[0])
    modules = module_files(source.distribution)
    parts = reference.split(".")
    for n in range(len(parts), 0, -1):
        module = ".".join(parts[:n])
        if module in modules:
            return source.name, modules[module], ".".join(parts[n:])
    raise LookupError(f"reference: {reference!r} names no module of {source.distribution}")  # the package is one


def source(reference: str, start: str | None = None, end: str | None = None) -> UpstreamSnippet:
    """The upstream source of a function, method, class, assigned name or whole module, by dotted name.

    source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")
    source("diffsynth.diffusion.flow_match.FlowMatchScheduler.step", start="sigma =", end="return")
    `start`/`end` cut the lines from the first one containing `start` to the next one containing `end`.
    """
    name, path, qualname = split_reference(reference)
    src = get_source(name)
    lines = read_lines(src.distribution, path)
    if qualname == "":
        first, last = 1, len(lines)
    else:
        found = _definitions_of(src.distribution, path)
        if qualname not in found:
            module = reference[: -len(qualname) - 1]
            near = difflib.get_close_matches(reference, [f"{module}.{n}" for n in found], n=5, cutoff=0.6)
            first_part = f"{module}.{qualname.split('.')[0]}"  # perhaps a misspelt module, not a misspelt name
            if qualname.split(".")[0] not in found:
                near += difflib.get_close_matches(first_part, list(module_files(src.distribution)), n=3, cutoff=0.8)
            raise LookupError(
                f"reference: {qualname!r} is not defined in {src.title} {src.version} · {src.repo_prefix}{path} "
                f"(looked up {reference!r}); nearest that exist: {near or 'none'}; fix the reference in the lab"
            )
        first, last = found[qualname]
    body = list(lines[first - 1 : last])
    first, body = cut(body, first, start, end, where=f"{reference} ({src.repo_prefix}{path})")
    return UpstreamSnippet(src.title, src.version, src.repo_prefix + path, first, body, reference)
