"""Views of a trace and of a denoising run, live in a notebook and still readable without a kernel.

    from difflab import widgets
    with difflab.trace(unet) as tr:
        latents, x0s = difflab.sampling.sample_trajectory(unet_fn, scheduler, noise, 20)
    widgets.ShapeTraceView(tr)         # every module call: input and output shapes, dtypes, devices
    widgets.MemoryLedgerView(tr)       # bytes per stage and over time, by category
    widgets.TimingView(tr)             # milliseconds per stage and per step
    widgets.StepScrubber(latents, x0s) # slide through the steps: x_t and x̂0
    widgets.Interactive(plot, alpha=FloatSlider(0.3, min=0, max=2))  # like ipywidgets.interact, plus a static copy
    widgets.show_video(frames, fps=8)  # (F, H, W, 3) in [0, 1]: play and scrub; a GIF and a filmstrip when static

Each view shows a live ipywidgets UI where a kernel runs, and a static HTML/PNG copy of itself where none does
(GitHub, nbconvert, a lab reopened after its kernel is gone): see static.py. `import difflab` does not import this
package, so the library stays light for code that never draws.
"""

from .interactive import Interactive
from .memory_view import MemoryLedgerView
from .shape_view import ShapeTraceView
from .step_scrubber import StepScrubber
from .timing_view import TimingView
from .video import VideoView, show_video

__all__ = ["ShapeTraceView", "MemoryLedgerView", "TimingView", "StepScrubber", "Interactive", "VideoView", "show_video"]
