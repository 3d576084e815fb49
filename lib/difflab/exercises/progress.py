"""A small local record of check results, for a progress view: the latest result per (lab, task, file kind).

    {"version": 1, "results": [{"lab": "a01", "task": "alpha_bar", "kind": "starter", "status": "done",
                                "seconds": 0.01, "file": "starters/a01.py", "time": "2025-01-01T12:00:00+00:00"}, …]}

The file is $DIFFLAB_PROGRESS, else <course>/.difflab/progress.json. It is written whole to a temporary file
and moved into place (os.replace), so a reader never sees half of it. Recording never raises: a check must
work on a read-only course folder too.
"""

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ..paths import course_root


def progress_path() -> Path:
    if os.environ.get("DIFFLAB_PROGRESS"):
        return Path(os.environ["DIFFLAB_PROGRESS"])
    return course_root() / ".difflab" / "progress.json"


def read_progress(path=None) -> list[dict]:
    """Every recorded result (latest per lab, task and file kind); [] when nothing is recorded or readable."""
    try:
        data = json.loads(Path(path or progress_path()).read_text())
        return [row for row in data["results"] if isinstance(row, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def record(report, kind: str, path=None) -> None:
    """Add a report's results (kind: "starter", "solutions" or "file"); interrupted tasks are not recorded."""
    temporary = None
    try:
        path = Path(path or progress_path())
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = {(r.get("lab"), r.get("task"), r.get("kind")): r for r in read_progress(path)}
        for result in report.results:
            if result.name == "-" or result.reason.startswith("interrupted"):
                continue
            rows[(report.lab, result.name, kind)] = {
                "lab": report.lab,
                "task": result.name,
                "kind": kind,
                "status": result.status,
                "seconds": result.seconds,
                "file": report.path,
                "time": now,
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as out:
            temporary = out.name
            json.dump({"version": 1, "results": sorted(rows.values(), key=lambda r: str(sorted(r.items())))}, out)
        os.replace(temporary, path)
    except Exception:  # an unwritable folder, a full disk, no course folder: the check itself still stands
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
