"""Lab notebooks are committed light: the only outputs kept are short printed facts that nbval compares.

Images, HTML, widget state and error tracebacks are produced when a learner runs the lab; committed, they
bloat the repository and go stale the moment the code changes. This reads the notebooks as committed
(tests/committed.py): a learner's run-and-saved lab in the working tree is theirs and is not checked here.
"""

import json

import pytest

from committed import committed_bytes, committed_files

LABS = committed_files("labs/*.ipynb")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {  # what ipykernel reports, less `version` (the kernel's Python, which differs between machines)
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.split("/")[-1].removesuffix(".ipynb"))
def test_notebook_keeps_only_printed_facts(path):
    notebook = json.loads(committed_bytes(path))
    assert "widgets" not in notebook["metadata"], "saved widget state: delete metadata.widgets"
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            where = f"cell {index}: {output['output_type']}"
            assert output["output_type"] == "stream" and output["name"] == "stdout", where
            assert len("".join(output["text"])) <= 2000, f"{where}: a printed fact should be short"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.split("/")[-1].removesuffix(".ipynb"))
def test_notebook_metadata_is_what_jupyterlab_writes(path):
    # JupyterLab rewrites a different kernelspec or language_info when it opens the notebook, marking it modified.
    metadata = json.loads(committed_bytes(path))["metadata"]
    assert metadata["kernelspec"] == KERNELSPEC
    assert {k: v for k, v in metadata["language_info"].items() if k != "version"} == LANGUAGE_INFO


def test_there_are_lab_notebooks():
    assert len(LABS) >= 9  # 00, a01–a06, b01, b02
