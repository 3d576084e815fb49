"""The `difflab` command.

difflab starters [--check]                       regenerate starters/ from solutions/ (or verify them)
difflab check LAB [--solutions | --file PATH]    run a lab's checks; exit 0 only if every task is done
"""

import argparse
import sys

from .exercises import LABS, run_checks
from .exercises.starters import stale_starters, write_starters
from .paths import course_root


def cmd_starters(args) -> int:
    root = course_root()
    if args.check:
        stale = stale_starters(root)
        if stale:
            print("Stale starters (run `difflab starters` to regenerate): " + ", ".join(stale))
            return 1
        print("Starters are in step with solutions.")
        return 0
    written, kept = write_starters(root, force=args.force)
    print("Wrote " + ", ".join(written) if written else "No starter written.")
    if kept:
        print(
            "Left alone (they differ from their solutions, perhaps with your work in them): "
            + ", ".join(kept)
            + ". Course authors regenerating them: `difflab starters --force`."
        )
    return 0


def cmd_check(args) -> int:
    report = run_checks(args.lab, solutions=args.solutions, file=args.file)
    print(report)
    return 0 if report.passed else 1


def generation_arguments(parser):
    parser.add_argument("prompt")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--scheduler", default="dpm++", help="ddim, euler, euler_a, dpm++, ddpm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="shapes-sd")


def cmd_generate(args) -> int:
    from .pretrained import load_pipeline

    images = run_pipeline_with(load_pipeline(args.model, scheduler=args.scheduler), args)
    images[0].save(args.out)
    print(f"Wrote {args.out} ({images[0].width}×{images[0].height}) for {args.prompt!r}.")
    return 0


def cmd_trace(args) -> int:
    import difflab

    from .pretrained import load_pipeline

    pipe = load_pipeline(args.model, scheduler=args.scheduler)
    with difflab.trace(pipe, modules="components") as tr:
        run_pipeline_with(pipe, args)
    print(tr.weight_table, tr.shapes.where(stage="step 0"), tr.summary(), sep="\n\n")
    if args.chrome_trace:
        print(f"\nChrome trace written to {tr.save_chrome_trace(args.chrome_trace)} (open it in ui.perfetto.dev).")
    return 0


def run_pipeline_with(pipe, args):
    """One generation with the command line's prompt, steps, guidance and seed."""
    import torch

    return pipe(
        args.prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        generator=torch.Generator().manual_seed(args.seed),
    )


def cmd_train(args) -> int:
    from .train import recipes

    if args.model == "vae":
        recipes.run_vae(steps=args.steps or 600)
    elif args.model == "unet":
        recipes.run_unet(steps=args.steps or 6500, lr=args.lr or 1e-3)
    else:
        _, accuracy = recipes.run_judge(steps=args.steps or 1500)
        print("held-out accuracy:", accuracy)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="difflab", description="The difflab course tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    starters = commands.add_parser("starters", help="regenerate starters/ from solutions/")
    starters.add_argument("--check", action="store_true", help="exit 1 if a committed starter is stale")
    starters.add_argument("--force", action="store_true", help="also overwrite starters that were edited")
    starters.set_defaults(run=cmd_starters)

    check = commands.add_parser("check", help="check your implementation of a lab's tasks")
    check.add_argument("lab", help=f"the lab id: {', '.join(LABS)}")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--solutions", action="store_true", help="check the reference solutions instead")
    which.add_argument("--file", help="check this file instead of starters/LAB.py")
    check.set_defaults(run=cmd_check)

    generate = commands.add_parser("generate", help="generate an image with a shipped model")
    generation_arguments(generate)
    generate.add_argument("--out", required=True, help="where to write the PNG")
    generate.set_defaults(run=cmd_generate)

    trace = commands.add_parser("trace", help="trace a generation: shapes, memory ledger, timings")
    generation_arguments(trace)
    trace.add_argument("--chrome-trace", default=None, help="also write a Chrome/Perfetto trace to this file")
    trace.set_defaults(run=cmd_trace)

    train = commands.add_parser("train", help="train one of the course's models (slow: minutes to hours on a CPU)")
    train.add_argument("model", choices=["vae", "unet", "judge"])
    train.add_argument("--steps", type=int, default=None)
    train.add_argument("--lr", type=float, default=None, help="peak learning rate (unet only; default 1e-3)")
    train.set_defaults(run=cmd_train)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
