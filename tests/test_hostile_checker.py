"""The lab checker against hostile learner files: each one gets a specific, clean verdict, fast, and the
checker's own process (a notebook's kernel) comes through untouched.

Most cases are lab a01's reference solution with a few hostile lines added, at import or at the start of
`alpha_bar`, checked with a01's real checks under short time limits.
"""

import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

import difflab
from difflab import noise
from difflab.exercises import NOT_YET, check, run_checks
from difflab.exercises import a01 as a01_checks
from difflab.exercises.core import DONE, WRONG, Lab, run_lab
from difflab.exercises.launch import Zygote, launcher
from difflab.exercises.starters import make_starter

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
SOLUTION = (SOLUTIONS / "a01.py").read_text()
STARTER = make_starter(SOLUTION, "a01")  # as generated, not the learner's starters/a01.py (their work)
TASKS = ["alpha_bar", "add_noise", "snr"]


def quick_lab(time_limit: float = 3.0, import_limit: float = 3.0) -> Lab:
    """Lab a01's own checks with short time limits: a hang costs 3 s, still ample for a correct task on a busy CI."""
    lab = Lab("a01", a01_checks.lab.title, import_time_limit=import_limit)
    lab.tasks = [replace(task, time_limit=time_limit) for task in a01_checks.lab.tasks]
    return lab


def learner_file(tmp_path, at_import: str = "", in_alpha_bar: str = "", base: str = SOLUTION) -> Path:
    """`base` with `at_import` appended, and `in_alpha_bar` run first whenever alpha_bar is called."""
    text = base + "\n" + at_import + "\n"
    if in_alpha_bar:
        body = "".join(f"    {line}\n" for line in in_alpha_bar.splitlines())
        text += f"\n_alpha_bar = alpha_bar\n\n\ndef alpha_bar(betas):\n{body}    return _alpha_bar(betas)\n"
    path = tmp_path / "a01.py"
    path.write_text(text)
    return path


def verdicts(path: Path, lab: Lab | None = None) -> dict:
    report = run_lab(lab or quick_lab(), path, path.name, SOLUTIONS)
    return {r.name: (r.status, r.reason) for r in report.results}


def everywhere(status, words):
    return {task: (status, words) for task in TASKS}


def in_alpha_bar_only(status, words):
    return {"alpha_bar": (status, words), "add_noise": (DONE, ""), "snr": (DONE, "")}


