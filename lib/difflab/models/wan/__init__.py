"""The Wan2.1 video transformer, with diffusers' config fields and state-dict keys, split by concept.

rope.py (3-D rotary positions) → attention.py (q/k RMSNorm, RoPE, the image branch) → embeddings.py (timestep,
text, image) → block.py (adaLN modulation in fp32) → transformer.py (patches in, blocks, patches out);
convert.py renames an original Wan checkpoint's keys to these.
"""

from .attention import WanAttention
from .block import WanTransformerBlock
from .convert import convert_original_wan
from .embeddings import FP32LayerNorm, WanImageEmbedding, WanTimeTextImageEmbedding
from .rope import WanRotaryPosEmbed, apply_rotary_emb
from .transformer import WAN_FIELDS, Transformer2DModelOutput, WanTransformer3DModel

__all__ = [
    "FP32LayerNorm",
    "Transformer2DModelOutput",
    "WAN_FIELDS",
    "WanAttention",
    "WanImageEmbedding",
    "WanRotaryPosEmbed",
    "WanTimeTextImageEmbedding",
    "WanTransformer3DModel",
    "WanTransformerBlock",
    "apply_rotary_emb",
    "convert_original_wan",
]
