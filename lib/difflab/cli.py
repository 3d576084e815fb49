"""The `difflab` command.

difflab starters [--check]                       regenerate starters/ from solutions/ (or verify them)
difflab check LAB [--solutions | --file PATH]    run a lab's checks; exit 0 only if every task is done
difflab generate PROMPT --out FILE.png           generate an image with a shipped model
difflab generate PROMPT --frames 17 --out FILE.gif   … or a video (.gif animated, .png a filmstrip)
difflab trace PROMPT [--full] [--frames N]       where a generation's (or a video's) time and memory go
difflab train vae|unet|judge|video-vae|video-decoder|video   train one of the course's models

A bad argument is refused before any work: a library error (ValueError, OSError, …) prints one line,
`difflab: error: …`, on stderr and exits with status 2, as argparse does for a bad option. --debug shows the
traceback instead.
"""

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from .exercises import LAB_IDS, run_checks
from .exercises.starters import stale_starters, write_starters
from .paths import course_root

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
IMAGE_MODEL, VIDEO_MODEL = "shapes-sd", "shapes-video"  # the default models without and with --frames
VIDEO_SIZE = 64  # px: the moving-shapes world's frames, which shapes-video learns (Wan configs store no size)


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
    parser.add_argument(
        "--scheduler",
        default=None,
        help="ddim, euler, euler_a, dpm++, ddpm (default: dpm++; for a video, the model's own)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help=f"default: {IMAGE_MODEL}, or {VIDEO_MODEL} with --frames")
    parser.add_argument("--frames", type=int, default=None, help="make a video of this many frames: 5, 9, 13, 17, …")


def model_and_scheduler(args) -> tuple[str, str | None]:
    """The model and scheduler to use: shapes-sd with dpm++ for an image, shapes-video with the scheduler it was
    saved with for a video (--frames), unless --model or --scheduler says otherwise."""
    if args.frames is None:
        return args.model or IMAGE_MODEL, args.scheduler or "dpm++"
    return args.model or VIDEO_MODEL, args.scheduler


def check_frames(frames: int, temporal: int = 4) -> int:
    """--frames: temporal·k + 1, as TextToVideoPipeline's num_frames (the video VAE keeps frame 0 alone)."""
    if not 1 <= frames <= 81 or (frames - 1) % temporal:
        below = max(1, min(81, frames - 1) // temporal * temporal + 1)
        raise ValueError(
            f"--frames: got {frames}; valid values are {temporal}·k + 1 from 1 to 81 (5, 9, 13, 17, …): the video "
            f"VAE keeps frame 0 alone and packs each later {temporal} frames into one latent frame. "
            f"Nearest: {below}{f' or {below + temporal}' if below + temporal <= 81 else ''}."
        )
    return frames


def check_output_path(option: str, path: str, extensions: tuple) -> Path:
    """A file we will be able to write: a known extension, in an existing folder we may write to."""
    path = Path(path)
    if path.suffix.lower() not in extensions:
        raise ValueError(
            f"{option}: got {str(path)!r}; the name must end in {', '.join(extensions)} (the extension picks the "
            f"format). Fix: e.g. {path.with_suffix(extensions[0]).name}."
        )
    folder = path.parent
    problem = None
    if folder.exists() and not folder.is_dir():
        problem = f"{str(folder)!r} is a file, not a folder"
    elif not folder.is_dir():
        problem = f"the folder {str(folder)!r} does not exist (create it first)"
    elif path.is_dir():
        problem = "that is a folder (name a file inside it)"
    elif not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        problem = f"{str(folder)!r} is not writable (choose a folder you can write to)"
    if problem:
        raise ValueError(f"{option}: got {str(path)!r}, but {problem}.")
    return path


def writable_image_extensions() -> tuple:
    """IMAGE_EXTENSIONS that this machine's Pillow can write (WebP needs libwebp)."""
    from PIL import Image

    Image.init()
    return tuple(e for e in IMAGE_EXTENSIONS if Image.registered_extensions().get(e) in Image.SAVE)


def check_out(args) -> Path:
    """--out: an image format; with --frames, .gif (an animation) or .png (a filmstrip)."""
    from .video_io import NOT_WRITABLE, VIDEO_EXTENSIONS, check_fps, check_video_path

    if args.frames is not None:
        check_fps(args.fps, "--fps")
        return check_output_path("--out", check_video_path(args.out, "--out"), VIDEO_EXTENSIONS)
    if Path(args.out).suffix.lower() in (".gif", *NOT_WRITABLE):
        raise ValueError(
            f"--out: got {args.out!r}, a video format, but no --frames was given. Fix: add --frames 17 for a "
            f"video, or name an image: {Path(args.out).with_suffix('.png').name}."
        )
    return check_output_path("--out", args.out, writable_image_extensions())


def check_model(model: str, args):
    """A shipped pipeline of the kind asked for: a video model with --frames, an image model without."""
    from .pipelines import TextToVideoPipeline
    from .pipelines.checks import check_choice
    from .pretrained import available, weights_folder

    kinds = {}  # shipped pipeline → 'video' or 'image', from its model_index.json
    for name in available():
        index = weights_folder(name) / "model_index.json"
        if index.is_file():
            video = json.loads(index.read_text()).get("_class_name") == TextToVideoPipeline.diffusers_class
            kinds[name] = "video" if video else "image"
    videos = tuple(name for name, kind in kinds.items() if kind == "video")
    images = tuple(name for name, kind in kinds.items() if kind == "image")
    if args.frames is None:
        if kinds.get(model) == "video":
            raise ValueError(f"--model: got {model!r}, a video model. Fix: add --frames 17 and --out clip.gif.")
        check_choice("--model", model, images)
    elif model not in videos:
        what = "an image model" if model in images else "not available in this difflab"
        shipped = f"the video models here are {', '.join(videos)}" if videos else "no video model ships yet"
        fix = f"--model {videos[0]}" if videos else "leave out --frames to generate an image"
        raise ValueError(
            f"--model: got {model!r}{' (the default with --frames)' if args.model is None else ''}, which is {what}; "
            f"--frames needs a video model, and {shipped}. Fix: {fix}."
        )


def check_generation_arguments(args):
    """The pipeline's own checks of prompt, steps, guidance and seed, run before the model is loaded."""
    from . import schedulers
    from .pipelines.checks import check_choice, check_guidance, check_seed, check_steps, prompts_as_list
    from .pretrained import weights_folder

    model, scheduler = model_and_scheduler(args)
    check_model(model, args)
    if scheduler is not None:
        check_choice("--scheduler", scheduler, tuple(schedulers.names()))
    scheduler_config = json.loads((weights_folder(model) / "scheduler" / "scheduler_config.json").read_text())
    check_steps(args.steps, scheduler_config.get("num_train_timesteps", 1000), "--steps")
    check_guidance(args.guidance, "--guidance")
    check_seed(args.seed, "--seed")
    prompts_as_list(args.prompt, args.negative_prompt)


def cmd_generate(args) -> int:
    from .device import use_idle_cores

    if args.frames is not None:
        check_frames(args.frames)
    out = check_out(args)
    check_generation_arguments(args)
    use_idle_cores()
    result = run_pipeline_with(load(args), args)
    if args.frames is None:
        result[0].save(out)
        print(f"Wrote {out} ({result[0].width}×{result[0].height}) for {args.prompt!r}.")
        return 0
    from .video_io import write_video

    video = result[0]  # (F, H, W, 3) in [0, 1]
    write_video(video, out, fps=args.fps)
    frames, height, width = video.shape[:3]
    shown = f"{args.fps:g} fps" if out.suffix.lower() == ".gif" else "as a filmstrip"
    print(f"Wrote {out} ({frames} frames of {width}×{height}, {shown}) for {args.prompt!r}.")
    return 0


def load(args):
    """The command line's pipeline: text to image, or text to video with --frames."""
    from .pretrained import load_pipeline, weights_folder

    model, scheduler = model_and_scheduler(args)
    if args.frames is None:
        return load_pipeline(model, scheduler=scheduler)
    from .device import default_device
    from .pipelines import TextToVideoPipeline

    return TextToVideoPipeline.from_pretrained(weights_folder(model), scheduler=scheduler, device=default_device())


def cmd_trace(args) -> int:
    import difflab

    from .device import use_idle_cores

    if args.frames is not None:
        check_frames(args.frames)
    if args.chrome_trace:
        check_output_path("--chrome-trace", args.chrome_trace, (".json",))
    check_generation_arguments(args)
    use_idle_cores()
    pipe = load(args)
    with difflab.trace(pipe, modules="components") as tr:
        run_pipeline_with(pipe, args)
    if args.full:
        print(tr.weight_table, tr.shapes.where(stage="step 0"), tr.summary(), sep="\n\n")
    else:
        print(trace_summary(tr))
    if args.chrome_trace:
        print(f"\nChrome trace written to {tr.save_chrome_trace(args.chrome_trace)} (open it in ui.perfetto.dev).")
    return 0


def trace_summary(tr, top: int = 6) -> str:
    """About 15 lines: the slowest kinds of stage (every step added up), the memory peak and where it happened,
    the most each category of bytes reached, and the weights by component."""
    from .trace import human_bytes

    kinds = {}  # 'denoise/step/model' → [seconds, calls]: the same kind of stage in every step, added up
    for stage in tr.stages():
        total = kinds.setdefault(stage.kind, [0.0, 0])
        total[0] += stage.seconds
        total[1] += 1
    run = max(seconds for seconds, _ in kinds.values())  # the outermost stage: the whole pipeline call
    lines = [f"Time: {run * 1e3:.0f} ms in all. The slowest stages (each kind added up over the steps):"]
    for kind, (seconds, calls) in sorted(kinds.items(), key=lambda item: -item[1][0])[:top]:
        each = f"  {calls} × {seconds / calls * 1e3:.1f} ms" if calls > 1 else ""
        lines.append(f"  {kind:<28} {seconds * 1e3:9.1f} ms {seconds / run:5.0%}{each}")
    rows = tr.memory.to_records()
    peak = rows[0]  # the trace itself: its peak is the run's
    lines += ["", f"Memory peak: {human_bytes(peak['peak'])}, reached in {peak['peak_owner']}."]
    most = {c: max(r[c] for r in rows) for c in ("weights", "activations", "conditioning", "latents")}
    lines.append("  The most each held: " + ", ".join(f"{c} {human_bytes(b)}" for c, b in most.items()) + ".")
    weights, kinds = {}, set()  # component → bytes; the (device, dtype) pairs they are in
    for row in tr.weight_table.to_records():
        weights[row["component"]] = weights.get(row["component"], 0) + row["bytes"]
        kinds.add(f"{row['device']} {row['dtype']}")
    by_size = sorted(weights.items(), key=lambda item: -item[1])
    parts = ", ".join(f"{name} {human_bytes(b)}" for name, b in by_size)
    lines.append(f"  Weights: {parts} ({', '.join(sorted(kinds))}).")
    if tr.nonfinite:
        lines.append(f"  Non-finite values first seen in {tr.nonfinite['stage']!r}, module {tr.nonfinite['module']!r}.")
    lines += ["", "difflab trace --full prints every stage, the step-0 shapes and the whole memory ledger."]
    return "\n".join(lines)


def run_pipeline_with(pipe, args):
    """One generation with the command line's prompt, steps, guidance and seed (and frames, for a video)."""
    import torch

    video = {} if args.frames is None else dict(num_frames=args.frames, height=VIDEO_SIZE, width=VIDEO_SIZE)
    return pipe(
        args.prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        generator=torch.Generator().manual_seed(args.seed),
        **video,
    )


def cmd_train(args) -> int:
    from .device import use_idle_cores
    from .train import recipes

    use_idle_cores()
    if args.model == "vae":
        recipes.run_vae(steps=args.steps or 600)
    elif args.model == "unet":
        recipes.run_unet(steps=args.steps or 6500, lr=args.lr or 1e-3)
    elif args.model == "video-vae":
        from .train import video_recipes

        video_recipes.run_video_vae(steps=args.steps or 4500)
    elif args.model == "video-decoder":
        from .train import video_recipes

        video_recipes.run_video_decoder(steps=args.steps or 1000)
    elif args.model == "video":
        from .train import video_recipes

        _, metrics = video_recipes.run_video(steps=args.steps or 8000, lr=args.lr or 5e-4)
        print("held-out video metrics:", metrics)
    else:
        _, accuracy = recipes.run_judge(steps=args.steps or 1500)
        print("held-out accuracy:", accuracy)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="difflab", description="The difflab course tools.")
    debug = dict(action="store_true", help="on an error, show the traceback instead of one line")
    parser.add_argument("--debug", **debug)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kwargs)
        sub.add_argument("--debug", **debug, default=argparse.SUPPRESS)  # also after the command name
        return sub

    starters = command("starters", help="regenerate starters/ from solutions/")
    starters.add_argument("--check", action="store_true", help="exit 1 if a committed starter is stale")
    starters.add_argument("--force", action="store_true", help="also overwrite starters that were edited")
    starters.set_defaults(run=cmd_starters)

    check = command("check", help="check your implementation of a lab's tasks")
    check.add_argument("lab", help=f"the lab id: {', '.join(LAB_IDS)}")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--solutions", action="store_true", help="check the reference solutions instead")
    which.add_argument("--file", help="check this file instead of starters/LAB.py")
    check.set_defaults(run=cmd_check)

    generate = command("generate", help="generate an image (or, with --frames, a video) with a shipped model")
    generation_arguments(generate)
    generate.add_argument(
        "--out", required=True, help=f"the file to write ({', '.join(IMAGE_EXTENSIONS)}; with --frames .gif or .png)"
    )
    generate.add_argument("--fps", type=float, default=8.0, help="frames a second of a video .gif (default 8)")
    generate.set_defaults(run=cmd_generate)

    trace = command("trace", help="trace a generation: the slowest stages, the memory peak (--full: everything)")
    generation_arguments(trace)
    trace.add_argument("--full", action="store_true", help="print every stage, shape and memory-ledger row")
    trace.add_argument("--chrome-trace", default=None, help="also write a Chrome/Perfetto trace to this .json file")
    trace.set_defaults(run=cmd_trace)

    train = command("train", help="train one of the course's models (slow: minutes to hours on a CPU)")
    train.add_argument("model", choices=["vae", "unet", "judge", "video-vae", "video-decoder", "video"])
    train.add_argument("--steps", type=int, default=None)
    train.add_argument("--lr", type=float, default=None, help="peak learning rate (unet: default 1e-3; video: 5e-4)")
    train.set_defaults(run=cmd_train)
    return parser


def print_warning(message, category, filename, lineno, file=None, line=None):
    """Library warnings (a prompt cut at 77 tokens) as one line each, like the errors."""
    print(f"difflab: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)  # a bad option: argparse prints usage and exits with status 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = print_warning  # restored when the block ends
            return args.run(args)
    except (ValueError, OSError) as e:  # CheckpointError is a ValueError; FileNotFoundError an OSError
        if args.debug:
            raise
        print(f"difflab: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
