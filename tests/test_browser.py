"""Every lab in a real browser: JupyterLab 4 in headless Chromium, driven by Playwright.

For each notebook in labs/ (run in a temporary copy of the course, never the repository's files):

    run all cells   no error output, no traceback anywhere (widget outputs included); every widget drawn
                    (no "Error displaying widget", no "Loading widget..."); every instrument (the difflab.widgets
                    views: ShapeTraceView, MemoryLedgerView, TimingView, StepScrubber, Interactive, VideoView and
                    show_video) live, its static copy hidden; in lab 00, choosing another depth in a TimingView
                    redraws its figure
    save, shut the kernel down, reload the page (a fresh kernel: no widget models, no saved widget state)
                    every instrument shows its static copy, and no widget error or "Loading widget" is visible

Each lab runs in the light theme and is then switched to the dark one (widgets still live); it reopens in the
dark theme and is switched back to the light one.

Screenshots of every lab after the run and after the reopen go to $DIFFLAB_ARTIFACTS, else out/browser/; on a
failure, a screenshot, the browser console and the server log go there too, and the message names them.

Needs Chromium at /usr/bin/chromium (or $DIFFLAB_CHROMIUM), which `.ci/install-browser` installs, and the Python
package playwright, from the test extras. Without them the test is skipped, or fails where
DIFFLAB_BROWSER_REQUIRED=1 (CI sets it). Each half of the labs (this file's LABS_HERE, and test_browser_2.py's)
runs in one process with one JupyterLab server and browser, several minutes on two cores.
"""

import contextlib
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from committed import committed_files

