from pathlib import Path

import pytest

import difflab
from difflab.source import short_path


def test_show_source_names_the_file_from_the_package_folder():
    assert str(difflab.show_source(difflab.noise.alpha_bar)).startswith("# lib/difflab/noise.py, lines ")


def test_short_path_in_a_checkout_whose_folder_is_itself_named_difflab(tmp_path):
    package = tmp_path / "difflab" / "lib" / "difflab"
    (package / "schedulers").mkdir(parents=True)
    file = package / "schedulers" / "ddim.py"
    file.write_text("")
    assert short_path(str(file), package) == "lib/difflab/schedulers/ddim.py"
    assert short_path(str(tmp_path / "difflab" / "tests" / "x.py"), package) == str(tmp_path / "difflab/tests/x.py")
    assert short_path(str(Path(difflab.__file__))) == "lib/difflab/__init__.py"


def test_show_source_cuts_a_module_and_names_what_it_searched():
    snippet = difflab.show_source(difflab.noise, start="def alpha_bar", end="return")
    assert snippet.lines[0].startswith("def alpha_bar") and len(snippet.lines) <= 5
    with pytest.raises(ValueError, match="start: 'no such line' does not occur in the source of difflab.noise"):
        difflab.show_source(difflab.noise, start="no such line")
