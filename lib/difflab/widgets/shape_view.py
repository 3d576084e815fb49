"""ShapeTraceView: every module call of a traced run, as a tree and as a table you can filter.

    with difflab.trace(unet) as tr:
        pipe("a red circle")
    ShapeTraceView(tr)

What to look for:
- The tree nests stages ('denoise' → 'step 3' → 'model') and then module paths by their dots
  ('unet.down_blocks.0.resnets.1.conv1'): open one block and read how (B, C, H, W) changes on the way down.
- Each step calls the same modules with the same shapes: only the numbers inside change, never the layout.
- dtype and device columns show where a half-precision or offloaded module meets its inputs.
- Type 'conv' or 'attn' or 'step 0' into the filter to keep the rows whose stage, module or class contains it.
"""

import html

import ipywidgets as widgets

from ..trace import Table
from .static import View, heading


def tensors_text(tensors) -> str:
    """[{'shape': (2, 4, 8, 8), 'dtype': 'float32', 'device': 'cpu'}] → '(2, 4, 8, 8) float32 cpu'."""
    if tensors is None:
        return "—"  # the module raised, or returned no tensor
    return "; ".join(f"{t['shape']} {t['dtype']} {t['device']}" for t in tensors)


def call_text(record) -> str:
    return f"{record['class']}: {tensors_text(record['inputs'])} → {tensors_text(record['outputs'])}"


def build_tree(records) -> dict:
    """Nest records by stage path ('/') and then module path ('.'); each node keeps the calls made right there."""
    root = {"children": {}, "calls": []}
    for record in records:
        node = root
        keys = [("stage", p) for p in record["stage"].split("/")] + [("module", p) for p in record["module"].split(".")]
        for key in keys:
            node = node["children"].setdefault(key, {"children": {}, "calls": []})
        node["calls"].append(record)
    return root


def tree_html(node) -> str:
    """Stages open, modules folded: <details>/<summary> collapse with no script, live or static."""
    parts = []
    for (kind, name), child in node["children"].items():
        label = f"<b>{html.escape(name)}</b>" if kind == "stage" else f"<code>{html.escape(name)}</code>"
        calls = "<br>".join(html.escape(call_text(r)) for r in child["calls"])
        summary = f"{label} {calls}" if calls else label
        if child["children"]:
            opened = " open" if kind == "stage" else ""
            inner = f'<div style="margin-left:1.2em">{tree_html(child)}</div>'
            parts.append(f"<details{opened}><summary>{summary}</summary>{inner}</details>")
        else:
            parts.append(f"<div>{summary}</div>")
    return "".join(parts)


class ShapeTraceView(View):
    """The shape records of `trace` (`trace.shape_records`), filterable; shows at most `max_rows` calls."""

    COLUMNS = ["stage", "module", "class", "inputs", "outputs"]

    def __init__(self, trace, max_rows: int = 200):
        self.records, self.max_rows = trace.shape_records, max_rows
        # A long trace keeps one row per kind of call (detail="auto" or "bounded"); each row counts its calls.
        self.summarised = getattr(trace, "summarised_after", None) is not None
        self.module_calls = getattr(trace, "module_calls", len(self.records))
        self.filter = widgets.Text(description="filter", placeholder="stage, module or class, e.g. conv")
        self.count = widgets.HTML()
        self.tree, self.table = widgets.HTML(), widgets.HTML()
        tabs = widgets.Tab(children=[self.tree, self.table], titles=["tree", "table"])
        self.widget = widgets.VBox([self.filter, self.count, tabs])
        self.filter.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    @property
    def rows(self) -> list[dict]:
        """The records whose stage, module or class contains the filter text (ignoring case)."""
        text = self.filter.value.strip().lower()
        fields = lambda r: (r["stage"], r["module"], r["class"])
        return [r for r in self.records if not text or any(text in f.lower() for f in fields(r))]

    def count_text(self) -> str:
        if not self.records:
            return "No shape records: pass the model to the trace, difflab.trace(model), to hook its modules."
        rows = self.rows
        shown = f"showing the first {self.max_rows}" if len(rows) > self.max_rows else "showing all"
        if self.summarised:
            kept = f"{len(self.records)} rows, one per kind of call, stand for {self.module_calls:,} module calls"
            return (
                f"{kept} (the trace kept summaries; pass detail='full' to keep every call); {len(rows)} match; {shown}."
            )
        return f"{len(rows)} of {len(self.records)} module calls match; {shown}."

    def refresh(self):
        rows = self.rows[: self.max_rows]
        self.count.value = html.escape(self.count_text())
        if not self.records:
            return
        self.tree.value = tree_html(build_tree(rows))
        table_rows = [dict(r, inputs=tensors_text(r["inputs"]), outputs=tensors_text(r["outputs"])) for r in rows]
        columns = self.COLUMNS + (["calls", "last_stage"] if self.summarised else [])
        self.table.value = Table("Module calls, in call order", columns, table_rows)._repr_html_()

    def static_html(self) -> str:
        """The tree as it is live; the table (one row per call, often hundreds) folded under a <details>."""
        note = f"filter: {self.filter.value!r}" if self.filter.value else ""
        table = f"<details><summary>table: the calls in call order</summary>{self.table.value}</details>"
        return heading("Shape trace", note) + f"<p>{self.count.value}</p>" + self.tree.value + table

    def __repr__(self):
        return f"ShapeTraceView({self.count_text()})"
