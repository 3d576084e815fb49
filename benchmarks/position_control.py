"""Did the truncated-SNR weighting teach shapes-sd where to put things? The control experiment.

The shipped UNet learnt position only after its loss was switched from plain ε-MSE to ε-MSE × max(1, 1/SNR),
but the learning rate, the rate of position words and 4,000 more steps changed at the same time (see the
model card's history). The control trains the card's recipe from scratch, with the same seed, data, batch,
learning rate and step count, and the plain ε loss; then the judge scores it on the same held-out prompts
as benchmarks/shapes_quality.py.

    .venv/bin/python benchmarks/position_control.py --train   # hours on a 2-core CPU; resumable, checkpoints
                                                                # every 250 steps in runs/position-control
    .venv/bin/python benchmarks/position_control.py           # scores the latest checkpoint (about 3 minutes)
"""

import argparse
import json
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file
from shapes_quality import generate, held_out_prompts

import difflab
from difflab.eval import parse_prompt, prompt_adherence
from difflab.models import UNet2DConditionModel
from difflab.train.recipes import assemble
from difflab.train.text_to_image import UNET_CONFIG, text_encoder_config, train_text_to_image

RUN = Path(__file__).resolve().parents[1] / "runs" / "position-control"
STEPS = 6500  # the card's recipe: batch 128, AdamW lr 1e-3 cosine, position words at 0.8, seed 0


def train():
    shipped = difflab.load_pipeline("shapes-sd")
    train_text_to_image(shipped.vae, shipped.tokenizer, out=RUN, steps=STEPS, weighting="epsilon")


def score(run: Path = RUN) -> dict:
    """The judge's adherence for the checkpoint in `run` and for the shipped model, on the same prompts and noise."""
    shipped = difflab.load_pipeline("shapes-sd")
    state = json.loads((run / "state.json").read_text())
    unet = UNet2DConditionModel(**UNET_CONFIG)
    unet.load_state_dict(load_file(str(run / "unet.safetensors")))
    text_encoder = transformers.CLIPTextModel(text_encoder_config(shipped.tokenizer))
    text_encoder.load_state_dict(load_file(str(run / "text_encoder.safetensors")))
    control = assemble(shipped.vae, shipped.tokenizer, text_encoder, unet)
    judge, prompts = difflab.load_judge(), held_out_prompts(200)
    named = {k: sum(k in parse_prompt(p) for p in prompts) for k in ("color", "shape", "position", "size")}
    print(f"Plain ε-MSE control at step {state['step']} of {STEPS} ({state['log'][-1]['seconds'] / 3600:.1f} h)")
    print("200 held-out prompts, 20 DPM-Solver++ steps, guidance 5; the shipped model beside it:")
    print("  attribute  control  shipped")
    results = {"step": state["step"], "prompts": named}
    for name, pipe in (("control", control), ("shipped", shipped)):
        results[name] = prompt_adherence(generate(pipe, prompts, 5.0, seed=0), prompts, judge)
    for attribute in ("color", "shape", "position", "size"):
        print(
            f"  {attribute:<9} {results['control'][attribute]:7.1%}  {results['shipped'][attribute]:7.1%}"
            f"  (of {named[attribute]} prompts naming it)"
        )
    (run / f"score-{state['step']}.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train (or resume) the control run first")
    parser.add_argument("--checkpoint", type=Path, default=RUN, help="a copy of the run's folder to score instead")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.train:
        train()
    score(args.checkpoint)


if __name__ == "__main__":
    main()
