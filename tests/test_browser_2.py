"""The browser test (test_browser.py) for the other half of the labs: the same test, in a file of its own so that
pytest-xdist's --dist loadfile can run the two halves on two workers at once."""

import pytest
import test_browser
from test_browser import LABS, browser, lab_server  # noqa: F401 (the fixtures, one server and browser per file)

LABS_HERE = LABS[1::2]


@pytest.mark.parametrize("lab", LABS_HERE, ids=lambda lab: lab.stem)
def test_lab_runs_live_then_reopens_with_static_copies(browser, lab_server, lab):  # noqa: F811
    test_browser.test_lab_runs_live_then_reopens_with_static_copies(browser, lab_server, lab)
