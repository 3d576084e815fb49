"""Lab notebooks are stored light: the only outputs kept are short printed facts that nbval compares.

Images, HTML, widget state and error tracebacks are produced when a learner runs the lab; committed, they
bloat the repository and go stale the moment the code changes.
"""

import json
from pathlib import Path

import pytest

LABS = sorted((Path(__file__).parent.parent / "labs").glob("*.ipynb"))


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_notebook_keeps_only_printed_facts(path):
    notebook = json.loads(path.read_text())
    assert "widgets" not in notebook["metadata"], "saved widget state: delete metadata.widgets"
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            where = f"cell {index}: {output['output_type']}"
            assert output["output_type"] == "stream" and output["name"] == "stdout", where
            assert len("".join(output["text"])) <= 2000, f"{where}: a printed fact should be short"


def test_there_are_lab_notebooks():
    assert len(LABS) >= 9  # 00, a01–a06, b01, b02
