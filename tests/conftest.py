"""Shared test setup: checks record their results in a temporary progress file, never in the course's own."""

import pytest


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("DIFFLAB_PROGRESS", str(path))
    return path
