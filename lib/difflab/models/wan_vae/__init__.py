"""The Wan 2.1 video VAE, split by concept (diffusers keeps it in one 1,444-line file):

causal_conv.py (CausalConv3d and the FrameCache) → blocks.py (norm, resnet, attention, resample)
→ encoder.py, decoder.py → autoencoder.py (AutoencoderKLWan).
"""

from .autoencoder import AutoencoderKLWan
from .blocks import AttentionBlock, MidBlock, Resample, ResidualBlock, RMSNorm
from .causal_conv import CACHE_T, CausalConv3d, FrameCache
from .decoder import Decoder3d, UpBlock
from .encoder import Encoder3d

__all__ = [
    "CACHE_T",
    "AttentionBlock",
    "AutoencoderKLWan",
    "CausalConv3d",
    "Decoder3d",
    "Encoder3d",
    "FrameCache",
    "MidBlock",
    "RMSNorm",
    "Resample",
    "ResidualBlock",
    "UpBlock",
]
