"""difflab's code and upstream's, side by side, with a line map saying which lines do the same maths.

compare(difflab.schedulers.DDIMScheduler.step,
        upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step"),
        line_map=[("x0 =", "pred_original_sample = (sample", "same maths: x̂0 from ε̂")],
        adds=[("thresholding", "dynamic thresholding (Imagen), which we leave out")])

A side of an entry is a substring (the first line containing it), a (start, end) pair of substrings (from the
first line containing start to the next containing end), a line number as the snippet shows it, or a (first, last)
pair of them. Substrings survive edits better than numbers; one that is not found is an error naming it.
"""

import html
from dataclasses import dataclass

from ..source import Snippet, show_source
from .render import ADDED, FRAME, MAPPED, code_html, header_of, numbered


@dataclass(frozen=True)
class Entry:
    """One resolved row of the line map: lines of ours ↔ lines of theirs (file line numbers, inclusive)."""

    ours: tuple[int, int] | None  # None for a "what upstream adds" row
    theirs: tuple[int, int]
    note: str


def find_lines(snippet: Snippet, spec, where: str) -> tuple[int, int]:
    """The (first, last) file lines of `snippet` that `spec` names (a substring, a number, or a pair of either).

    `where` names the entry in errors: "line_map[2] upstream".
    """
    last_line = snippet.first_line + len(snippet.lines) - 1
    if isinstance(spec, tuple) and len(spec) == 2:
        first, _ = find_lines(snippet, spec[0], where)
        after = first + 1 if isinstance(spec[1], str) else first  # an end substring is looked for after start
        rest = Snippet(snippet.path, after, snippet.lines[after - snippet.first_line :])
        _, last = find_lines(rest, spec[1], where)
        return first, last
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not snippet.first_line <= spec <= last_line:
            raise ValueError(
                f"{where}: line {spec} is outside {header_of(snippet)}; "
                f"use a line number from {snippet.first_line} to {last_line}, or a substring of the line"
            )
        return spec, spec
    if isinstance(spec, str):
        for i, line in enumerate(snippet.lines):
            if spec in line:
                return snippet.first_line + i, snippet.first_line + i
        raise ValueError(
            f"{where}: {spec!r} does not occur in {header_of(snippet)}; "
            "fix the substring (a lab's line map must follow the code it describes)"
        )
    raise ValueError(f"{where}: expected a substring, a line number, or a (start, end) pair of them, got {spec!r}")


class Comparison:
    """Two snippets and their line map; shows as two scrollable columns in Jupyter, as plain text elsewhere."""

    def __init__(self, ours: Snippet, theirs: Snippet, entries: list[Entry]):
        self.ours, self.theirs, self.entries = ours, theirs, entries

    def _lines(self, snippet: Snippet, span: tuple[int, int]) -> list[str]:
        return snippet.lines[span[0] - snippet.first_line : span[1] - snippet.first_line + 1]

    def __str__(self):
        out = [f"ours:     {header_of(self.ours)}", f"upstream: {header_of(self.theirs)}"]
        for number, entry in enumerate(self.entries, 1):
            if entry.ours is None:
                continue
            out += ["", f"[{number}] {entry.note}"]
            ours, theirs = self._lines(self.ours, entry.ours), self._lines(self.theirs, entry.theirs)
            width = len(str(max(entry.ours[1], entry.theirs[1])))
            out += ["  ours     " + line for line in numbered(entry.ours[0], ours, width)]
            out += ["  upstream " + line for line in numbered(entry.theirs[0], theirs, width)]
        adds = [(n, e) for n, e in enumerate(self.entries, 1) if e.ours is None]
        if adds:
            out += ["", "what upstream adds:"]
            for number, entry in adds:
                out += [f"[{number}] lines {entry.theirs[0]}–{entry.theirs[1]}: {entry.note}"]
        return "\n".join(out)

    __repr__ = __str__

    def _marks(self, side: str) -> dict[int, tuple[str, str]]:
        marks = {}
        for number, entry in enumerate(self.entries, 1):
            span = getattr(entry, side)
            if span is not None:
                colour = ADDED if entry.ours is None else MAPPED
                marks.update({line: (str(number), colour) for line in range(span[0], span[1] + 1)})
        return marks

    def _column(self, title: str, snippet: Snippet, side: str) -> str:
        code = code_html(snippet.first_line, snippet.lines, self._marks(side))
        head = f"<b>{title}</b> {html.escape(header_of(snippet))}"
        return f'<div style="flex:1;min-width:0">{head}<div style="max-height:32em;overflow:auto">{code}</div></div>'

    def _table(self) -> str:
        cell = 'style="text-align:left;padding:2px 8px;border-bottom:1px solid var(--jp-border-color2,#d0d7de)"'
        rows = [f"<tr><th {cell}>#</th><th {cell}>ours</th><th {cell}>upstream</th><th {cell}>note</th></tr>"]
        for number, entry in enumerate(self.entries, 1):
            ours = "what upstream adds" if entry.ours is None else f"{entry.ours[0]}–{entry.ours[1]}"
            swatch = ADDED if entry.ours is None else MAPPED
            tag = f'<span style="background:{swatch};color:#1f2328;padding:0 4px">{number}</span>'
            theirs = f"{entry.theirs[0]}–{entry.theirs[1]}"
            rows.append(
                f"<tr><td {cell}>{tag}</td><td {cell}>{ours}</td><td {cell}>{theirs}</td>"
                f"<td {cell}>{html.escape(entry.note)}</td></tr>"
            )
        return f'<table style="border-collapse:collapse;margin-top:6px">{"".join(rows)}</table>'

    def _repr_html_(self):
        columns = self._column("ours", self.ours, "ours") + self._column("upstream", self.theirs, "theirs")
        return f'<div style="{FRAME}"><div style="display:flex;gap:8px">{columns}</div>{self._table()}</div>'


def compare(ours, theirs: Snippet, line_map=(), adds=()) -> Comparison:
    """difflab's `ours` (a function, method, class, or a Snippet) beside an upstream snippet, with a line map.

    line_map: (ours lines, upstream lines, note) entries; adds: (upstream lines, note) entries for what upstream
    does that ours leaves out. Lines are written as the module docstring says.
    """
    if not isinstance(ours, Snippet):
        ours = show_source(ours)
    if not isinstance(theirs, Snippet):
        raise ValueError(
            f"theirs: expected a snippet from upstream.source(...), got {type(theirs).__name__}; "
            "fix: compare(ours, upstream.source('diffusers.…'), …)"
        )
    entries = []
    for i, item in enumerate(line_map):
        if not (isinstance(item, (tuple, list)) and len(item) == 3):
            raise ValueError(f"line_map[{i}]: expected (ours lines, upstream lines, note), got {item!r}")
        a, b, note = item
        entries.append(
            Entry(
                find_lines(ours, a, f"line_map[{i}] ours"), find_lines(theirs, b, f"line_map[{i}] upstream"), str(note)
            )
        )
    for i, item in enumerate(adds):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"adds[{i}]: expected (upstream lines, note), got {item!r}")
        entries.append(Entry(None, find_lines(theirs, item[0], f"adds[{i}] upstream"), str(item[1])))
    return Comparison(ours, theirs, entries)
