"""A small table for trace results: rows of dicts, readable as text, HTML, or plain records."""

import html


def human_bytes(n) -> str:
    """1536 → '1.5 KiB' (binary units, as memory is allocated)."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def cell_text(column: str, value) -> str:
    if value is None:
        return ""
    if "bytes" in column or column in ("weights", "latents", "conditioning", "activations", "peak"):
        return human_bytes(value) if isinstance(value, (int, float)) else str(value)
    if column.endswith("_ms"):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Table:
    def __init__(self, title: str, columns: list[str], rows: list[dict]):
        self.title, self.columns, self.rows = title, columns, rows

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def where(self, **match) -> "Table":
        """Rows whose fields contain the given substrings, e.g. table.where(module="attn")."""
        keep = [r for r in self.rows if all(str(v) in str(r.get(k, "")) for k, v in match.items())]
        return Table(self.title, self.columns, keep)

    def column(self, name: str) -> list:
        return [r.get(name) for r in self.rows]

    def to_records(self) -> list[dict]:
        return [dict(r) for r in self.rows]

    def __str__(self):
        cells = [[cell_text(c, r.get(c)) for c in self.columns] for r in self.rows]
        widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(self.columns)]
        line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
        return "\n".join([self.title, line(self.columns), line(["-" * w for w in widths]), *map(line, cells)])

    __repr__ = __str__

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell_text(c, r.get(c)))}</td>" for c in self.columns) + "</tr>"
            for r in self.rows
        )
        return f"<b>{html.escape(self.title)}</b><table><tr>{head}</tr>{body}</table>"
