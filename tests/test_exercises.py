import json
import os
import pickle
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import wrong

from difflab import loading
from difflab.exercises import LABS, a06, b02, check, read_progress, run_checks, wire
from difflab.exercises.core import DONE, NOT_YET, WRONG, Lab, run_lab
from difflab.exercises.remote import copy_back
from difflab.exercises.starters import make_starter
from difflab.models import AutoencoderKL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pristine_course(tmp_path, monkeypatch):
    """A course folder whose starters are freshly generated from solutions/: the learner's own starters/ (their
    work, perhaps half done) must not change what these tests see."""
    course = tmp_path / "course"
    (course / "starters").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    for solution in sorted((course / "solutions").glob("*.py")):
        (course / "starters" / solution.name).write_text(make_starter(solution.read_text(), solution.stem))
    monkeypatch.setenv("DIFFLAB_ROOT", str(course))
    return course


@pytest.mark.parametrize("lab", list(LABS))
def test_every_solution_passes_every_task(lab):
    report = run_checks(lab, solutions=True)
    assert [r.status for r in report.results] == [DONE] * len(LABS[lab].tasks), str(report)
    assert report.passed


@pytest.mark.parametrize("lab", list(LABS))
def test_every_untouched_starter_is_not_yet_for_every_task(lab, pristine_course):
    report = run_checks(lab)
    assert [r.status for r in report.results] == [NOT_YET] * len(LABS[lab].tasks), str(report)
    assert all(f"{lab}: " in r.reason for r in report.results)
    assert not report.passed


def with_change(tmp_path, lab, old, new):
    """A copy of the lab's solution with one line changed: a deliberately wrong implementation."""
    text = (ROOT / "solutions" / f"{lab}.py").read_text()
    assert old in text, f"{old!r} not in solutions/{lab}.py"
    path = tmp_path / f"{lab}.py"
    path.write_text(text.replace(old, new, 1))
    return path


WRONG_IMPLEMENTATIONS = wrong.all_labs()


@pytest.mark.parametrize("lab, task, old, new, reason", WRONG_IMPLEMENTATIONS)
def test_wrong_implementation_is_reported_wrong_with_a_reason(tmp_path, lab, task, old, new, reason):
    report = run_checks(lab, file=with_change(tmp_path, lab, old, new))
    result = next(r for r in report.results if r.name == task)
    assert result.status == WRONG, str(report)
    assert reason in result.reason, result.reason
    assert "Hint:" in result.reason
    others = [r.status for r in report.results if r.name != task]
    assert others == [DONE] * len(others), str(report)


def test_an_exception_in_the_learners_code_names_the_error_and_line(tmp_path):
    path = with_change(tmp_path, "a01", "return alpha_bar / (1 - alpha_bar)", "return alpha_bar / undefined_name")
    result = run_checks("a01", file=path).results[2]
    assert result.status == WRONG
    assert "raised NameError: name 'undefined_name' is not defined" in result.reason
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "undefined_name" in text)
    assert f"(a01.py, line {line})" in result.reason


def test_a_file_that_does_not_import_fails_every_task_with_the_syntax_error(tmp_path):
    path = with_change(tmp_path, "a01", "def snr(", "def snr((")
    report = run_checks("a01", file=path)
    assert {r.status for r in report.results} == {WRONG}
    assert "does not import: SyntaxError" in report.results[0].reason


def test_a_task_that_runs_too_long_is_stopped_and_reported(tmp_path):
    lab = Lab("tx", "time limit")
    lab.task("spin")(lambda m: m.spin())
    lab.tasks[0].time_limit = 0.3
    path = tmp_path / "tx.py"
    path.write_text("def spin():\n    while True:\n        pass\n")
    result = run_lab(lab, path, "tx.py").results[0]
    assert result.status == WRONG and "took longer than 0.3 s" in result.reason


def test_check_from_a_notebook_never_raises():
    assert "no lab 'zz'" in str(check("zz"))
    assert "does not exist" in str(check("a01", file="/nonexistent/a01.py"))
    html = check("a01", solutions=True)._repr_html_()
    assert "3 of 3 tasks done" in html


