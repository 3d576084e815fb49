"""The SD VAE's memory savers against diffusers: slicing (exact) and tiling (the same tiles, blends and seams)."""

import diffusers
import pytest
import torch

from difflab.models import AutoencoderKL

ATOL = 1e-5  # float32; measured 0.0 for tiling, ~1e-6 for slicing (a batch of 1 takes other kernels)
CONFIG = dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2, sample_size=32,
              up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=32)  # fmt: skip


@pytest.fixture(scope="module")
def twins():
    torch.manual_seed(0)
    theirs = diffusers.AutoencoderKL(**CONFIG).eval()
    ours = AutoencoderKL(**CONFIG).eval()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def switch(vae, tiling=False, slicing=False, tile=None):
    vae.disable_tiling() if not tiling else vae.enable_tiling()
    vae.enable_slicing() if slicing else vae.disable_slicing()
    if tile is not None:  # diffusers has no argument for it: its attributes, set by hand, both of them
        vae.tile_sample_min_size = tile
        if isinstance(vae, diffusers.AutoencoderKL):
            vae.tile_latent_min_size = tile // 2


@pytest.mark.parametrize(("tiling", "slicing", "tile"), [(True, False, None), (True, False, 16), (False, True, None),
                                                         (True, True, 16)])  # fmt: skip
@torch.no_grad()
def test_tiled_and_sliced_encode_and_decode_match_diffusers(twins, tiling, slicing, tile):
    x = torch.randn(2, 3, 80, 56, generator=torch.Generator().manual_seed(1))  # tiles run past both edges
    z = torch.randn(2, 4, 40, 28, generator=torch.Generator().manual_seed(2))
    for vae in twins:
        switch(vae, tiling, slicing, tile)
    ours, theirs = twins
    try:
        got, expected = ours.encode(x).latent_dist, theirs.encode(x).latent_dist
        assert (got.mean - expected.mean).abs().max() <= ATOL and (got.logvar - expected.logvar).abs().max() <= ATOL
        decoded = ours.decode(z).sample
        assert decoded.shape == (2, 3, 80, 56) and (decoded - theirs.decode(z).sample).abs().max() <= ATOL
    finally:
        for vae in twins:
            switch(vae, tile=32)


@torch.no_grad()
def test_slicing_is_exact_and_tiling_is_not_and_more_overlap_means_smaller_seams(twins):
    ours, _ = twins
    z = torch.randn(2, 4, 48, 48, generator=torch.Generator().manual_seed(3))
    whole = ours.decode(z).sample
    ours.enable_slicing()
    assert (ours.decode(z).sample - whole).abs().max() <= ATOL
    ours.disable_slicing()
    errors = []
    for overlap in (0.0, 0.25, 0.5):
        ours.enable_tiling(tile_sample_min_size=32, tile_overlap_factor=overlap)
        errors.append((ours.decode(z).sample - whole).abs().mean().item())
    ours.enable_tiling(tile_overlap_factor=0.25)  # back to the defaults for the other tests
    ours.disable_tiling()
    assert errors[0] > errors[1] > errors[2] > 0, errors  # GroupNorm per tile: never exact, less with overlap


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(tile_sample_min_size=7), "tile_sample_min_size: got 7; it is in pixels and must be a positive multiple"),
        (dict(tile_sample_min_size=0), "tile_sample_min_size: got 0"),
        (dict(tile_sample_min_size=True), "tile_sample_min_size: got True"),
        (
            dict(tile_sample_min_size=12),
            "tile_sample_min_size: got 12 with tile_overlap_factor 0.25; the tiles would not line up",
        ),  # fmt: skip
        (dict(tile_overlap_factor=1.0), r"tile_overlap_factor: got 1.0; valid values are in \[0, 1\)"),
        (dict(tile_overlap_factor="a lot"), "tile_overlap_factor: got 'a lot'"),
    ],
)
def test_bad_tile_settings_are_refused_and_change_nothing(kwargs, message):
    vae = AutoencoderKL(**CONFIG)
    with pytest.raises(ValueError, match=message):
        vae.enable_tiling(**kwargs)
    assert (vae.use_tiling, vae.tile_sample_min_size, vae.tile_overlap_factor) == (False, 32, 0.25)
