"""Show the library's own source in a notebook, with real line numbers, so snippets never go stale.

show_source(DDIMScheduler.step)                               a whole function or class
show_source(DDIMScheduler.step, start="x0 =", end="return")   from the first line containing `start`
                                                              to the next line containing `end`
"""

import html
import inspect
from pathlib import Path


class Snippet:
    """Lines of a source file; shows as numbered text, or highlighted HTML in Jupyter."""

    def __init__(self, path: str, first_line: int, lines: list[str]):
        self.path, self.first_line, self.lines = path, first_line, lines

    def __str__(self):
        width = len(str(self.first_line + len(self.lines)))
        body = [f"{self.first_line + i:>{width}} │ {line}" for i, line in enumerate(self.lines)]
        return "\n".join([f"# {self.path}, lines {self.first_line}–{self.first_line + len(self.lines) - 1}", *body])

    __repr__ = __str__

    def _repr_html_(self):
        code = "\n".join(self.lines)
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer

            formatter = HtmlFormatter(linenos="inline", linenostart=self.first_line, noclasses=True)
            body = highlight(code, PythonLexer(), formatter)
        except ImportError:
            body = f"<pre>{html.escape(str(self))}</pre>"
        last = self.first_line + len(self.lines) - 1
        return f"<div><code>{html.escape(self.path)}</code>, lines {self.first_line}–{last}{body}</div>"


PACKAGE = Path(__file__).resolve().parent  # …/lib/difflab in a checkout, …/site-packages/difflab when installed


def short_path(path: str, package: Path = PACKAGE) -> str:
    """A file of the package as 'lib/difflab/noise.py' (its folder and the one above it), as a learner finds it.

    Measured from the package's own location, not by searching the path for a folder named "difflab": a checkout
    cloned into a folder called difflab has two of them. Files outside the package keep their full path.
    """
    try:
        inside = Path(path).resolve().relative_to(package)
    except ValueError:
        return str(path)
    return Path(package.parent.name, package.name, inside).as_posix()


def cut(lines: list[str], first: int, start: str | None, end: str | None, where: str) -> tuple[int, list[str]]:
    """(first line number, lines) from the first line containing `start` to the next containing `end`."""
    if start is not None:
        hits = [i for i, line in enumerate(lines) if start in line]
        if not hits:
            raise ValueError(f"start: {start!r} does not occur in {where}; pass a substring of one of its lines")
        lines, first = lines[hits[0] :], first + hits[0]
    if end is not None:
        hits = [i for i, line in enumerate(lines) if end in line and (i > 0 or start is None)]
        if not hits:
            raise ValueError(f"end: {end!r} does not occur after start in {where}; pass a substring of a later line")
        lines = lines[: hits[0] + 1]
    return first, lines


def show_source(obj, start: str | None = None, end: str | None = None) -> Snippet:
    """The source of a function, method, class or module, optionally cut from `start` to `end` (substrings)."""
    lines, first = inspect.getsourcelines(obj)
    lines = [line.rstrip("\n") for line in lines]
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))  # a module has no __qualname__
    first, lines = cut(lines, max(first, 1), start, end, f"the source of {name}")
    return Snippet(short_path(inspect.getsourcefile(inspect.unwrap(obj))), first, lines)  # unwrap: @torch.no_grad()
