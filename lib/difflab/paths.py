"""Where the course lives on disk: the folder holding labs/, starters/ and solutions/."""

import os
from pathlib import Path


def course_root() -> Path:
    """The course folder: $DIFFLAB_ROOT, else the checkout this package was installed from, else cwd upwards."""
    if os.environ.get("DIFFLAB_ROOT"):
        return Path(os.environ["DIFFLAB_ROOT"]).resolve()
    candidates = [Path(__file__).resolve().parents[2], Path.cwd(), *Path.cwd().parents]
    for folder in candidates:
        if (folder / "solutions").is_dir() and (folder / "starters").is_dir():
            return folder
    raise FileNotFoundError(
        "difflab could not find the course folder (the one with starters/ and solutions/). "
        "Run from inside the course checkout, or set DIFFLAB_ROOT=/path/to/difflab."
    )
