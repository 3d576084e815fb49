"""show_video: a clip in a notebook, playable where a kernel runs and still moving where none does.

    video = pipe("a red circle moving right", num_frames=17, height=64, width=64)   # (1, 17, 64, 64, 3) in [0, 1]
    widgets.show_video(video, fps=8, title="a red circle moving right")

    live view    a play button and a frame slider, linked in the browser; the frame below them, nearest-neighbour
                 enlarged (a 64×64 frame is drawn 256×256, every pixel a sharp 4×4 block)
    static copy  the same clip as an animated GIF (an <img> carrying its own bytes at the clip's own pixels, drawn
                 enlarged: it plays on GitHub and after a reopen) and a filmstrip of every k-th frame, labelled, so
                 the motion reads even where GIFs don't

(B, F, H, W, 3) shows B clips side by side in the live view and the GIF, and one filmstrip row per clip. The
layouts and checks are video_io's (`as_video`): values must already be in [0, 1], RGB last.

What to look for: in a filmstrip the shape's step from one shown frame to the next is k times its step per frame;
a clip that moves right at constant speed moves the same number of pixels between every pair.
"""

import html

import ipywidgets as widgets

from ..video_io import animation_frames, as_video, check_fps, filmstrip, gif_bytes, png_bytes, strip_indices
from .static import View, heading

SHOWN_SIZE = 256  # px: frames are enlarged by a whole factor towards this (64 → 256, 128 → 256, 17 → 255)
STRIP_SIZE = 128  # px: filmstrip frames, smaller, so 5 of them fit the width of a notebook
CAPTION = "color: var(--jp-ui-font-color2, gray); font-size: 0.85em"  # readable in light and dark themes


def scale_for(height: int, width: int, size: int = SHOWN_SIZE) -> int:
    """The whole enlargement factor that brings the larger side closest to `size` without passing it (≥ 1)."""
    return max(1, size // max(height, width))


def data_img(data: bytes, kind: str, alt: str, size: tuple[int, int] | None = None) -> str:
    """An <img> that carries its own bytes, drawn at `size` (width, height) px if given; `image-rendering:
    pixelated` enlarges by repeating pixels (where styles are stripped, as on GitHub, the browser smooths)."""
    import base64

    src = f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"
    drawn = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return f'<img alt="{html.escape(alt)}" src="{src}"{drawn} style="image-rendering: pixelated">'


class VideoView(View):
    """A Play button and an IntSlider over the frames of one or more clips; see the module docstring."""

    def __init__(self, frames, fps: float = 8, title: str | None = None, strip_frames: int = 5):
        self.video = as_video(frames)  # (B, F, H, W, 3) in [0, 1]
        self.fps, self.title = check_fps(fps), title
        self.clips, self.count, height, width, _ = self.video.shape
        self.scale = scale_for(height, width)
        self.pngs = [png_bytes(frame) for frame in animation_frames(self.video, self.scale)]  # one per frame
        self.indices = strip_indices(self.count, strip_frames)
        self.copy = None  # the static copy's HTML, made on first display (the GIF costs more than the live view)
        self.slider = widgets.IntSlider(value=0, min=0, max=self.count - 1, description="frame")
        self.play = widgets.Play(value=0, min=0, max=self.count - 1, interval=round(1000 / self.fps), repeat=True)
        widgets.jslink((self.play, "value"), (self.slider, "value"))  # runs in the browser: no kernel round trip
        self.image = widgets.Image(value=self.pngs[0], format="png")
        self.caption = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.play, self.slider]), self.image, self.caption])
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.show(0)

    def size_note(self) -> str:
        height, width = self.video.shape[2:4]
        clips = f"{self.clips} clips side by side, " if self.clips > 1 else ""
        return f"{clips}{self.count} frames of {height}×{width} at {self.fps:g} fps, shown {self.scale}× larger"

    def show(self, i: int):
        self.image.value = self.pngs[i]
        self.caption.value = f'<span style="{CAPTION}">frame {i} of 0–{self.count - 1}; {self.size_note()}</span>'

    def strip_html(self) -> str:
        """The filmstrip PNG with the shown frame numbers above it, one label per column."""
        scale = scale_for(*self.video.shape[2:4], STRIP_SIZE)
        width = self.video.shape[3] * scale
        image = filmstrip(self.video, self.indices, scale)
        labels = "".join(
            f'<span style="display:inline-block; width:{width}px; margin-right:2px; {CAPTION}">frame {i}</span>'
            for i in self.indices
        )
        every = self.indices[1] - self.indices[0] if len(self.indices) > 1 else 1
        alt = f"filmstrip: frames {', '.join(map(str, self.indices))}"
        note = (f"one frame in {every}" if every > 1 else "every frame") + (
            ", a row per clip" if self.clips > 1 else ""
        )
        return (
            f'<p style="{CAPTION}">Filmstrip: {note}.</p><div style="white-space:nowrap; overflow-x:auto">'
            f"<div>{labels}</div>{data_img(png_bytes(image), 'png', alt)}</div>"
        )

    def static_html(self) -> str:
        if self.copy is None:  # made once: the clip never changes
            # the GIF at its own pixels, enlarged by the browser: 1/scale² the bytes of an enlarged GIF (a noisy
            # 17-frame 64×64 clip: 105 KiB instead of 485 KiB)
            frames = animation_frames(self.video)  # (F, H, B·(W + GAP) - GAP, 3)
            size = (frames.shape[2] * self.scale, frames.shape[1] * self.scale)
            gif = data_img(gif_bytes(self.video, self.fps), "gif", self.title or "video", size)
            self.copy = heading(self.title or "Video", self.size_note()) + gif + self.strip_html()
        return self.copy

    def __repr__(self):
        name = f"{self.title!r}, " if self.title else ""
        return f"VideoView({name}{self.size_note()}, showing frame {self.slider.value})"


def show_video(frames, fps: float = 8, title: str | None = None) -> VideoView:
    """A playable view of frames (F, H, W, 3) or (B, F, H, W, 3) in [0, 1], numpy or torch: a cell ending in it
    shows the live view and its static copy (an animated GIF and a filmstrip)."""
    return VideoView(frames, fps=fps, title=title)