CASES = [  # id, at import, first in alpha_bar, expected {task: (status, words in the reason)}
    ("os._exit at import", "import os\nos._exit(0)", "", everywhere(WRONG, "os._exit(0) at import")),
    ("os._exit in a task", "", "import os\nos._exit(0)", in_alpha_bar_only(WRONG, "os._exit(0) while running")),
    ("sys.exit at import", "import sys\nsys.exit(0)", "", everywhere(WRONG, "sys.exit(0) at import")),
    ("sys.exit in a task", "", "import sys\nsys.exit(0)", in_alpha_bar_only(WRONG, "sys.exit(0) while running")),
    ("raise SystemExit(3)", "", "raise SystemExit(3)", in_alpha_bar_only(WRONG, "sys.exit(3) while running")),
    ("KeyboardInterrupt", "", "raise KeyboardInterrupt", in_alpha_bar_only(WRONG, "raised KeyboardInterrupt")),
    (
        "SIGINT to itself",
        "",
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(1)",
        in_alpha_bar_only(WRONG, "raised KeyboardInterrupt"),
    ),
    (
        "SIGKILL at import",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "",
        everywhere(WRONG, "killed (SIGKILL) at import"),
    ),
    (
        "SIGKILL in a task",
        "",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        in_alpha_bar_only(WRONG, "killed (SIGKILL) while running alpha_bar"),
    ),
    (
        "SIGSEGV in a task",
        "",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
        in_alpha_bar_only(WRONG, "crashed with SIGSEGV"),
    ),
    ("loop at import", "while True:\n    pass", "", everywhere(WRONG, "took longer than 3 s at import")),
    (
        "loop in a task, under except Exception",
        "",
        "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
        in_alpha_bar_only(WRONG, "took longer than 3 s while running alpha_bar"),
    ),
    (
        "loop in a task, under except BaseException, ignoring SIGTERM",
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
        in_alpha_bar_only(WRONG, "a loop that never ends?"),
    ),
    ("sleep in a task", "", "import time\ntime.sleep(600)", in_alpha_bar_only(WRONG, "took longer than 3 s")),
    (
        "an exception whose message never ends",
        "class Endless(Exception):\n    def __str__(self):\n        while True:\n            pass",
        "raise Endless()",
        in_alpha_bar_only(WRONG, "took longer than"),
    ),
    (
        "huge allocation in a task",
        "",
        "import torch\ntorch.empty(2**40, dtype=torch.uint8)",
        in_alpha_bar_only(WRONG, "used more than"),
    ),
    ("huge allocation at import", "big = bytearray(2**40)", "", everywhere(WRONG, "used more than")),
    (
        "recursion",
        "",
        "def down(n):\n    return down(n + 1)\ndown(0)",
        in_alpha_bar_only(WRONG, "raised RecursionError"),
    ),
    (
        "garbage on the checker's pipe",
        "import os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b'\\xff' * 64)\n"
        "    except OSError:\n        pass",
        "",
        everywhere(WRONG, "cannot read"),
    ),
    (
        "closing every pipe",
        "import os\nos.closerange(3, 256)",
        "",
        everywhere(WRONG, "at import"),
    ),
    (
        "patching the checks' comparisons",
        "import difflab.exercises.expect as e, difflab.exercises.a01 as c\n"
        "e.expect_tensor = c.expect_tensor = lambda *a, **k: None",
        "return betas",
        in_alpha_bar_only(WRONG, "alpha_bar(linear betas)"),
    ),
    (
        "deleting builtins at import",
        "import builtins\nbuiltins.__dict__.clear()",
        "",
        everywhere(DONE, ""),
    ),
    ("changing directory", "import os\nos.chdir('/')", "", everywhere(DONE, "")),
    (
        "huge and binary output",
        "import os\nprint('x' * 10_000_000)\nos.write(1, bytes(range(256)) * 4000)\nos.write(2, b'\\x00' * 100_000)",
        "print('called')",
        everywhere(DONE, ""),
    ),
    (
        "a thread and a forked process left running",
        "import os, threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
        "if os.fork() == 0:\n    time.sleep(600)\n    os._exit(0)",
        "",
        everywhere(DONE, ""),
    ),
    ("hiding pickle", "import sys\nsys.modules['pickle'] = None", "", everywhere(DONE, "")),
]