def test_starter_keeps_everything_outside_regions_byte_for_byte():
    source = (
        'x = 1\r\ndef f():\r\n    """doc"""\r\n'
        '    # BEGIN SOLUTION: say "hi"\r\n    return 2\r\n    # END SOLUTION\r\n'
        "y = 3\n"
    )
    starter = make_starter(source, "a99")
    assert (
        starter == 'x = 1\r\ndef f():\r\n    """doc"""\r\n    raise NotImplementedError("a99: say \\"hi\\"")\ny = 3\n'
    )


@pytest.mark.parametrize(
    "source, message",
    [
        ("# BEGIN SOLUTION: a\n# BEGIN SOLUTION: b\n# END SOLUTION\n", "inside the region opened on line 1"),
        ("# END SOLUTION\n", "without a BEGIN"),
        ("# BEGIN SOLUTION: a\nx = 1\n", "never closed"),
        ("# BEGIN SOLUTION\n# END SOLUTION\n", "say what to implement"),
    ],
)
def test_malformed_solution_regions_are_refused_with_the_line(source, message):
    with pytest.raises(ValueError, match=message):
        make_starter(source, "a99")


def test_starters_check_command_fails_when_a_starter_is_stale(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "starters").mkdir()
    (tmp_path / "solutions" / "a99.py").write_text(
        "def f():\n    # BEGIN SOLUTION: return 1\n    return 1\n    # END SOLUTION\n"
    )
    cmd = [sys.executable, "-m", "difflab.cli", "starters"]
    env = {"DIFFLAB_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}
    stale = subprocess.run([*cmd, "--check"], env=env, capture_output=True, text=True)
    assert stale.returncode == 1 and "starters/a99.py" in stale.stdout
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert subprocess.run([*cmd, "--check"], env=env, capture_output=True).returncode == 0
    starter = tmp_path / "starters" / "a99.py"
    assert "NotImplementedError" in starter.read_text()
    starter.write_text("def f():\n    return 1  # the learner's work\n")
    kept = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert "Left alone" in kept.stdout and "learner's work" in starter.read_text()
    subprocess.run([*cmd, "--force"], env=env, capture_output=True)
    assert "NotImplementedError" in starter.read_text()


def test_check_command_exit_status_is_zero_only_when_every_task_is_done(pristine_course):
    ok = subprocess.run(
        [sys.executable, "-m", "difflab.cli", "check", "a01", "--solutions"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "3 of 3 tasks done" in ok.stdout
    todo = subprocess.run([sys.executable, "-m", "difflab.cli", "check", "a01"], capture_output=True, text=True)
    assert todo.returncode == 1 and todo.stdout.count("not yet") == 3 and "Traceback" not in todo.stdout + todo.stderr


def test_each_check_records_the_latest_result_per_task_and_file_kind(progress_file, pristine_course):
    run_checks("a01", solutions=True)
    run_checks("a01")
    run_checks("a01", solutions=True)
    rows = read_progress()
    assert sorted((r["task"], r["kind"], r["status"]) for r in rows) == sorted(
        [(t, "solutions", DONE) for t in ("alpha_bar", "add_noise", "snr")]
        + [(t, "starter", NOT_YET) for t in ("alpha_bar", "add_noise", "snr")]
    )
    row = next(r for r in rows if r["kind"] == "solutions")
    assert row["lab"] == "a01" and row["file"] == "solutions/a01.py" and row["seconds"] >= 0 and "T" in row["time"]
    assert json.loads(progress_file.read_text())["version"] == 1
    assert not [p for p in progress_file.parent.iterdir() if p.suffix == ".tmp"]


def test_an_unwritable_progress_file_does_not_break_a_check(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("DIFFLAB_PROGRESS", str(not_a_folder / "progress.json"))
    assert run_checks("a01", solutions=True).passed
    assert read_progress() == []


def round_trip(value):
    """Out of a learner's process and back into the checker: the pickle a reply carries."""
    return wire.loads(wire.dumps(value), "difflab_exercise_zz")


def test_tensors_that_share_storage_still_share_it_after_the_trip():
    x = torch.arange(12.0)
    base, view, parameter = round_trip((x, x[2:5].view(3, 1), torch.nn.Parameter(x.view(3, 4))))
    base[3] = 100.0
    assert view[1, 0] == 100.0 and parameter[0, 3] == 100.0 and isinstance(parameter, torch.nn.Parameter)
    assert torch.equal(round_trip(torch.tensor(2.5, dtype=torch.bfloat16)), torch.tensor(2.5, dtype=torch.bfloat16))


def test_a_meta_model_and_a_state_dict_survive_the_trip():
    model = loading.build_on_meta(AutoencoderKL, b02.VAE)
    state_dict = b02.vae_state_dict(seed=1)
    got_model, got_state_dict = round_trip((model, state_dict))
    assert type(got_model) is AutoencoderKL and all(p.is_meta for p in got_model.parameters())
    assert type(got_model.config) is type(model.config) and got_model.config == model.config
    assert all(torch.equal(got_state_dict[k], v) for k, v in state_dict.items())


def test_a_real_vae_computes_the_same_after_the_trip():
    torch.manual_seed(0)
    vae = AutoencoderKL(**b02.VAE).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(round_trip(vae).encode(x).latent_dist.mean, vae.encode(x).latent_dist.mean)


def test_a_pipeline_survives_the_trip_tokenizer_and_scheduler_included():
    pipeline = a06.tiny_pipeline()
    got = round_trip(pipeline)
    assert a06.expected_summary(got) == a06.expected_summary(pipeline)
    assert got.tokenizer("a red circle").input_ids == pipeline.tokenizer("a red circle").input_ids
    assert dict(got.scheduler.config) == dict(pipeline.scheduler.config)


class Evil:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize("payload", [Evil(), types.SimpleNamespace(), print, torch.load])
def test_a_reply_cannot_name_a_function_or_a_foreign_class_to_build(payload):
    with pytest.raises(pickle.UnpicklingError):
        wire.loads(pickle.dumps(payload), "difflab_exercise_zz")


@pytest.mark.parametrize("offset, size, stride", [(0, (10**10,), (1,)), (3, (2,), (1,)), (0, (2,), (-1,))])
def test_a_reply_cannot_build_a_tensor_past_its_storage(offset, size, stride):
    with pytest.raises(pickle.UnpicklingError):  # set_ would grow an empty storage to 40 GB here
        wire.rebuild_tensor(wire.rebuild_storage(b""), torch.float32, offset, size, stride, False, False)


def test_an_object_of_the_learners_own_class_is_refused_by_name():
    learner = types.ModuleType("difflab_exercise_zz")
    exec("class Box:\n    pass", learner.__dict__)
    sys.modules["difflab_exercise_zz"] = learner
    try:
        data = pickle.dumps(learner.Box())
    finally:
        del sys.modules["difflab_exercise_zz"]
    with pytest.raises(wire.LearnerObject, match="Box"):
        wire.loads(data, "difflab_exercise_zz")


def test_arguments_changed_in_the_learners_process_change_here_in_place():
    state, names, x, model = {"a": 1}, [1, 2], torch.zeros(3), torch.nn.Linear(2, 2)
    changed = round_trip((({"b": 2}), [3], torch.ones(3), torch.nn.Linear(2, 3)))
    for old, new in zip((state, names, x, model), changed):
        copy_back(old, new)
    assert state == {"b": 2} and names == [3] and torch.equal(x, torch.ones(3)) and model.out_features == 3


@pytest.mark.parametrize("lab", list(LABS))
def test_every_lab_has_five_plausible_wrong_implementations(lab):
    tasks = [row[1] for row in WRONG_IMPLEMENTATIONS if row[0] == lab]
    assert len(tasks) >= 5, f"tests/wrong/{lab}.py has {len(tasks)} wrong implementations; every lab needs 5."
