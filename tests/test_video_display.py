"""Showing video: write_video's GIF and filmstrip, and widgets.show_video's live view and static copy."""

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from difflab import widgets
from difflab.data import moving_shapes
from difflab.video_io import as_video, strip_indices, write_video

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def clips():
    """Two moving-shapes clips as frames (2, 17, 64, 64, 3) in [0, 1], and their captions."""
    batch = moving_shapes.batch(2)
    return (batch["video"].permute(0, 2, 3, 4, 1) + 1) / 2, batch["caption"]  # b c f h w → b f h w c


def data_images(html: str, kind: str) -> list[Image.Image]:
    found = re.findall(rf'src="data:image/{kind};base64,([A-Za-z0-9+/=]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def gif_frames(image: Image.Image) -> np.ndarray:
    return np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)])


def test_gif_round_trip_keeps_every_frame_its_size_and_colours(clips, tmp_path):
    video = clips[0][0]  # (17, 64, 64, 3)
    path = write_video(video, tmp_path / "clip.gif", fps=8)
    image = Image.open(path)
    assert image.format == "GIF" and image.n_frames == 17 and image.size == (64, 64)
    assert image.info["loop"] == 0  # forever
    assert [frame.info["duration"] for frame in ImageSequence.Iterator(image)] == [120] * 17  # 125 ms, whole cs
    read = gif_frames(image).astype(np.float32) / 255
    assert read.shape == (17, 64, 64, 3)
    assert np.abs(read - video.numpy()).mean() < 0.01  # flat colours survive the 256-colour palette
    moved = np.abs(read[1:] - read[:-1]).sum(axis=(1, 2, 3))
    assert (moved > 0).all()  # the shape moves in every frame: no frame merged into another


def test_gif_of_a_batch_puts_clips_side_by_side(clips, tmp_path):
    image = Image.open(write_video(clips[0], tmp_path / "clips.gif", fps=4))
    assert image.n_frames == 17 and image.size == (2 * 64 + 2, 64)  # two clips and a 2-pixel gap
    assert image.info["duration"] == 250
    right = gif_frames(image)[:, :, 66:].astype(np.float32) / 255
    assert np.abs(right - clips[0][1].numpy()).mean() < 0.01


def test_png_is_a_filmstrip_of_every_kth_frame_a_row_per_clip(clips, tmp_path):
    assert strip_indices(17) == [0, 2, 4, 6, 8, 10, 12, 14, 16] and strip_indices(17, 5) == [0, 4, 8, 12, 16]
    assert strip_indices(1) == [0] and strip_indices(3, 9) == [0, 1, 2]
    image = Image.open(write_video(clips[0], tmp_path / "strip.png"))
    assert image.mode == "RGBA" and image.size == (9 * 66 - 2, 2 * 66 - 2)
    strip = np.asarray(image)
    assert (strip[:, 64:66, 3] == 0).all()  # transparent gaps between frames
    frame_4 = strip[66:130, 2 * 66 : 2 * 66 + 64, :3]  # second clip, third column: frame 4
    assert np.array_equal(frame_4, np.round(clips[0][1, 4].numpy() * 255).astype(np.uint8))


def test_show_video_displays_a_live_player_then_a_gif_and_a_filmstrip(clips):
    video, captions = clips
    view = widgets.show_video(video[0].numpy(), fps=8, title=captions[0])
    live, copy_bundle = view.outputs()
    assert set(live) == {WIDGET_VIEW, "text/plain"} and set(copy_bundle) == {"text/html"}
    assert live[WIDGET_VIEW]["model_id"] == view.widget.model_id and "difflab-live" in view.widget._dom_classes
    assert view.play.interval == 125 and view.play.repeat and view.slider.max == 16
    shown = Image.open(io.BytesIO(view.image.value))
    assert shown.size == (256, 256)  # 64×64 enlarged 4× by nearest neighbour: 4×4 blocks of one colour
    assert np.array_equal(np.asarray(shown)[::4, ::4], np.round(video[0, 0].numpy() * 255).astype(np.uint8))
    view.slider.value = 8  # the Play button moves the slider (linked in the browser); the slider moves the image
    assert view.image.value == view.pngs[8] != view.pngs[0] and "frame 8 of 0–16" in view.caption.value

    copy = copy_bundle["text/html"]
    assert copy.startswith("<style>") and copy.endswith(view.static_html() + "</div>") and captions[0] in copy
    (gif,) = data_images(copy, "gif")
    assert gif.n_frames == 17 and gif.size == (64, 64) and 'width="256" height="256"' in copy  # enlarged when drawn
    assert np.abs(gif_frames(gif) / 255 - video[0].numpy()).mean() < 0.01
    (strip,) = data_images(copy, "png")
    assert strip.size == (5 * 130 - 2, 128)  # frames 0, 4, 8, 12, 16 at 2×
    assert [f"frame {i}<" in copy for i in (0, 4, 8, 12, 16)] == [True] * 5 and "one frame in 4" in copy
    assert "var(--jp-ui-font-color2, gray)" in copy  # caption colours follow the JupyterLab theme


