"""StepScrubber: slide through a denoising run and watch x_t and the model's guess of x0 at every step.

    xs, x0s = difflab.sampling.sample_trajectory(model, scheduler, noise, 20)   # (21, ...) and (20, ...)
    StepScrubber(xs, x0s, decode=vae_decode, titles=[f"t = {t}" for t in scheduler.timesteps] + ["done"])

Position i shows the latent x_t that went into step i and the prediction x̂0 made at step i; with `decode`, also
decode(x̂0), the picture the model is aiming for (decoding the noisy x_t itself would show mostly noise). When
`latents` has one entry more than `x0s` (as `sample_trajectory` returns), the last position is the finished
sample. `titles`, if given, names every position (e.g. the timesteps).

Pictures are drawn by what they are:
    (N, 2)                 a point cloud: a scatter plot, limits fixed across steps so the scale change shows
    (C, H, W), (1, C, H, W) an image (the first of a batch): 3 channels as RGB, [-1, 1] → [0, 1]; 1 channel as
                           grey; any other count (a 4-channel latent) as a mosaic of channels, red > 0 > blue

What to look for:
- x̂0 settles long before x_t does: the early steps decide the layout, the late steps only remove noise.
- For the toy mixture, x̂0 starts at the data's mean (the ring's centre) and splits towards the modes.
- A 4-channel latent looks like a blurry, false-colour version of the image: the VAE keeps the layout.
"""

import html
import math

import ipywidgets as widgets
import numpy as np
import torch
from einops import rearrange

from .static import View, heading, img_tag, new_figure, png_bytes, save_png


def as_frames(value, name: str) -> list[torch.Tensor]:
    """One float CPU tensor per step, from a stacked tensor (steps, ...) or a list of tensors."""
    frames = [torch.as_tensor(f).detach().float().cpu() for f in value]
    for f in frames[:1]:
        if not ((f.dim() == 2 and f.shape[1] == 2) or f.dim() in (3, 4)):
            raise ValueError(
                f"{name}: got steps of shape {tuple(f.shape)}; each step must be a point cloud (N, 2) or an image "
                f"(C, H, W) or (1, C, H, W). Stack the per-step tensors first: torch.stack(list_of_steps)."
            )
    return frames


def points_limit(frames) -> float | None:
    """Half-width of a square view holding 99.5 % of all points of all steps; None for images."""
    if not frames or frames[0].dim() != 2:
        return None
    return 1.05 * float(np.quantile(torch.cat(frames).abs().numpy(), 0.995))


def image_for_imshow(frame: torch.Tensor) -> tuple[np.ndarray, dict, str]:
    """Pixels for imshow, its colour settings, and an axis label saying how to read the colours."""
    image = frame[0] if frame.dim() == 4 else frame  # (C, H, W): the first image of a batch
    channels = image.shape[0]
    if channels == 3:
        rgb = rearrange((image + 1) / 2, "c h w -> h w c").clamp(0, 1)  # [-1, 1] → [0, 1]
        return rgb.numpy(), {}, "RGB, value v shown as (v + 1) / 2"
    if channels == 1:
        return image[0].numpy(), dict(cmap="gray", vmin=-1, vmax=1), "grey, black = -1, white = 1"
    cols = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / cols)
    padded = torch.nn.functional.pad(image, (0, 1, 0, 1), value=math.nan)  # a blank line between channels
    blank = torch.full((rows * cols - channels, *padded.shape[1:]), math.nan)
    mosaic = rearrange(torch.cat([padded, blank]), "(r k) h w -> (r h) (k w)", r=rows)  # channels row by row
    limit = float(image.abs().max()) or 1.0
    label = f"channels 0–{channels - 1} row by row, colour ±{limit:.2f}"
    return mosaic.numpy(), dict(cmap="RdBu_r", vmin=-limit, vmax=limit), label


def draw(ax, frame: torch.Tensor, limit: float | None):
    if frame.dim() == 2:  # (N, 2) point cloud
        ax.scatter(frame[:, 0].numpy(), frame[:, 1].numpy(), s=3, alpha=0.5, linewidths=0)
        limit = limit or 1.05 * float(frame.abs().max())
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_xlabel("x[:, 0] (data units)")
        ax.set_ylabel("x[:, 1] (data units)")
    else:
        pixels, colours, label = image_for_imshow(frame)
        ax.imshow(pixels, **colours)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(label, fontsize=8)