ROOT = Path(__file__).resolve().parents[1]
LABS = [ROOT / path for path in committed_files("labs/*.ipynb")]  # the course's labs, not a learner's own notebooks
# Every other lab here, the rest in test_browser_2.py: two files, so that pytest-xdist (--dist loadfile) can give
# each half a worker of its own, with its own server and browser. This test is the suite's longest.
LABS_HERE = LABS[0::2]
COURSE = ["labs", "starters", "solutions", "handbook"]  # what the temporary course folder holds
ARTIFACTS = Path(os.environ.get("DIFFLAB_ARTIFACTS") or ROOT / "out" / "browser")
CHROMIUM = Path(os.environ.get("DIFFLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
OTHER_THEME = {"light": "dark", "dark": "light"}
INSTRUMENT = re.compile(
    r"\b(ShapeTraceView|MemoryLedgerView|TimingView|StepScrubber|Interactive|VideoView|show_video)\("
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RUN_SECONDS = 300  # bound on one lab's run-all; alone on two cores a lab takes 10–40 s
WAIT_MS = 60_000  # bound on every other wait: the page, the kernel, the widgets

INTERACT_HINT = (
    "; ipywidgets.interact keeps nothing to show without a kernel: display difflab.widgets.Interactive(f, ...) instead"
)

pytestmark = pytest.mark.xdist_group("browser")  # one server, one browser: never split across workers

# In-page helpers over the JupyterLab app (exposed as window.jupyterapp by --LabApp.expose_app_in_browser).
PAGE_HELPERS = """
window.difflabTest = {
  panel: path => Array.from(window.jupyterapp?.shell.widgets('main') ?? []).find(w => w.context?.path === path),
  ready(path) {
    const panel = this.panel(path);
    return !!panel && panel.context.isReady && panel.content.widgets.length > 0 &&
      panel.sessionContext.session?.kernel?.status === 'idle';
  },
  tagCells(path) {  // data-difflab-cell = the cell's index in the .ipynb, for locators
    this.panel(path).content.widgets.forEach((cell, i) => { cell.node.dataset.difflabCell = String(i); });
  },
  runAll() {
    window.difflabRun = null;
    window.jupyterapp.commands.execute('notebook:run-all-cells')
      .then(ok => { window.difflabRun = {ok}; }, error => { window.difflabRun = {ok: false, error: String(error)}; });
  },
  outputs(path) {  // per cell: its outputs as they would be saved (null for markdown)
    return this.panel(path).content.widgets.map(c => c.model.type === 'code' ? c.model.outputs.toJSON() : null);
  },
  undrawnWidgets(path) {  // 'cell i, output k: its text' for every widget output that holds no widget view
    const found = [];
    this.panel(path).content.widgets.forEach((cell, i) => {
      const outputs = cell.model.type === 'code' ? cell.model.outputs.toJSON() : [];
      outputs.forEach((output, k) => {
        const child = cell.outputArea.widgets[k]?.node;  // the output's .jp-OutputArea-child
        if (output.data?.['application/vnd.jupyter.widget-view+json'] &&
            !child?.querySelector('.jp-OutputArea-output .jupyter-widgets')) {  // a view sits inside the output
          found.push(`cell ${i}, output ${k}: ${child?.textContent.trim().slice(0, 100)}`);
        }
      });
    });
    return found;
  },
  cellsWithTracebacks(path) {  // stderr shown anywhere in a cell, in an Output widget too, with a traceback
    const selector = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
    return this.panel(path).content.widgets.flatMap((cell, i) =>
      Array.from(cell.node.querySelectorAll(selector)).some(o => o.textContent.includes("Traceback")) ? [i] : []);
  },
  cellsShowing(path, phrase, visibleOnly) {  // indices of the cells whose text contains the phrase
    return this.panel(path).content.widgets.flatMap((cell, i) =>  // innerText leaves out what CSS hides
      (visibleOnly ? cell.node.innerText : cell.node.textContent).includes(phrase) ? [i] : []);
  },
  async useTheme(theme) {  // re-theme the running app: the kernel and its widgets stay live
    await window.jupyterapp.commands.execute('apputils:change-theme', {theme});
  },
  isDirty(path) {
    return this.panel(path).context.model.dirty;
  },
  async saveAndShutDown(path) {
    const panel = this.panel(path);
    await panel.context.save();
    await panel.sessionContext.shutdown();
    return panel.context.model.dirty;
  },
};
"""


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None."""
    for package in ["playwright", "jupyterlab"]:
        if importlib.util.find_spec(package) is None:
            return f"the Python package {package} is not installed"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = missing_browser()
    if reason:
        message = f"{reason}: run `.ci/install-browser` as root (apt-get install chromium; pip install -e '.[test]')"
        if os.environ.get("DIFFLAB_BROWSER_REQUIRED") == "1":
            pytest.fail(f"DIFFLAB_BROWSER_REQUIRED=1 but {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class LabServer:
    """A JupyterLab server on a temporary copy of the course, with its own settings, data and runtime folders."""

    def __init__(self, home: Path):
        self.home, self.course, self.settings = home, home / "course", home / "settings"
        self.log = home / "server.log"
        for name in COURSE:
            shutil.copytree(ROOT / name, self.course / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.use_theme("light")
        env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}  # the kernel draws inline
        env.update(
            JUPYTER_CONFIG_DIR=str(home / "config"),
            IPYTHONDIR=str(home / "ipython"),
            JUPYTER_DATA_DIR=str(home / "data"),  # notebook trust signatures live here
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.settings),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
            OMP_NUM_THREADS="1",  # one thread for the kernel: the runner has two cores
            MKL_NUM_THREADS="1",
        )
        command = [
            *[sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={self.port}"],
            *["--port-retries=0", "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password="],
            *["--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={self.course}"],
            *["--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None"],
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.course)

    def use_theme(self, theme: str):
        """User settings, read again by every page load: the theme, every cell in the DOM, no news pop-ups."""
        for plugin, values in {
            "apputils-extension/themes": {"theme": THEMES[theme]},
            "notebook-extension/tracker": {"windowingMode": "none"},  # off-screen cells stay in the DOM
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        }.items():
            path = self.settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def wait_until_up(self, seconds: float = 90):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}; see {self.log}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/api/status", timeout=5)
                return
            time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer on {self.url} within {seconds} s; see {self.log}")

    def stop(self):
        """Ask the server to shut down (it stops its kernels), then insist."""
        with contextlib.suppress(OSError):
            urllib.request.urlopen(urllib.request.Request(f"{self.url}/api/shutdown", method="POST"), timeout=5)
        for sig, seconds in [(None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)]:
            if sig is not None:
                self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(seconds)
                return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(browser, tmp_path_factory, request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    labs, log = request.module.LABS_HERE, ARTIFACTS / f"server-{request.module.__name__}.log"
    for old in [log, *(f for lab in labs for f in ARTIFACTS.glob(f"{lab.stem}-*"))]:
        old.unlink(missing_ok=True)  # this module's files from an earlier run; nothing else in the folder
    failed_before = request.session.testsfailed
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()
        if request.session.testsfailed > failed_before:
            shutil.copy(server.log, log)


class NotebookPage:
    """One browser page showing one lab; a failure inside `step` leaves a screenshot and the browser console."""

    def __init__(self, browser, server: LabServer, lab: Path, theme: str):
        self.server, self.path, self.name = server, f"labs/{lab.name}", lab.stem
        cells = json.loads((server.course / self.path).read_text())["cells"]  # as copied, before any run
        self.sources = ["".join(c["source"]) if c["cell_type"] == "code" else "" for c in cells]
        self.instruments = [i for i, source in enumerate(self.sources) if INSTRUMENT.search(source)]
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.page.add_init_script(PAGE_HELPERS)
        self.console = []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.theme = theme
        with self.step("opening the lab"):
            self.open(theme)

    def open(self, theme: str):
        """Load the app on this notebook (a fresh app: no widget models) and wait for an idle kernel."""
        self.theme = theme
        self.server.use_theme(theme)
        self.page.goto(f"{self.server.url}/lab/tree/{self.path}?reset")
        self.page.wait_for_function("path => window.difflabTest.ready(path)", arg=self.path)
        self.wait_for_theme()
        self.js("tagCells", self.path)
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # no file browser: wider cells

    def switch_theme(self):
        self.theme = OTHER_THEME[self.theme]
        self.js("useTheme", THEMES[self.theme])
        self.wait_for_theme()

    def wait_for_theme(self):
        self.page.wait_for_function("theme => document.body.dataset.jpThemeName === theme", arg=THEMES[self.theme])

    def js(self, method: str, *args):
        return self.page.evaluate(f"args => window.difflabTest.{method}(...args)", list(args))

    def cell(self, index: int):
        return self.page.locator(f'[data-difflab-cell="{index}"]')

    def wait_for_widgets(self):
        """Until no widget output still says "Loading widget..." (it then holds a view or an error)."""
        self.page.wait_for_function(
            "() => !document.querySelector('.jp-Notebook').textContent.includes('Loading widget')"
        )

    def cells_showing(self, phrase: str, visible_only: bool) -> str:
        """'' when no cell shows the phrase; else which cells do (by their last line), and a hint for interact."""
        found = self.js("cellsShowing", self.path, phrase, visible_only)
        if not found:
            return ""
        lines = "".join(f"\n  cell {i}: {self.sources[i].strip().splitlines()[-1][:90]}" for i in found)
        hint = INTERACT_HINT if any("interact(" in self.sources[i] for i in found) else ""
        return f"{len(found)} cells show {phrase!r}{hint}{lines}"

    def screenshot(self, stage: str, whole: bool = True):
        """The whole notebook as one tall JPEG (`whole`), and each instrument cell as a PNG.

        The notebook scrolls inside the page, so the window is first made as tall as the notebook (at most
        16,000 px, Chromium's limit) and the notebook scrolled to its top: every cell is then on screen at once.
        """
        scroller = "document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
        height = self.page.evaluate(f"() => {scroller}.scrollHeight")
        self.page.set_viewport_size({"width": 1280, "height": min(height + 200, 16_000)})
        self.page.evaluate(f"() => {{ {scroller}.scrollTop = 0; }}")
        stem = ARTIFACTS / f"{self.name}-{stage}-{self.theme}"
        if whole:
            self.page.screenshot(path=f"{stem}.jpg", type="jpeg", quality=70)
        for index in self.instruments:
            self.cell(index).screenshot(path=f"{stem}-cell{index}.png")
        self.page.set_viewport_size({"width": 1280, "height": 900})

    @contextlib.contextmanager
    def step(self, what: str):
        try:
            yield
        except Exception as error:
            shot = ARTIFACTS / f"{self.name}-FAILED-{self.theme}.jpg"
            console = ARTIFACTS / f"{self.name}-FAILED-console.log"
            with contextlib.suppress(Exception):
                self.screenshot("FAILED", whole=True)
            console.write_text("\n".join(self.console))
            raise AssertionError(
                f"lab {self.name} ({self.theme} theme), {what}: {error}\n"
                f"  screenshot: {shot}\n  browser console: {console}\n  server logs: {ARTIFACTS}/server-*.log"
            ) from error

    def close(self):
        self.context.close()


def cell_errors(outputs: list) -> list[str]:
    """'cell i: ename: evalue' for every error output and every stderr traceback."""
    found = []
    for index, cell in enumerate(outputs):
        for output in cell or []:
            if output["output_type"] == "error":
                found.append(f"cell {index}: {output['ename']}: {output['evalue']}")
            elif output.get("name") == "stderr" and "Traceback" in "".join(output["text"]):
                found.append(f"cell {index}: stderr traceback: {''.join(output['text'])[-300:]}")
    return found


def run_all_and_check_live(notebook: NotebookPage):
    with notebook.step("running all cells"):
        notebook.js("runAll")
        notebook.page.wait_for_function("() => window.difflabRun !== null", timeout=RUN_SECONDS * 1000)
        errors = cell_errors(notebook.js("outputs", notebook.path))
        assert not errors, "error outputs:\n  " + "\n  ".join(errors)
        assert not (cells := notebook.js("cellsWithTracebacks", notebook.path)), f"cells {cells} show a traceback"
        assert notebook.page.evaluate("() => window.difflabRun").get("ok"), "run-all did not complete"
    with notebook.step("drawing the widgets"):
        notebook.wait_for_widgets()
        assert not (shown := notebook.cells_showing("Error displaying widget", visible_only=False)), shown
        undrawn = notebook.js("undrawnWidgets", notebook.path)
        assert not undrawn, "widget outputs without a widget view:\n  " + "\n  ".join(undrawn)
        for index in notebook.instruments:
            cell = notebook.cell(index)
            assert cell.locator(".difflab-live").first.is_visible(), f"cell {index}: its view is not live"
            assert cell.locator(".difflab-static").count() == 1, f"cell {index}: expected one static copy"
            assert not cell.locator(".difflab-static").is_visible(), f"cell {index}: static copy beside the live view"


def check_opens_unmodified(notebook: NotebookPage):
    """Opening a lab does not mark it modified: its kernelspec and language_info are stored as JupyterLab writes
    them. (language_info.version is the kernel's Python; on another Python JupyterLab rewrites it, so only here.)"""
    stored = json.loads((notebook.server.course / notebook.path).read_text())["metadata"]["language_info"]
    if stored.get("version") != platform.python_version():
        return
    with notebook.step("checking that opening the lab did not mark it modified"):
        notebook.page.wait_for_timeout(1000)  # the kernel's language_info arrives with its first idle status
        assert not notebook.js("isDirty", notebook.path), (
            "opening it marked it modified: its stored kernelspec or language_info differs from what JupyterLab "
            "writes (see tests/test_notebooks_stored_clean.py)"
        )


def check_a_control_changes_its_view(notebook: NotebookPage):
    """In a TimingView, choose 'depth 2': the figure is drawn again (a different PNG) and the table lists steps."""
    from playwright.sync_api import expect

    index = next(i for i, source in enumerate(notebook.sources) if "TimingView(" in source)
    with notebook.step(f"choosing depth 2 in the TimingView of cell {index}"):
        view = notebook.cell(index).locator(".difflab-live")
        picture = view.locator("img").first
        before = picture.get_attribute("src")
        view.locator("select").select_option(label="depth 2")
        expect(picture).not_to_have_attribute("src", before)
        expect(view).to_contain_text("denoise/step 0")


def check_saved_file(notebook: NotebookPage):
    """On disk: no widget state; each instrument as two outputs, the live widget then the static copy."""
    with notebook.step("reading the saved notebook"):
        saved = json.loads((notebook.server.course / notebook.path).read_text())
        assert "widgets" not in saved["metadata"], "widget state was saved in the notebook"
        for index in notebook.instruments:
            kinds = [sorted(o.get("data", {})) for o in saved["cells"][index]["outputs"]]
            assert [[WIDGET_VIEW, "text/plain"], ["text/html"]] == kinds[-2:], f"cell {index} saved {kinds}"


def check_static_copies(notebook: NotebookPage):
    with notebook.step("reopening with a fresh kernel"):
        notebook.wait_for_widgets()
        for phrase in ["Error displaying widget", "Loading widget"]:
            assert not (shown := notebook.cells_showing(phrase, visible_only=True)), shown
        for index in notebook.instruments:
            cell = notebook.cell(index)
            assert cell.locator(".difflab-live").count() == 0, f"cell {index}: a live view without a kernel"
            assert cell.locator(".difflab-static").is_visible(), f"cell {index}: its static copy is hidden"
            pictures = cell.locator(".difflab-static img")
            drawn = pictures.evaluate_all("images => images.every(i => i.complete && i.naturalWidth > 0)")
            assert drawn, f"cell {index}: a picture in the static copy did not load"


@pytest.mark.parametrize("lab", LABS_HERE, ids=lambda lab: lab.stem)
def test_lab_runs_live_then_reopens_with_static_copies(browser, lab_server, lab):
    notebook = NotebookPage(browser, lab_server, lab, "light")
    try:
        check_opens_unmodified(notebook)
        run_all_and_check_live(notebook)
        if lab.stem == "00_start_here":
            check_a_control_changes_its_view(notebook)
        with notebook.step("taking screenshots of the live lab, in both themes"):
            notebook.screenshot("run")
            notebook.switch_theme()  # dark; the kernel and the widgets stay live
            notebook.screenshot("run", whole=False)
        with notebook.step("saving and shutting the kernel down"):
            assert not notebook.js("saveAndShutDown", notebook.path), "the notebook is still modified after saving"
        check_saved_file(notebook)
        with notebook.step("reopening the lab"):
            notebook.open("dark")
        check_static_copies(notebook)
        with notebook.step("taking screenshots of the reopened lab, in both themes"):
            notebook.screenshot("reopen")
            notebook.switch_theme()  # light
            notebook.screenshot("reopen", whole=False)
    finally:
        notebook.close()
