"""What every view shares: a live widget for a running kernel, and a static copy for everyone else.

A notebook saved to GitHub or converted with nbconvert has no kernel behind it, so a widget alone would show up
as a blank box or a line of text. Each view therefore hands Jupyter two renderings of itself at once:

    application/vnd.jupyter.widget-view+json   the live widget (JupyterLab and VS Code prefer this one)
    text/html                                  tables as HTML and figures as base64 PNG <img> tags
    text/plain                                 one line, for terminals

The frontend shows the richest one it can. The static copy is taken when the view is displayed: moving a
slider afterwards changes the live widget, not the HTML already saved in the notebook.

Figures are `matplotlib.figure.Figure` objects drawn straight onto an Agg canvas: pyplot never sees them, so
no figure is left open and no global plotting state changes.
"""

import base64
import html
import io

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MIB = 2**20
CATEGORY_COLORS = {  # one colour per memory category, the same in every view
    "weights": "tab:blue",
    "latents": "tab:orange",
    "conditioning": "tab:green",
    "activations": "tab:red",
}
CATEGORIES = tuple(CATEGORY_COLORS)  # the ledger's categories, in stacking order


class View:
    """Base of the widgets: subclasses set `self.widget` and define `static_html()`."""

    widget = None

    def static_html(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """What IPython calls to display the view: the live widget's bundle plus the static HTML."""
        bundle = dict(self.widget._repr_mimebundle_() or {})  # widget-view+json and text/plain
        bundle["text/plain"] = repr(self)
        wanted = lambda mime: (include is None or mime in include) and mime not in (exclude or ())
        if wanted("text/html"):
            bundle["text/html"] = self.static_html()
        return {mime: data for mime, data in bundle.items() if wanted(mime)}


def new_figure(width: float, height: float) -> Figure:
    """A figure pyplot does not know about (nothing to close; freed like any Python object)."""
    return Figure(figsize=(width, height), layout="constrained")


def png_bytes(fig: Figure, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)  # attach a raster canvas (the figure draws onto it; pyplot is not involved)
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_png(fig: Figure, path, dpi: int = 150):
    with open(path, "wb") as f:
        f.write(png_bytes(fig, dpi))
    return path


def img_tag(png: bytes, alt: str) -> str:
    """An <img> that carries its own pixels, so the HTML needs no file next to it."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def heading(title: str, note: str = "") -> str:
    note = f' <span style="color:gray">{html.escape(note)}</span>' if note else ""
    return f"<h4>{html.escape(title)}{note}</h4>"


def path_depth(path: str) -> int:
    """1 for a top-level stage ('denoise'), 2 for 'denoise/step 3', and so on."""
    return path.count("/") + 1


def stages_at(trace, depth: int) -> list:
    """The trace's stages at exactly `depth` (siblings, so their times add up), or all of them for depth 0."""
    return [s for s in trace.stages() if depth == 0 or path_depth(s.path) == depth]


def rows_at(trace, table, depth: int) -> list[dict]:
    """The rows of one of the trace's tables (memory, timings) for the stages at `depth`, without the
    whole-trace row."""
    rows = [r for r in table.rows if r["stage"] != trace.root.path]
    return [r for r in rows if depth == 0 or path_depth(r["stage"]) == depth]


def depth_dropdown(trace, depth: int) -> widgets.Dropdown:
    """A dropdown of stage depths: 'depth 1: top level', 'depth 2', …, 'all stages' (value 0)."""
    deepest = max((path_depth(s.path) for s in trace.stages()), default=1)
    options = [("depth 1: top level", 1), *((f"depth {d}", d) for d in range(2, deepest + 1)), ("all stages", 0)]
    if depth not in [value for _, value in options]:
        raise ValueError(f"depth: got {depth!r}; this trace's stages go 1 to {deepest} deep (0 shows them all).")
    return widgets.Dropdown(options=options, value=depth, description="stages")


class StageTableView(View):
    """A view of one per-stage table of a trace (memory or timings): a depth dropdown, a figure, the table.

    Subclasses set `title` and `alt`, and define `table()` (the full Table), `figure(rows)`, and optionally
    `unavailable()` (a reason the trace has nothing to show, or None).
    """

    title = alt = ""

    def __init__(self, trace, depth: int = 1):
        self.trace = trace
        self.depth = depth_dropdown(trace, depth)
        self.panel = widgets.HTML()
        self.widget = widgets.VBox([self.depth, self.panel])
        self.depth.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    def unavailable(self) -> str | None:
        return None

    def rows(self) -> list[dict]:
        """The table's rows for the stages at the chosen depth."""
        return rows_at(self.trace, self.table(), self.depth.value)

    def refresh(self):
        from ..trace import Table

        rows, reason = self.rows(), self.unavailable()
        if reason:
            self.panel.value = f"<p>{html.escape(reason)}</p>"
        elif not rows:
            self.panel.value = "<p>No stages at this depth: mark some with difflab.trace.stage('name').</p>"
        else:
            table = self.table()
            self.panel.value = (
                img_tag(png_bytes(self.figure(rows)), self.alt) + Table(table.title, table.columns, rows)._repr_html_()
            )

    def static_html(self) -> str:
        return heading(self.title, self.depth.label) + self.panel.value

    def save_png(self, path):
        return save_png(self.figure(self.rows()), path)
