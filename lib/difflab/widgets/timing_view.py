"""TimingView: where the wall-clock time of a run goes, per stage and per denoising step.

    with difflab.trace(unet) as tr:
        pipe("a red circle")
    TimingView(tr)

Top: one horizontal bar per stage at the chosen depth (a row of `trace.timings`), in milliseconds. Stages at
one depth are siblings, so their bars add up to (at most) their parents' time; 'all stages' mixes depths and
counts each span twice or more.
Bottom: milliseconds per 'step i' stage against i, with one line per kind of child ('model', 'scheduler').

What to look for:
- The denoising loop dominates: steps × (one model call), which is why fewer steps and faster models matter.
- Inside a step the model is nearly all of it; the scheduler's update is a few elementwise operations.
- Step 0 is often slower: the first call pays for one-off work (kernel selection, caches, lazy imports).
- On a GPU the trace synchronises at every stage boundary, so these are true times, not launch times.
"""

import numpy as np
from matplotlib.ticker import MaxNLocator

from .static import StageTableView, new_figure


def child_ms(step, name: str) -> float:
    """Milliseconds the children of `step` called `name` took together; NaN if it has none."""
    spans = [c.seconds for c in step.children if c.name == name]
    return sum(spans) * 1e3 if spans else np.nan


def step_lines(trace) -> dict:
    """For each loop of 'step' stages (keyed by the loop's path): step indices and ms series by line name."""
    loops = {}
    for s in trace.stages():
        if s.name == "step":
            loops.setdefault(s.parent.path, []).append(s)
    lines = {}
    for loop, steps in loops.items():
        names = dict.fromkeys(c.name for s in steps for c in s.children)  # in first-seen order
        series = {"whole step": [s.seconds * 1e3 for s in steps]}
        series.update({name: [child_ms(s, name) for s in steps] for name in names})
        lines[loop] = ([s.attrs.get("step", i) for i, s in enumerate(steps)], series)
    return lines


def draw_bars(ax, rows, cuda: bool):
    """Rows of `trace.timings`: the stage's path and its wall time in ms."""
    y = np.arange(len(rows))
    ms = np.array([r["wall_ms"] for r in rows], dtype=float)
    ax.barh(y, ms, color="tab:purple")
    for i, value in enumerate(ms):
        ax.text(value, i, f" {value:.1f} ms", va="center", fontsize=7)
    ax.set_xlim(0, 1.25 * max(ms.max(initial=0), 1e-3))  # room for the numbers
    ax.set_yticks(y, [r["stage"] for r in rows], fontsize=8)
    ax.invert_yaxis()  # first stage on top, as in the table
    ax.set_xlabel("wall time (ms)")
    ax.set_title("Wall time per stage" + (" (CUDA-synchronised)" if cuda else ""))


def draw_steps(ax, lines: dict):
    ax.set_title("Time per denoising step")
    ax.set_xlabel("step index i (stage 'step i')")
    ax.set_ylabel("wall time (ms)")
    if not lines:
        ax.text(0.5, 0.5, "no 'step' stages in this trace", ha="center", transform=ax.transAxes)
        return
    for loop, (steps, series) in lines.items():
        for name, ms in series.items():
            label = name if len(lines) == 1 else f"{loop}: {name}"
            ax.plot(steps, ms, marker="o", markersize=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)


class TimingView(StageTableView):
    """Wall time per stage of `trace` at a chosen depth, and per denoising step."""

    title, alt = "Timings", "wall time per stage"

    def table(self):
        return self.trace.timings

    def figure(self, rows):
        bars_height = 0.6 + 0.25 * len(rows)
        fig = new_figure(9, bars_height + 3)
        bars_ax, steps_ax = fig.subplots(2, 1, height_ratios=[bars_height, 3])
        draw_bars(bars_ax, rows, self.trace.cuda)
        draw_steps(steps_ax, step_lines(self.trace))
        return fig

    def __repr__(self):
        total_ms = self.trace.root.seconds * 1e3
        return f"TimingView({len(self.rows())} stages at {self.depth.label!r}, run {total_ms:.1f} ms)"