@pytest.mark.parametrize("case, at_import, in_alpha_bar, expected", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_file_gets_a_clean_verdict(tmp_path, case, at_import, in_alpha_bar, expected):
    path = learner_file(tmp_path, at_import, in_alpha_bar)
    cwd, start = os.getcwd(), time.monotonic()
    got = verdicts(path)
    for task, (status, words) in expected.items():
        assert got[task][0] == status and words in got[task][1], (task, got)
    assert time.monotonic() - start < 30 and os.getcwd() == cwd


def test_patching_the_library_the_checks_compute_with_fools_nothing_and_changes_nothing_here(tmp_path):
    before = (noise.alpha_bar, noise.snr)
    wrong = SOLUTION.replace("cumprod(1 - betas", "cumsum(1 - betas").replace("/ (1 - alpha_bar)", "* 2")
    patch = "import difflab.noise\ndifflab.noise.alpha_bar = alpha_bar\ndifflab.noise.snr = snr"
    got = verdicts(learner_file(tmp_path, patch, base=wrong))
    assert got["alpha_bar"][0] == got["snr"][0] == WRONG and "first mismatch" in got["alpha_bar"][1], got
    assert got["add_noise"][0] == DONE
    assert (noise.alpha_bar, noise.snr) == before


SOLUTION_PATH = repr(str(SOLUTIONS / "a01.py"))
USING_SOLUTIONS = {
    "import statement": f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom solutions.a01 import *",
    "importlib": "import importlib.util as u\n"
    f"spec = u.spec_from_file_location('s', {SOLUTION_PATH})\nm = u.module_from_spec(spec)\n"
    "spec.loader.exec_module(m)\nalpha_bar, add_noise, snr = m.alpha_bar, m.add_noise, m.snr",
    "runpy": f"import runpy\nglobals().update(runpy.run_path({SOLUTION_PATH}))",
    "exec(open())": f"exec(open({SOLUTION_PATH}).read())",
    "a shell's cat": f"import subprocess\nexec(subprocess.run(['cat', {SOLUTION_PATH}], capture_output=True).stdout)",
}


@pytest.mark.parametrize("how", list(USING_SOLUTIONS))
def test_a_file_that_runs_the_solutions_is_reported_not_passed(tmp_path, how):
    got = verdicts(learner_file(tmp_path, USING_SOLUTIONS[how], base=STARTER))
    assert {status for status, _ in got.values()} == {WRONG}, got
    assert all("uses solutions/a01.py at import" in reason for _, reason in got.values()), got


def test_solutions_read_inside_one_function_make_only_that_task_wrong(tmp_path):
    body = f"import runpy\nreturn runpy.run_path({SOLUTION_PATH})['alpha_bar'](betas)"
    got = verdicts(learner_file(tmp_path, in_alpha_bar=body, base=STARTER))
    assert got["alpha_bar"][0] == WRONG and "uses solutions/a01.py while running alpha_bar" in got["alpha_bar"][1]
    assert got["add_noise"][0] == got["snr"][0] == NOT_YET


def test_a_starter_that_is_a_link_to_the_solution_is_reported(tmp_path):
    link = tmp_path / "a01.py"
    link.symlink_to(SOLUTIONS / "a01.py")
    report = run_checks("a01", file=link)
    assert all(r.status == WRONG and "uses solutions/a01.py" in r.reason for r in report.results), str(report)


RETURNS = {  # what snr returns → words of the reason
    "lambda: 1": "returned a lambda, which cannot be sent back",
    "(x for x in alpha_bar)": "cannot be pickled (cannot pickle 'generator' object)",
    "Box()": "an object of type Box defined in your file",
    "snr": "the function snr, defined in your file,",
    "(alpha_bar / (1 - alpha_bar)).as_subclass(MyTensor)": "a MyTensor (a subclass of torch.Tensor)",
    "'0.5'": "should return a torch.Tensor, got str",
    "(alpha_bar / (1 - alpha_bar)).numpy()": "should return a torch.Tensor, got ndarray",
    "(alpha_bar / (1 - alpha_bar)).to_sparse()": "tensor; return a dense one",
    "torch.nn.Linear(1, 1).load_state_dict(torch.nn.Linear(1, 1).state_dict())": "got _IncompatibleKeys",
    "__import__('numpy').random.default_rng(0)": "numpy.random._pickle.__generator_ctor",
}


@pytest.mark.parametrize("returned", list(RETURNS))
def test_a_result_the_checker_cannot_accept_is_wrong_with_its_kind(tmp_path, returned):
    base = SOLUTION.replace("return alpha_bar / (1 - alpha_bar)", f"return {returned}")
    classes = "class Box:\n    pass\n\n\nclass MyTensor(torch.Tensor):\n    pass\n"
    got = verdicts(learner_file(tmp_path, classes, base=base))
    assert got["snr"][0] == WRONG and RETURNS[returned] in got["snr"][1], got["snr"]
    assert got["alpha_bar"][0] == got["add_noise"][0] == DONE


def test_a_forged_reply_cannot_run_code_in_the_checker(tmp_path):
    marker = tmp_path / "ran-in-the-checker"
    forged = (
        "import os, pickle, struct\n"
        "class Evil:\n"
        f"    def __reduce__(self):\n        return (os.system, ('touch {marker}',))\n"
        "data = pickle.dumps(('imported', ['alpha_bar'], Evil(), []))\n"
        "for fd in range(3, 256):\n"
        "    try:\n        os.write(fd, struct.pack('!Q', len(data)) + data)\n    except OSError:\n        pass"
    )
    got = verdicts(learner_file(tmp_path, forged))
    assert all(status == WRONG and "cannot read" in reason for status, reason in got.values()), got
    assert not marker.exists()


def test_processes_the_learners_code_starts_end_with_it(tmp_path):
    pid_file = tmp_path / "pid"
    fork = "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(600)\n    os._exit(0)\n"
    fork += f"open({str(pid_file)!r}, 'w').write(str(pid))"
    assert all(status == DONE for status, _ in verdicts(learner_file(tmp_path, fork)).values())
    stat = Path(f"/proc/{int(pid_file.read_text())}/stat")
    time.sleep(0.2)  # for whoever adopted it to reap it
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")  # gone, or a zombie: not running


def test_an_exception_subclassing_value_error_still_counts_as_value_error(tmp_path):
    text = (SOLUTIONS / "a05.py").read_text().replace("raise ValueError(", "raise ShapeError(")
    path = tmp_path / "a05.py"
    path.write_text(text + "\n\nclass ShapeError(ValueError):\n    pass\n")
    report = run_checks("a05", file=path)
    assert report.passed, str(report)


def test_import_problems_are_reported_on_every_task(tmp_path):
    got = verdicts(learner_file(tmp_path, "def snr(:\n    pass"))
    assert all("does not import: SyntaxError" in reason for _, reason in got.values())
    got = verdicts(learner_file(tmp_path, "import no_such_module_here"))
    assert all("ModuleNotFoundError" in reason and "(a01.py, line" in reason for _, reason in got.values())
    without_snr = SOLUTION[: SOLUTION.index("def snr")]
    assert verdicts(learner_file(tmp_path, base=without_snr))["snr"] == (
        NOT_YET,
        "a01.py defines no `snr`; copy its def line back from the lab's starter.",
    )
    assert "does not exist" in str(check("a01", file=tmp_path / "missing.py"))
    assert "no lab 'zz'" in str(check("zz"))


def test_the_learners_file_is_never_imported_into_the_checkers_process(tmp_path):
    run_checks("a01", solutions=True)  # the checker's own imports, done once
    before = set(sys.modules)
    assert "wave" not in before
    report = check("a01", file=learner_file(tmp_path, "import wave, colorsys"))
    assert report.passed and set(sys.modules) == before


def test_a_check_from_a_worker_thread_has_the_same_limits(tmp_path):
    path = learner_file(tmp_path, in_alpha_bar="while True:\n    pass")
    reports = []
    worker = threading.Thread(target=lambda: reports.append(run_lab(quick_lab(), path, "a01.py", SOLUTIONS)))
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    assert reports[0].results[0].status == WRONG and "took longer than 3 s" in reports[0].results[0].reason


def test_ctrl_c_during_a_check_ends_the_learners_process_and_says_so(tmp_path):
    marker = tmp_path / "looping"
    path = learner_file(tmp_path, in_alpha_bar=f"open({str(marker)!r}, 'w').close()\nwhile True:\n    pass")

    def interrupt_once_looping():
        while not marker.exists():
            time.sleep(0.02)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt_once_looping, daemon=True).start()
    start = time.monotonic()
    report = check("a01", file=path)
    assert time.monotonic() - start < 15
    assert [r.status for r in report.results] == [NOT_YET] * 3 and "interrupted" in report.results[0].reason


def test_check_never_raises_not_even_system_exit(monkeypatch):
    def broken(*args, **kwargs):
        raise SystemExit(2)

    monkeypatch.setattr("difflab.exercises.run_checks", broken)
    assert "SystemExit" in str(difflab.check("a01"))


@pytest.mark.skipif(not isinstance(launcher(), Zygote), reason="the zygote is the parent only on Linux")
def test_killing_its_parent_process_ends_no_check(tmp_path):
    path = learner_file(tmp_path, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert all(status == DONE for status, _ in verdicts(path).values())
    assert run_checks("a01", solutions=True).passed  # a new zygote serves the next check


def test_a_fresh_interpreter_per_check_works_too(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFLAB_CHECK_ZYGOTE", "0")
    got = verdicts(learner_file(tmp_path, in_alpha_bar="import os\nos._exit(3)"), quick_lab(10, 60))
    assert got["alpha_bar"][0] == WRONG and "os._exit(3) while running alpha_bar" in got["alpha_bar"][1]
    assert got["add_noise"][0] == got["snr"][0] == DONE
