"""difflab.upstream: upstream source found by dotted name in the pinned packages, shown beside ours, never imported."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import difflab
from difflab import upstream
from difflab.upstream import labs
from difflab.upstream.sources import SOURCES

LABS = Path(__file__).resolve().parent.parent / "labs"

REFERENCES = {
    "diffusers.schedulers.scheduling_ddim.DDIMScheduler.step": "def step(",
    "diffusers.schedulers.scheduling_ddpm.DDPMScheduler.__init__": "@register_to_config",
    "diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion.StableDiffusionPipeline.__call__": "@torch.no_grad",
    "diffusers.models.autoencoders.autoencoder_kl.AutoencoderKL.decode": "@apply_forward_hook",
    "diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion.rescale_noise_cfg": "def rescale_noise_cfg(",
    "diffusers.schedulers.scheduling_ddim.DDIMSchedulerOutput": "@dataclass",
    "diffsynth.diffusion.flow_match.FlowMatchScheduler": "class FlowMatchScheduler",
    "diffsynth.diffusion.flow_match.FlowMatchScheduler.step": "def step(",
    "diffsynth.core.loader.file.hash_state_dict_keys": "def hash_state_dict_keys(",
}


@pytest.mark.parametrize("reference", sorted(REFERENCES))
def test_real_references_resolve_to_their_definition_with_decorators(reference):
    snippet = upstream.source(reference)
    assert snippet.lines[0].strip().startswith(REFERENCES[reference])
    assert reference.rsplit(".", 1)[-1] in "\n".join(snippet.lines[:4])


def test_header_names_project_version_repository_path_and_lines():
    snippet = upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")
    assert snippet.header.startswith("diffusers 0.42.1 · src/diffusers/schedulers/scheduling_ddim.py, lines ")
    assert str(snippet).splitlines()[1] == f"{snippet.first_line} │ {snippet.lines[0]}"
    theirs = upstream.source("diffsynth.core.loader.file.hash_state_dict_keys")
    assert theirs.header.startswith("DiffSynth-Studio 2.1.12 · diffsynth/core/loader/file.py, lines ")


def test_start_and_end_cut_a_range_with_file_line_numbers():
    whole = upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")
    cut = upstream.source(whole.reference, start="prev_sample = alpha_prod_t_prev", end="return")
    assert "prev_sample = alpha_prod_t_prev" in cut.lines[0] and "return" in cut.lines[-1]
    offset = cut.first_line - whole.first_line
    assert whole.lines[offset : offset + len(cut.lines)] == cut.lines
    with pytest.raises(ValueError, match="start: 'no such line'"):
        upstream.source(whole.reference, start="no such line")


def test_a_function_s_local_variables_are_not_names_of_the_module():
    with pytest.raises(LookupError):
        upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step.variance")


def test_a_wrong_name_fails_naming_the_file_and_the_nearest_names():
    with pytest.raises(LookupError) as error:
        upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.stepp")
    message = str(error.value)
    assert "'DDIMScheduler.stepp'" in message and "src/diffusers/schedulers/scheduling_ddim.py" in message
    assert "'diffusers.schedulers.scheduling_ddim.DDIMScheduler.step'" in message


def test_a_misspelt_module_suggests_the_module():
    with pytest.raises(LookupError, match="'diffusers.schedulers.scheduling_ddim'"):
        upstream.source("diffusers.schedulers.scheduling_ddimm.DDIMScheduler.step")


def test_an_unknown_source_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'transformers'.*\['diffsynth', 'diffusers'\]"):
        upstream.source("transformers.models.clip.CLIPTextModel")


def test_a_version_other_than_the_pin_names_both_and_the_fix(monkeypatch):
    monkeypatch.setitem(SOURCES, "diffusers", replace(SOURCES["diffusers"], version="0.0.1"))
    with pytest.raises(LookupError, match=r"pinned to 0\.0\.1 but 0\.42\.1 is installed.*make install"):
        upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")


def test_a_missing_distribution_says_to_run_make_install(monkeypatch):
    monkeypatch.setitem(SOURCES, "diffsynth", replace(SOURCES["diffsynth"], distribution="difflab-no-such-dist"))
    with pytest.raises(LookupError, match="not installed.*make install"):
        upstream.source("diffsynth.diffusion.flow_match.FlowMatchScheduler")


def test_reading_upstream_imports_neither_diffusers_nor_diffsynth():
    code = (
        "import sys\nfrom difflab import upstream\n"
        "upstream.source('diffusers.schedulers.scheduling_ddim.DDIMScheduler.step')\n"
        "upstream.source('diffsynth.diffusion.flow_match.FlowMatchScheduler.step')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('diffusers', 'diffsynth')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _ddim_comparison(**changes):
    arguments = dict(
        line_map=[
            ("x0 = noise", ("if self.config.prediction_type ==", "raise ValueError"), "x̂0 from the model output"),
            ("std_dev = eta", "std_dev_t = eta", "σ_t(η)"),
        ],
        adds=[("if use_clipped_model_output", "Glide re-derives ε̂ from the clipped x̂0")],
    )
    arguments.update(changes)
    theirs = upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")
    return upstream.compare(difflab.schedulers.DDIMScheduler.step, theirs, **arguments)


def test_compare_renders_both_sides_and_the_line_map():
    comparison = _ddim_comparison()
    text = str(comparison)
    assert "ours:     difflab · lib/difflab/schedulers/ddim.py" in text
    assert "upstream: diffusers 0.42.1 · src/diffusers/schedulers/scheduling_ddim.py" in text
    assert "[2] σ_t(η)" in text and "std_dev_t = eta" in text and "what upstream adds:" in text
    page = comparison._repr_html_()
    assert page.count("overflow:auto") == 2 and "var(--jp-" in page and "x̂0 from the model output" in page
    first, last = comparison.entries[0].theirs
    assert last - first >= 8  # the (start, end) pair spans the whole if/elif chain


def test_compare_accepts_line_numbers_as_the_snippet_shows_them():
    theirs = upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")
    ours = difflab.show_source(difflab.schedulers.DDIMScheduler.step)
    comparison = upstream.compare(ours, theirs, line_map=[(ours.first_line, theirs.first_line, "signatures")])
    assert comparison.entries[0].ours == (ours.first_line, ours.first_line)
    with pytest.raises(ValueError, match="line_map.0. upstream: line 1 is outside"):
        upstream.compare(ours, theirs, line_map=[(ours.first_line, 1, "before the snippet")])


def test_a_map_entry_that_does_not_match_fails_naming_it():
    with pytest.raises(ValueError, match=r"line_map\[1\] ours: 'sigma_t = eta' does not occur"):
        _ddim_comparison(line_map=[("x0 = noise", "pred_original_sample =", "x̂0"), ("sigma_t = eta", "std_dev_t", "σ")])
    with pytest.raises(ValueError, match=r"adds\[0\] upstream: 'clip_denoised'"):
        _ddim_comparison(adds=[("clip_denoised", "not in DDIM")])


def _notebook(path: Path, *cells: str) -> Path:
    notebook = {"cells": [{"cell_type": "code", "source": cell, "metadata": {}} for cell in cells], "nbformat": 4}
    path.write_text(json.dumps(notebook))
    return path


def test_the_lab_scanner_finds_literal_calls_however_upstream_is_imported(tmp_path):
    notebook = _notebook(
        tmp_path / "x01_demo.ipynb",
        "%matplotlib inline\nfrom difflab import upstream\nimport difflab.upstream as up",
        "upstream.source('diffusers.schedulers.scheduling_ddim.DDIMScheduler.step', start='pred_original_sample =')",
        "from difflab.upstream import source as src\nsrc('diffusers.schedulers.scheduling_ddim.DDIMScheduler.stepp')",
        "up.compare(f, up.source('diffsynth.diffusion.flow_match.FlowMatchSchedulr'), line_map=[])",
        "name = 'built at run time'\nupstream.source(name)\nsource('not upstream: never imported from it')",
    )
    assert [(cell, args[0].rsplit(".", 1)[-1]) for cell, _, args, _ in labs.references(notebook)] == [
        (1, "step"),
        (2, "stepp"),
        (3, "FlowMatchSchedulr"),
    ]
    problems = labs.stale_references(notebook)
    assert len(problems) == 2
    assert problems[0].startswith(
        "lab x01_demo, cell 2: source('diffusers.schedulers.scheduling_ddim.DDIMScheduler.stepp')"
    )
    assert "no longer resolves" in problems[0] and "FlowMatchScheduler" in problems[1]


@pytest.mark.parametrize("notebook", sorted(LABS.glob("*.ipynb")), ids=lambda path: path.stem)
def test_every_upstream_reference_in_the_labs_still_resolves(notebook):
    assert labs.stale_references(notebook) == []
