"""MemoryLedgerView: where the bytes of a run live, per stage and over time.

    with difflab.trace(unet) as tr:
        pipe("a red circle")
    MemoryLedgerView(tr)

Top: one stacked bar per stage (a row of the ledger table `trace.memory`), in MiB. Weights, latents and
conditioning are what is live when the stage ends; activations are the most temporaries the stage held at once.
The black tick marks the stage's peak total, and the text beside it names the peak owner: the module (or the
stage) that made the allocation reaching that peak.
Bottom: the ledger's timeline, live bytes by category against time, with the chosen stages' starts as grey lines.

What to look for:
- Weights are a flat floor from start to end: they are loaded once and never change during sampling.
- Latents are tiny next to everything else; in a real UNet the activations of one forward pass dwarf them.
- Each step draws the same sawtooth: activations pile up inside the model and fall back when it returns.
- The peak owner tells you which module to slice, offload or run in half precision to lower the peak.
"""

import ipywidgets as widgets
import numpy as np

from ..trace import Table
from .static import (
    CATEGORIES,
    CATEGORY_COLORS,
    MIB,
    View,
    depth_dropdown,
    heading,
    img_tag,
    new_figure,
    png_bytes,
    rows_at,
    save_png,
    stages_at,
)


def timeline_arrays(trace):
    """(T,) milliseconds since the trace began and (T, 4) live MiB per category, from `trace.timeline`."""
    times = np.array([t for t, _ in trace.timeline]) - trace.root.start
    mib = np.array([[live.get(c, 0) for c in CATEGORIES] for _, live in trace.timeline], dtype=float) / MIB
    return times * 1e3, mib.reshape(-1, len(CATEGORIES))


def thin(times, mib, most: int = 4000):
    """At most `most` points: in each run of consecutive points keep the one with the most live bytes (peaks stay)."""
    if len(times) <= most:
        return times, mib
    per = -(-len(times) // most)  # points per bin, rounded up
    totals = np.concatenate([mib.sum(1), np.full(-len(times) % per, -np.inf)]).reshape(-1, per)  # (bins, per)
    keep = totals.argmax(1) + per * np.arange(len(totals))
    return times[keep], mib[keep]


def draw_bars(ax, rows):
    """Rows of `trace.memory`: weights, latents, conditioning at stage end, activations peak; all in bytes."""
    y = np.arange(len(rows))
    mib = np.array([[r[c] for c in CATEGORIES] for r in rows], dtype=float).reshape(-1, len(CATEGORIES)) / MIB
    left = np.zeros(len(rows))
    for j, category in enumerate(CATEGORIES):
        ax.barh(y, mib[:, j], left=left, color=CATEGORY_COLORS[category], label=category)
        left += mib[:, j]
    peaks = np.array([r["peak"] for r in rows], dtype=float) / MIB
    ax.plot(peaks, y, "k|", markersize=14, label="peak total")
    for i, r in enumerate(rows):
        ax.text(peaks[i], i, f"  peak {peaks[i]:.2f} MiB in {r['peak_owner']}", va="center", fontsize=7)
    ax.set_xlim(0, 1.8 * max(peaks.max(initial=0), left.max(initial=0), 1e-3))  # room for the owner text
    ax.set_yticks(y, [r["stage"] for r in rows], fontsize=8)
    ax.invert_yaxis()  # first stage on top, as in the table
    ax.set_xlabel("MiB")
    ax.set_title("Memory per stage (live at stage end; activations: their peak during the stage)")
    ax.legend(fontsize=7, loc="lower right")


def draw_timeline(ax, trace, stages):
    times, mib = thin(*timeline_arrays(trace))
    ax.set_title("Live memory by category over time")
    ax.set_xlabel("time since the trace began (ms)")
    ax.set_ylabel("live MiB")
    if len(times) == 0:
        ax.text(0.5, 0.5, "no allocations recorded", ha="center", transform=ax.transAxes)
        return
    colors = [CATEGORY_COLORS[c] for c in CATEGORIES]
    ax.stackplot(times, mib.T, labels=CATEGORIES, colors=colors, step="post")
    if len(stages) <= 60:
        for s in stages:
            ax.axvline((s.start - trace.root.start) * 1e3, color="gray", lw=0.5, alpha=0.6)
    peak = mib.sum(1).argmax()
    ax.axvline(times[peak], color="k", ls=":", lw=1)
    side = "right" if times[peak] > times.mean() else "left"  # keep the label inside the axes
    ax.annotate(f" peak {mib[peak].sum():.2f} MiB ", (times[peak], mib[peak].sum()), fontsize=8, ha=side, va="top")
    ax.legend(fontsize=7, loc="upper left")


class MemoryLedgerView(View):
    """The memory ledger of `trace` as stacked bars per stage and a timeline; `depth` picks which stages."""

    def __init__(self, trace, depth: int = 1):
        self.trace = trace
        self.depth = depth_dropdown(trace, depth)
        self.panel = widgets.HTML()
        self.widget = widgets.VBox([self.depth, self.panel])
        self.depth.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    def rows(self) -> list[dict]:
        """The memory ledger's rows (`trace.memory`) for the stages at the chosen depth."""
        return rows_at(self.trace, self.trace.memory, self.depth.value)

    def figure(self, rows=None):
        rows = self.rows() if rows is None else rows
        bars_height = 0.6 + 0.25 * len(rows)
        fig = new_figure(10, bars_height + 3.2)
        bars_ax, time_ax = fig.subplots(2, 1, height_ratios=[bars_height, 3.2])
        draw_bars(bars_ax, rows)
        draw_timeline(time_ax, self.trace, stages_at(self.trace, self.depth.value))
        return fig

    def refresh(self):
        rows = self.rows()
        if self.trace.ledger is None:
            self.panel.value = "<p>This trace was recorded with memory=False: there is no ledger to show.</p>"
        elif not rows:
            self.panel.value = "<p>No stages at this depth: mark some with difflab.trace.stage('name').</p>"
        else:
            ledger = self.trace.memory
            table = Table(ledger.title, ledger.columns, rows)._repr_html_()
            self.panel.value = img_tag(png_bytes(self.figure(rows)), "memory per stage") + table

    def static_html(self) -> str:
        return heading("Memory ledger", self.depth.label) + self.panel.value

    def save_png(self, path):
        return save_png(self.figure(), path)

    def __repr__(self):
        return f"MemoryLedgerView({len(self.rows())} stages at {self.depth.label!r})"
