"""What every view shares: a live widget for a running kernel, and a static copy for everyone else.

A notebook saved to GitHub, converted with nbconvert, or reopened in JupyterLab after its kernel is gone has no
widget behind it: the live widget alone would show up as a line of text or as "Error displaying widget: model
not found". Each view therefore displays two outputs, one after the other:

    1. the live widget   application/vnd.jupyter.widget-view+json, and text/plain (one line, for terminals)
    2. its static copy   text/html: tables as HTML, figures as base64 PNG <img> tags, and a <style> block

The static copy is taken when the view is displayed: moving a slider afterwards changes the live widget, not
the HTML already saved in the notebook.

Why two outputs, and what the <style> block does. In one output, JupyterLab would always pick the widget mime
type (its renderer ranks first), so after a reopen the HTML beside it would never be shown. In two outputs both
are drawn, and CSS decides which one the reader sees, from the page as it is now:

    widget output holds the live view (tagged with the class difflab-live)  → hide the static copy after it
    widget output holds no live view (model not found, loading, or text)    → hide the widget output itself

JupyterLab draws widget outputs only in trusted notebooks (its widget renderer is not "safe"), and only trusted
HTML keeps its <style> (untrusted HTML is sanitised); so whenever the error could show, the rules apply. Saving
stores both outputs as they are, and nothing else: no widget state goes into the notebook. Where the rules do
not apply (an untrusted notebook, GitHub, VS Code, Colab, a terminal) both outputs show: the live widget or its
line of text, then the static copy.

Figures are `matplotlib.figure.Figure` objects drawn straight onto an Agg canvas: pyplot never sees them, so
no figure is left open and no global plotting state changes.
"""

import base64
import html
import io

import ipywidgets as widgets
from IPython.display import display
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


LIVE_CLASS = "difflab-live"  # on the root element of every live view
STATIC_CLASS = "difflab-static"  # on the <div> of every static copy
# `:has()` needs Chromium 105, Firefox 121, Safari 15.4 (2022-23); an older browser shows both outputs.
STATIC_COPY_CSS = f"""
.jp-OutputArea-child:has(.{LIVE_CLASS}) + .jp-OutputArea-child:has(.{STATIC_CLASS}) {{ display: none; }}
.jp-OutputArea-child:not(:has(.{LIVE_CLASS})):has(+ .jp-OutputArea-child .{STATIC_CLASS}) {{ display: none; }}
"""
STATIC_NOTE = "Static copy, saved when the cell ran: run the cell to bring back the live view."


def static_copy(body: str) -> str:
    """The HTML of a static copy: the rules above, a note saying what it is, and the view's own HTML."""
    note = f'<p style="color: var(--jp-ui-font-color2, gray); font-style: italic">{STATIC_NOTE}</p>'
    return f'<style>{STATIC_COPY_CSS}</style><div class="{STATIC_CLASS}">{note}{body}</div>'


class View:
    """Base of the widgets: subclasses set `self.widget` and define `static_html()`."""

    widget = None

    def static_html(self) -> str:
        raise NotImplementedError

    def outputs(self) -> list[dict]:
        """The two mimebundles the view displays: its live widget, then its static copy."""
        self.widget.add_class(LIVE_CLASS)  # once per widget: add_class skips a class it already has
        live = {**self.widget._repr_mimebundle_(), "text/plain": repr(self)}  # widget-view+json, text/plain
        return [live, {"text/html": static_copy(self.static_html())}]

    def _ipython_display_(self):
        """What IPython calls to display the view (a cell ending in it, or display(view))."""
        for bundle in self.outputs():
            display(bundle, raw=True)


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
    note = f' <span style="color: var(--jp-ui-font-color2, gray)">{html.escape(note)}</span>' if note else ""
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
