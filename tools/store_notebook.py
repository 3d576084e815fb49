"""Store lab notebooks the way the repository keeps them: light, with only their printed facts.

    .venv/bin/python tools/store_notebook.py labs/a04_cfg_code_reading.ipynb          # clean as it is
    .venv/bin/python tools/store_notebook.py --run labs/a04_cfg_code_reading.ipynb    # run it first

A printed fact is the stdout of a code cell marked `# NBVAL_CHECK_OUTPUT`: nbval compares it on every test run.
Every other output (images, widgets, HTML, tracebacks) and every other execution count is dropped; a cell
without an id (or with a repeated one) gets a fresh <lab>-xxxxxxxx; the JSON is written as
tests/test_notebooks_stored_clean.py expects.
With --run the notebook runs top to bottom in labs/ (one thread, a progress file of its own) and a failing cell
stops it, leaving the stored file untouched.
"""

import argparse
import json
import os
import tempfile
import uuid
from pathlib import Path

FACT = "# NBVAL_CHECK_OUTPUT"


def run(notebook: dict, folder: Path) -> dict:
    import nbclient
    import nbformat

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("DIFFLAB_PROGRESS", str(Path(tempfile.mkdtemp()) / "progress.json"))
    node = nbformat.reads(json.dumps(notebook), as_version=4)
    nbclient.NotebookClient(
        node, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return json.loads(nbformat.writes(node))


def with_ids(notebook: dict, lab: str) -> dict:
    """Every cell with an id of its own: a missing or repeated one becomes <lab>-xxxxxxxx."""
    seen = set()
    for cell in notebook["cells"]:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = f"{lab}-{uuid.uuid4().hex[:8]}"
        seen.add(cell["id"])
    return notebook


def light(notebook: dict, lab: str) -> dict:
    """Only printed facts kept, every cell with an id of its own, widget state dropped."""
    notebook["metadata"].pop("widgets", None)
    for cell in with_ids(notebook, lab)["cells"]:
        cell["metadata"] = {}
        if cell["cell_type"] != "code":
            continue
        facts = []
        if "".join(cell["source"]).lstrip().startswith(FACT):
            facts = [o for o in cell.get("outputs", []) if o["output_type"] == "stream" and o["name"] == "stdout"]
        if len(facts) > 1:  # one stream, as Jupyter merges consecutive prints
            facts = [{"name": "stdout", "output_type": "stream", "text": "".join("".join(o["text"]) for o in facts)}]
        for output in facts:
            text = output["text"] if isinstance(output["text"], str) else "".join(output["text"])
            output["text"] = text.splitlines(keepends=True)
        cell["outputs"] = facts
        cell["execution_count"] = cell.get("execution_count") if facts else None
    return notebook


def store(path: Path, execute: bool):
    lab = path.name.split("_")[0]
    notebook = with_ids(json.loads(path.read_text()), lab)
    if execute:
        notebook = run(notebook, path.parent)
    text = json.dumps(light(notebook, lab), indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    path.write_text(text)
    print(f"{path}: stored ({len(text.encode()) / 1024:.0f} KB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--run", action="store_true", help="run each notebook first, so its facts are fresh")
    args = parser.parse_args()
    for path in args.notebooks:
        store(path, args.run)


if __name__ == "__main__":
    main()
