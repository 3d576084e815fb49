import base64
import gc
import io
import re
import subprocess
import sys
import weakref

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

import difflab
from difflab import schedulers, toy, widgets
from difflab.sampling import sample_trajectory
from difflab.widgets import static
from difflab.widgets.interactive import output_html
from difflab.widgets.step_scrubber import image_for_imshow
from difflab.widgets.timing_view import step_lines

matplotlib.use("Agg")  # headless: nothing may try to open a window (the views never use pyplot themselves)

STEPS = 4
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def toy_run():
    """A traced DDIM run of the exact denoiser on the 2-D ring: (trace, latents (5, 100, 2), x0s (4, 100, 2))."""
    ddim = schedulers.DDIMScheduler(clip_sample=False)
    denoiser = toy.ExactDenoiser(toy.GaussianMixture2D.ring(), ddim.alphas_cumprod)
    noise = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    with difflab.trace() as tr:
        latents, x0s = sample_trajectory(denoiser, ddim, noise, STEPS)
    return tr, latents, x0s


@pytest.fixture(scope="module")
def conv_run():
    """A traced 2-step run of a small conv net on (2, 4, 8, 8) latents: (trace, latents, x0s)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.GroupNorm(2, 8), torch.nn.SiLU(), torch.nn.Conv2d(8, 4, 1)
    )
    ddim = schedulers.DDIMScheduler(clip_sample=False)
    with difflab.trace(net) as tr, torch.no_grad():
        latents, x0s = sample_trajectory(lambda x, t: net(x), ddim, torch.randn(2, 4, 8, 8), 2)
    return tr, latents, x0s


def png_images(html: str) -> list[Image.Image]:
    """Every base64 PNG <img> in a piece of HTML, decoded."""
    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_import_difflab_loads_neither_ipywidgets_nor_matplotlib():
    heavy = ("ipywidgets", "matplotlib", "difflab.widgets")
    code = f"import sys, difflab; print([m for m in sys.modules if m.startswith({heavy})])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shape_view_shows_modules_shapes_dtypes_and_devices(conv_run):
    html = widgets.ShapeTraceView(conv_run[0]).static_html()
    for fact in ["Sequential.0", "Conv2d", "GroupNorm", "denoise/step 1/model", "(2, 4, 8, 8) float32 cpu"]:
        assert fact in html
    assert "(2, 4, 8, 8) float32 cpu → (2, 8, 8, 8) float32 cpu" in html  # the first conv widens 4 → 8 channels
    assert html.count("<details open><summary><b>step ") == 2  # one tree branch per step


def test_shape_view_filter_narrows_rows_and_static_html(conv_run):
    view = widgets.ShapeTraceView(conv_run[0])
    assert len(view.rows) == 10  # 2 steps × (the Sequential + its 4 leaves)
    view.filter.value = "CONV"  # case does not matter
    assert [r["class"] for r in view.rows] == ["Conv2d"] * 4
    assert "GroupNorm" not in view.static_html() and "4 of 10 module calls match" in view.static_html()
    view.filter.value = "step 1"
    assert {r["stage"] for r in view.rows} == {"denoise/step 1/model"}


def test_shape_view_caps_rows_and_explains_a_trace_without_modules(conv_run, toy_run):
    capped = widgets.ShapeTraceView(conv_run[0], max_rows=3)
    assert capped.table.value.count("<tr>") == 1 + 3  # header + 3 rows
    assert "showing the first 3" in capped.static_html()
    assert "difflab.trace(model)" in widgets.ShapeTraceView(toy_run[0]).static_html()


def test_memory_view_depth_picks_stages_and_names_peak_owners(toy_run):
    tr = toy_run[0]
    view = widgets.MemoryLedgerView(tr)
    assert [r["stage"] for r in view.rows()] == ["denoise"]
    assert [label for label, _ in view.depth.options] == ["depth 1: top level", "depth 2", "depth 3", "all stages"]
    view.depth.value = 2
    assert [r["stage"] for r in view.rows()] == [f"denoise/step {i}" for i in range(STEPS)]
    html = view.static_html()
    assert "denoise/step 3" in html and "peak_owner" in html and "denoise/step 3/model" in html
    assert len(png_images(html)) == 1
    view.depth.value = 0
    assert len(view.rows()) == 1 + STEPS * 3  # denoise, and each step with its model and scheduler
    with pytest.raises(ValueError, match="depth: got 4; this trace's stages go 1 to 3 deep"):
        widgets.MemoryLedgerView(tr, depth=4)


def test_timing_view_bars_and_per_step_lines(toy_run):
    tr = toy_run[0]
    view = widgets.TimingView(tr, depth=2)
    html = view.static_html()
    assert "denoise/step 0" in html and "wall_ms" in html
    (image,) = png_images(html)
    assert image.width > 500 and image.height > 400
    (steps, series) = step_lines(tr)["denoise"]
    assert steps == list(range(STEPS)) and list(series) == ["whole step", "model", "scheduler"]
    assert all(m + s <= w for w, m, s in zip(*series.values()))  # children fit inside their step


def test_step_scrubber_slider_changes_the_shown_step(toy_run):
    _, latents, x0s = toy_run
    view = widgets.StepScrubber(latents, x0s, static_steps=3)
    assert view.slider.max == STEPS  # STEPS steps and the finished sample
    first = view.panel.value
    assert "<b>step 0</b>" in first
    view.slider.value = 3
    assert "<b>step 3</b>" in view.panel.value and view.panel.value != first
    view.slider.value = STEPS
    assert "<b>finished</b>" in view.panel.value
    (strip,) = png_images(view.static_html())
    assert strip.height / strip.width == pytest.approx(3 / 2, abs=0.01)  # 3 positions, a row each, of 2 panels


def test_step_scrubber_draws_latent_images_with_decode_and_titles(conv_run):
    _, latents, x0s = conv_run  # (3, 2, 4, 8, 8) and (2, 2, 4, 8, 8)
    decoded = []
    decode = lambda z: decoded.append(z.shape) or z[:, :3].tanh()  # (B, 3, 8, 8) "image"
    view = widgets.StepScrubber(latents, x0s, decode=decode, titles=["t = 900", "t = 400", "done"], static_steps=2)
    assert [name for name, _, _ in view.pictures(0)] == ["latent x_t (into this step)", "prediction x̂0", "decode(x̂0)"]
    assert set(decoded) == {(2, 4, 8, 8)}  # decode sees x̂0 as the model made it
    assert "t = 900" in view.panel.value and len(png_images(view.static_html())) == 1


def test_images_are_read_as_rgb_grey_or_a_channel_mosaic():
    rgb, _, _ = image_for_imshow(toy.picture(16))  # (3, 16, 16) in [-1, 1]
    assert rgb.shape == (16, 16, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert image_for_imshow(torch.ones(1, 3, 4, 4))[0].max() == 1  # (1, C, H, W): the first of the batch
    mosaic, colours, label = image_for_imshow(torch.randn(4, 8, 8))
    assert mosaic.shape == (18, 18) and colours["cmap"] == "RdBu_r"  # 2 × 2 channels, each with a blank line
    assert "channels 0–3" in label


def test_step_scrubber_rejects_mismatched_or_shapeless_steps(toy_run):
    _, latents, x0s = toy_run
    with pytest.raises(ValueError, match="latents, x0s: got 3 and 4"):
        widgets.StepScrubber(latents[:3], x0s)
    with pytest.raises(ValueError, match=r"latents: got steps of shape \(100, 3\)"):
        widgets.StepScrubber(torch.zeros(5, 100, 3), x0s)
    with pytest.raises(ValueError, match="titles: got 2 titles for 5 positions"):
        widgets.StepScrubber(latents, x0s, titles=["a", "b"])


@pytest.fixture(scope="module")
def views(toy_run, conv_run):
    """One of each view, built while weak references to every matplotlib figure created are collected."""
    made = []
    init = Figure.__init__
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "__init__", lambda fig, *a, **k: made.append(weakref.ref(fig)) or init(fig, *a, **k))
        built = [
            widgets.ShapeTraceView(conv_run[0]),
            widgets.MemoryLedgerView(toy_run[0]),
            widgets.TimingView(toy_run[0]),
            widgets.StepScrubber(toy_run[1], toy_run[2], static_steps=2),
        ]
        outputs = [view.outputs() for view in built]
    return built, outputs, made


def test_every_view_displays_its_live_widget_then_its_static_copy(views):
    for view, (live, copy_bundle) in zip(*views[:2]):
        assert set(live) == {WIDGET_VIEW, "text/plain"} and set(copy_bundle) == {"text/html"}
        assert live[WIDGET_VIEW]["model_id"] == view.widget.model_id
        assert live["text/plain"] == repr(view) and type(view).__name__ in live["text/plain"]
        assert "difflab-live" in view.widget._dom_classes  # what the static copy's CSS looks for
        copy = copy_bundle["text/html"]
        assert copy.startswith("<style>") and '<div class="difflab-static">' in copy and "run the cell" in copy
        assert copy.endswith(view.static_html() + "</div>")
    assert [len(png_images(c["text/html"])) for _, c in views[1]] == [0, 1, 1, 1]  # shape view: all HTML


def test_displaying_a_view_publishes_two_outputs_in_order(views, monkeypatch):
    published = []
    monkeypatch.setattr(static, "display", lambda bundle, raw: published.append((bundle, raw)))
    view = views[0][2]  # the TimingView
    view._ipython_display_()
    assert published == [(bundle, True) for bundle in view.outputs()]


def test_static_copy_colours_follow_the_jupyterlab_theme(views):
    copy = views[1][1][1]["text/html"]  # the MemoryLedgerView's static copy
    assert "var(--jp-ui-font-color2, gray)" in copy and "color:gray" not in copy.replace(" ", "")


def test_interactive_runs_the_function_once_and_keeps_its_first_output():
    calls = []

    def report(alpha, label):
        calls.append(alpha)
        print(f"{label}: alpha = {alpha}")

    slider = ipywidgets.FloatSlider(0.3, min=0, max=2)
    view = widgets.Interactive(report, alpha=slider, label=ipywidgets.Dropdown(options=["noise", "signal"]))
    assert calls == [0.3] and slider.description == "alpha"  # run once; labelled by the argument, as interact does
    assert view.out.outputs == ({"output_type": "stream", "name": "stdout", "text": "noise: alpha = 0.3\n"},)
    first = view.static_html()
    assert "report" in first and "alpha = 0.3, label = &#x27;noise&#x27;" in first and "noise: alpha = 0.3" in first
    slider.value = 1.5  # the function runs again and the live view changes; the static copy stays
    assert calls == [0.3, 1.5] and "alpha = 1.5" in view.out.outputs[0]["text"]
    assert view.static_html() == first and repr(view) == "Interactive(report, alpha = 1.5, label = 'noise')"
    assert set(view.outputs()[0]) == {WIDGET_VIEW, "text/plain"}


def test_interactive_shows_a_later_error_in_its_view_and_names_a_bad_control():
    def invert(x):
        print(1 / x)

    slider = ipywidgets.IntSlider(1, min=0, max=2)
    view = widgets.Interactive(invert, x=slider)
    slider.value = 0  # no cell is running: the traceback goes into the view
    (error,) = view.out.outputs
    assert error["name"] == "stderr" and "ZeroDivisionError" in error["text"]
    with pytest.raises(ZeroDivisionError):  # at the starting values the cell itself fails
        widgets.Interactive(invert, x=ipywidgets.IntSlider(0))
    with pytest.raises(ValueError, match=r"x: got \(0, 2\); give a control widget for every argument"):
        widgets.Interactive(invert, x=(0, 2))


def test_interactive_turns_a_displayed_figure_into_an_img_tag():
    png = base64.b64encode(static.png_bytes(static.new_figure(2, 1))).decode()
    (image,) = png_images(output_html({"output_type": "display_data", "data": {"image/png": png + "\n"}}))
    assert image.size == (180, 90)  # 2 × 1 inches at 90 dpi


def test_views_leave_no_figures_open_and_save_pngs(views, tmp_path):
    built, _, made = views
    for i, view in enumerate(built[1:]):  # the shape view draws no figure
        path = view.save_png(tmp_path / f"{i}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gc.collect()
    assert len(made) >= 3 and plt.get_fignums() == []
    assert all(ref() is None for ref in made)  # no view keeps a figure alive once it is drawn
