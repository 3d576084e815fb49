"""Hostile command lines: every refusal is one line `difflab: error: …` on stderr, exit status 2, no traceback,
and no file written; --debug shows the traceback instead. Checks run before the model is loaded where they can."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from difflab import cli
from difflab.device import idle_cores, use_idle_cores


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # use_idle_cores then leaves torch's thread count alone


def fails_cleanly(capsys, argv, *words, written=()):
    """Run `difflab argv`; expect status 2 and one stderr line that names `words`; nothing in `written` exists."""
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("difflab: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    for path in written:
        assert not Path(path).exists(), path
    return err


def generate(out, *options):
    return ["generate", "a red circle", "--out", str(out), *options]


REFUSED_OPTIONS = [
    (["--steps", "0"], "--steps: got 0; valid values are whole numbers 1 … 1000"),
    (["--steps", "-5"], "--steps: got -5"),
    (["--steps", "100000"], "--steps: got 100000; the model was trained with 1000 timesteps"),
    (["--guidance", "nan"], "--guidance: got nan; valid values are finite numbers 0 … 100"),
    (["--guidance", "inf"], "--guidance: got inf"),
    (["--guidance", "-1"], "--guidance: got -1.0"),
    (["--guidance", "1e30"], "--guidance: got 1e+30"),
    (["--seed", "-1"], "--seed: got -1; valid values are whole numbers 0 … 2**64 - 1"),
    (["--seed", str(2**64)], f"--seed: got {2**64}"),
    (["--model", "nope"], "--model: got 'nope'; valid values are 'shapes-sd'"),
    (["--model", "shapes-judge"], "--model: got 'shapes-judge'"),
    (["--model", "../weights/shapes-sd"], "--model: got '../weights/shapes-sd'"),
    (["--scheduler", "pndm"], "--scheduler: got 'pndm'; valid values are 'ddpm', 'ddim'"),
]


@pytest.mark.parametrize("options, message", REFUSED_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_generate_refuses_bad_options_in_one_line(capsys, tmp_path, options, message):
    fails_cleanly(capsys, generate(tmp_path / "x.png", *options), message, written=[tmp_path / "x.png"])


@pytest.mark.parametrize("options, message", [REFUSED_OPTIONS[i] for i in (0, 3, 7)], ids=["steps", "guidance", "seed"])
def test_trace_refuses_the_same_options(capsys, options, message):
    fails_cleanly(capsys, ["trace", "a red circle", *options], message)


BAD_OUTPUTS = [
    ("missing/x.png", "--out: got '{tmp}/missing/x.png', but the folder '{tmp}/missing' does not exist"),
    ("x.txt", "--out: got '{tmp}/x.txt'; the name must end in .png, .jpg, .jpeg"),
    ("x", "--out: got '{tmp}/x'; the name must end in"),
    ("x.PNG.json", "Fix: e.g. x.PNG.png"),
    ("folder.png", "--out: got '{tmp}/folder.png', but that is a folder"),
]


@pytest.mark.parametrize("name, message", BAD_OUTPUTS, ids=[name for name, _ in BAD_OUTPUTS])
def test_generate_checks_out_before_any_work(capsys, tmp_path, name, message):
    (tmp_path / "folder.png").mkdir()
    fails_cleanly(capsys, generate(tmp_path / name), message.format(tmp=tmp_path), written=[tmp_path / "missing"])


def test_generate_refuses_a_folder_it_cannot_write(capsys, tmp_path, monkeypatch):
    # The suite runs as root in CI, and root may write anywhere: let the permission check answer "no" instead.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    fails_cleanly(capsys, generate(tmp_path / "x.png"), "is not writable", written=[tmp_path / "x.png"])


def test_generate_refuses_an_out_whose_folder_is_a_file(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    fails_cleanly(capsys, generate(tmp_path / "notes.txt" / "x.png"), "is a file, not a folder")


def test_generate_checks_out_before_the_other_options(capsys, tmp_path):
    fails_cleanly(capsys, generate(tmp_path / "x.txt", "--steps", "0"), "--out:")


@pytest.mark.parametrize("name, message", [("t.txt", "must end in .json"), ("no/t.json", "does not exist")])
def test_trace_checks_chrome_trace_before_any_work(capsys, tmp_path, name, message):
    path = tmp_path / name
    fails_cleanly(capsys, ["trace", "a", "--chrome-trace", str(path)], "--chrome-trace: got", message, written=[path])


def test_a_memory_limit_too_small_is_one_line_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFLAB_MEMORY_LIMIT_GB", "0.000001")
    err = fails_cleanly(capsys, generate(tmp_path / "x.png"), "height × width = 64 × 64", written=[tmp_path / "x.png"])
    assert "DIFFLAB_MEMORY_LIMIT_GB=0.1" in err


def test_a_bad_memory_limit_names_the_variable(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFLAB_MEMORY_LIMIT_GB", "-3")
    fails_cleanly(
        capsys, generate(tmp_path / "x.png"), "DIFFLAB_MEMORY_LIMIT_GB: got '-3'", written=[tmp_path / "x.png"]
    )


def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path):
    for argv in (["--debug", *generate(tmp_path / "x.txt")], [*generate(tmp_path / "x.txt"), "--debug"]):
        with pytest.raises(ValueError, match="--out: got"):
            cli.main(argv)


def test_argparse_errors_still_exit_2(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["generate", "a", "--out", "x.png", "--steps", "many"])
    assert raised.value.code == 2 and "invalid int value: 'many'" in capsys.readouterr().err


def test_generate_writes_the_image_and_warns_once_about_a_long_prompt(capsys, tmp_path):
    out = tmp_path / "x.png"
    assert cli.main(["generate", "a red circle " * 30, "--out", str(out), "--steps", "2"]) == 0
    stdout, err = capsys.readouterr()
    assert out.is_file() and stdout.startswith(f"Wrote {out} (64×64)")
    assert err.count("\n") == 1 and err.startswith("difflab: warning: the text encoder reads at most 77 tokens")
    assert "prompt: 15 tokens dropped" in err  # 90 words + BOS + EOS = 92 tokens, 77 kept


def test_trace_prints_a_short_summary_and_full_prints_everything(capsys):
    assert cli.main(["trace", "a red circle", "--steps", "3"]) == 0
    summary = capsys.readouterr().out
    assert len(summary.splitlines()) <= 16
    assert "pipeline/denoise/step/model" in summary and "3 ×" in summary and "Memory peak:" in summary
    assert "Weights: unet" in summary and "--full" in summary
    assert cli.main(["trace", "a red circle", "--steps", "3", "--full"]) == 0
    full = capsys.readouterr().out
    assert "Memory ledger" in full and "pipeline TextToImagePipeline/denoise/step 2/scheduler" in full


def run_difflab(*argv):
    code = "import sys; from difflab.cli import main; sys.exit(main())"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=120)


def test_the_installed_command_exits_2_with_one_line(tmp_path):
    result = run_difflab("generate", "a", "--out", str(tmp_path / "missing" / "x.png"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("difflab: error: --out:") and result.stderr.count("\n") == 1


def test_the_installed_command_exits_2_on_a_bad_number_and_1_with_debug(tmp_path):
    result = run_difflab("generate", "a", "--out", str(tmp_path / "x.png"), "--guidance", "nan")
    assert result.returncode == 2 and result.stderr == "difflab: error: --guidance: got nan; " + (
        "valid values are finite numbers 0 … 100. Values ≤ 1 switch classifier-free guidance off; 3–8 is typical.\n"
    )
    debug = run_difflab("--debug", "generate", "a", "--out", str(tmp_path / "x.png"), "--guidance", "nan")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and not (tmp_path / "x.png").exists()


def test_torch_gets_one_thread_per_idle_core(tmp_path, monkeypatch):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.00 0.50 0.20 2/103 4242\n")  # this process and one other are runnable
    allowed = len(os.sched_getaffinity(0))
    assert idle_cores(str(loadavg)) == max(1, allowed - 1)
    loadavg.write_text("9.00 9.00 9.00 40/300 4242\n")
    assert idle_cores(str(loadavg)) == 1  # never fewer than one
    assert idle_cores(str(tmp_path / "no such file")) == allowed


def test_omp_num_threads_wins_over_the_idle_cores(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert use_idle_cores() == before == torch.get_num_threads()  # left alone
