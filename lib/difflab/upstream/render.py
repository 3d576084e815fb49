"""How an upstream snippet looks: numbered text in a terminal, highlighted code in Jupyter.

The code sits on its own light panel (its colours are fixed, so pygments' token colours stay readable); the header,
borders and tables around it use JupyterLab's --jp-* variables, so they follow the light or dark theme.
"""

import html

from ..source import Snippet

PANEL = "background:#f6f8fa;color:#1f2328"  # the code panel: pygments' default token colours are made for this
MAPPED = "#fff1a8"  # a line the line map pairs with the other side
ADDED = "#dbeafe"  # an upstream line the caller lists under "what upstream adds"
FRAME = (
    "border:1px solid var(--jp-border-color2,#d0d7de);border-radius:4px;padding:4px 6px;"
    "color:var(--jp-ui-font-color1,inherit);background:var(--jp-layout-color1,transparent)"
)


class UpstreamSnippet(Snippet):
    """Lines of an upstream file, headed 'diffusers 0.42.1 · src/diffusers/…/scheduling_ddim.py, lines a–b'."""

    def __init__(self, title: str, version: str, path: str, first_line: int, lines: list[str], reference: str = ""):
        super().__init__(path, first_line, lines)
        self.title, self.version, self.reference = title, version, reference

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.lines) - 1

    @property
    def header(self) -> str:
        return f"{self.title} {self.version} · {self.path}, lines {self.first_line}–{self.last_line}"

    def __str__(self):
        return "\n".join([f"# {self.header}", *numbered(self.first_line, self.lines)])

    __repr__ = __str__

    def _repr_html_(self):
        return f'<div style="{FRAME}">{html.escape(self.header)}{code_html(self.first_line, self.lines)}</div>'


def header_of(snippet: Snippet) -> str:
    """The one-line header of any snippet: an upstream one names its version, difflab's own its path."""
    if isinstance(snippet, UpstreamSnippet):
        return snippet.header
    return f"difflab · {snippet.path}, lines {snippet.first_line}–{snippet.first_line + len(snippet.lines) - 1}"


def numbered(first: int, lines: list[str], width: int = 0) -> list[str]:
    """'421 │ code' for each line, the numbers right-aligned (to at least `width` digits)."""
    width = max(width, len(str(first + len(lines))))
    return [f"{first + i:>{width}} │ {line}" for i, line in enumerate(lines)]


def code_html(first: int, lines: list[str], marks: dict[int, tuple[str, str]] | None = None) -> str:
    """Highlighted lines in a <pre>; `marks` maps a line number → (gutter label, background colour)."""
    marks = marks or {}
    rows = highlighted_lines(lines)
    width = len(str(first + len(lines)))
    out = []
    for i, row in enumerate(rows):
        number = first + i
        label, colour = marks.get(number, ("", ""))
        background = f"background:{colour};" if colour else ""
        gutter = html.escape(f"{number:>{width}} {label:>2} │ ")
        out.append(f'<span style="display:block;{background}"><span style="color:#6e7781">{gutter}</span>{row}</span>')
    style = f"{PANEL};margin:4px 0 0 0;padding:4px;line-height:1.35;font-size:12px"
    return f'<pre style="{style}">{"".join(out)}</pre>'


def highlighted_lines(lines: list[str]) -> list[str]:
    """Each line as HTML with pygments' inline colours (every span closes on its own line); escaped text without."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return [html.escape(line) for line in lines]
    code = "\n".join(lines) + "\n"
    rows = highlight(code, PythonLexer(stripnl=False), HtmlFormatter(nowrap=True, noclasses=True)).split("\n")
    return rows[: len(lines)] + [""] * (len(lines) - len(rows))