class StepScrubber(View):
    """An IntSlider (and play button) over the positions of a denoising run; see the module docstring."""

    def __init__(self, latents, x0s, decode=None, titles=None, static_steps: int = 5):
        self.latents, self.x0s = as_frames(latents, "latents"), as_frames(x0s, "x0s")
        if len(self.latents) not in (len(self.x0s), len(self.x0s) + 1) or not self.x0s:
            raise ValueError(
                f"latents, x0s: got {len(self.latents)} and {len(self.x0s)} steps; latents needs as many as x0s "
                f"or one more (the finished sample), and x0s at least one, as sample_trajectory returns them."
            )
        count = len(self.latents)
        default = [f"step {i}" for i in range(len(self.x0s))] + ["finished"] * (count - len(self.x0s))
        self.titles = [str(t) for t in titles] if titles is not None else default
        if len(self.titles) != count:
            raise ValueError(f"titles: got {len(self.titles)} titles for {count} positions; give one per position.")
        self.decode, self.static_steps = decode, static_steps
        self.limits = (points_limit(self.latents), points_limit(self.x0s))
        self.frames = {}  # position → HTML of that position, drawn the first time it is shown
        self.strip = None  # the static copy: a few positions in one figure, drawn on first display
        self.slider = widgets.IntSlider(value=0, min=0, max=count - 1, description="step")
        play = widgets.Play(value=0, min=0, max=count - 1, interval=400)
        widgets.jslink((play, "value"), (self.slider, "value"))  # runs in the browser: no kernel round trip
        self.panel = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([play, self.slider]), self.panel])
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.show(0)

    def pictures(self, i: int) -> list[tuple[str, torch.Tensor, float | None]]:
        """(panel title, tensor, scatter limit) for position i: x_t, x̂0 and, with `decode`, decode(x̂0)."""
        if i == len(self.x0s):  # the finished sample is its own x̂0
            x_t, x0, names = self.latents[i], self.latents[i], ("sample x_0", "x̂0 = x_0")
        else:
            x_t, x0, names = self.latents[i], self.x0s[i], ("latent x_t (into this step)", "prediction x̂0")
        shown = [(names[0], x_t, self.limits[0]), (names[1], x0, self.limits[1])]
        if self.decode is not None:
            with torch.no_grad():
                decoded = as_frames([self.decode(x0)], "decode(x̂0)")[0]
            shown.append(("decode(x̂0)", decoded, None))
        return shown

    def figure(self, positions):
        """One row per position, one column per panel."""
        rows = [self.pictures(i) for i in positions]
        fig = new_figure(3.2 * len(rows[0]), 3.2 * len(rows))
        axes = fig.subplots(len(rows), len(rows[0]), squeeze=False)
        for axes_row, i, shown in zip(axes, positions, rows):
            for ax, (name, frame, limit) in zip(axes_row, shown):
                draw(ax, frame, limit)
                ax.set_title(f"{self.titles[i]}: {name}", fontsize=9)
        return fig

    def frame_html(self, i: int) -> str:
        if i not in self.frames:
            caption = f"<p><b>{html.escape(self.titles[i])}</b> (position {i} of 0–{len(self.latents) - 1})</p>"
            self.frames[i] = caption + img_tag(png_bytes(self.figure([i])), self.titles[i])
        return self.frames[i]

    def show(self, i: int):
        self.panel.value = self.frame_html(i)

    def strip_positions(self) -> list[int]:
        """`static_steps` positions spread evenly from the first to the last."""
        last = len(self.latents) - 1
        return sorted({round(k) for k in np.linspace(0, last, min(self.static_steps, last + 1))})

    def static_html(self) -> str:
        if self.strip is None:  # drawn once: the positions it shows never change
            positions = self.strip_positions()
            note = f"{len(positions)} of {len(self.latents)} positions; run the notebook to scrub through them all"
            self.strip = heading("Denoising steps", note) + img_tag(png_bytes(self.figure(positions)), "steps")
        return self.strip

    def save_png(self, path, positions=None):
        return save_png(self.figure(positions or self.strip_positions()), path)

    def __repr__(self):
        kind = "points" if self.latents[0].dim() == 2 else "images"
        return f"StepScrubber({len(self.latents)} positions of {kind}, showing {self.titles[self.slider.value]!r})"