def test_show_video_takes_torch_and_a_batch_of_clips(clips):
    view = widgets.show_video(clips[0], fps=4)
    assert Image.open(io.BytesIO(view.image.value)).size == (2 * 256 + 2, 256)
    assert "2 clips side by side" in repr(view) and "a row per clip" in view.static_html()
    assert data_images(view.static_html(), "png")[0].size == (5 * 130 - 2, 2 * 130 - 2)
    assert data_images(view.static_html(), "gif")[0].size == (2 * 64 + 2, 64)
    assert f'width="{(2 * 64 + 2) * 4}" height="256"' in view.static_html()  # 4× when drawn, gap too


@pytest.mark.parametrize(
    "frames, words",
    [
        (np.zeros((17, 64, 64)), ["frames: got shape (17, 64, 64)", "(F, H, W, 3)", "permute(0, 2, 3, 4, 1)"]),
        (np.zeros((1, 17, 3, 64, 64)), ["frames: got shape (1, 17, 3, 64, 64)", "channels-first", "output_type='np'"]),
        (np.zeros((0, 64, 64, 3)), ["frames: got shape (0, 64, 64, 3)", "no pixels", "at least one frame"]),
        (np.full((5, 8, 8, 3), -0.5), ["frames: got values from -0.5 to -0.5", "[0, 1]", "(x + 1) / 2"]),
        (np.full((5, 8, 8, 3), 7.0), ["frames: got values from 7 to 7", "x / 255 if these are 0–255 levels"]),
        (np.full((5, 8, 8, 3), -3.0), ["frames: got values from -3 to -3", "x.clip(0, 1), or rescale"]),
        (np.full((5, 8, 8, 3), np.nan), ["frames: got 960 NaN or inf values and no finite one", "finite, in [0, 1]"]),
        (np.array([[[[0.5, np.inf, 0.2]]]]), ["1 NaN or inf values, the rest from 0.2 to 0.5", "diverged"]),
        (np.zeros((5, 8, 8, 3), np.uint8), ["frames: got uint8 values 0–255", "frames / 255"]),
        (torch.zeros(5, 8, 8, 3, dtype=torch.int64), ["frames: got dtype int64", "floats in [0, 1]"]),
    ],
)
def test_bad_frames_are_refused_naming_the_argument_and_the_fix(frames, words):
    for show in (as_video, widgets.show_video):
        with pytest.raises(ValueError) as refused:
            show(frames)
        assert all(w in str(refused.value) for w in words), str(refused.value)


def test_bad_paths_and_fps_are_refused_before_writing(clips, tmp_path):
    video = clips[0][0]
    with pytest.raises(ValueError, match=r"path: got '.*clip.mp4'; .mp4 needs a video encoder.*Valid: .gif .* .png"):
        write_video(video, tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match=r"path: got '.*clip.jpg'; valid extensions are .gif .* .png .*clip.gif"):
        write_video(video, tmp_path / "clip.jpg")
    for fps in (0, -8, "8", 1000, True):
        with pytest.raises(ValueError, match=rf"fps: got {re.escape(repr(fps))}; valid values are numbers from 1"):
            write_video(video, tmp_path / "clip.gif", fps=fps)
    with pytest.raises(ValueError, match="fps: got 0"):
        widgets.show_video(video, fps=0)
    assert list(tmp_path.iterdir()) == []  # nothing written by a refused call
