"""A torchrun job: diffusers' context-parallel Ulysses and ours on the same shapes-video transformer, 2 ranks on gloo.

diffusers 0.42.1 needs two things to run this on CPUs (lab b11 shows them): its mesh code picks the device as
rank % torch.accelerator.device_count(), which is 0 without an accelerator (ZeroDivisionError), so the count is
made 1 here; and the model must be called with return_dict=False, since its output hook gathers tensors, not
Transformer2DModelOutput. Rank 0 prints one JSON object.
"""

import json

import torch
import torch.distributed as dist
from diffusers import ContextParallelConfig as DiffusersConfig
from diffusers import WanTransformer3DModel as DiffusersWan

from difflab.models.wan import WanTransformer3DModel
from difflab.parallel import ContextParallelConfig
from difflab.parallel.launch import seeded_inputs
from difflab.pretrained import weights_folder

torch.set_num_threads(1)
dist.init_process_group("gloo")
folder = weights_folder("shapes-video") / "transformer"
ours = WanTransformer3DModel.from_pretrained(folder).eval()
theirs = DiffusersWan.from_config(DiffusersWan.load_config(folder)).eval()
theirs.load_state_dict(ours.state_dict())  # the same keys: difflab's Wan is diffusers' layout
latents, timestep, text = seeded_inputs(ours, batch=2, frames=5, size=8)
with torch.no_grad():
    alone = ours(latents, timestep, text).sample
    cp = ours.enable_parallelism(ContextParallelConfig(ulysses_degree=2))
    split = ours(latents, timestep, text).sample
    torch.accelerator.device_count = lambda: 1  # the first change diffusers needs on a CPU-only machine
    theirs.enable_parallelism(config=DiffusersConfig(ulysses_degree=2))
    upstream = theirs(latents, timestep, text, return_dict=False)[0]  # the second
report = {
    "ours_vs_one_process": (split - alone).abs().max().item(),
    "diffusers_vs_ours": (upstream - split).abs().max().item(),
    "ours_sent_bytes": cp.log.total,
}
if dist.get_rank() == 0:
    print(json.dumps(report), flush=True)
dist.barrier()
dist.destroy_process_group()
