"""The lab maps in README.md, handbook/README.md and lab 00, generated from the notebooks that exist in labs/.

    .venv/bin/python tools/lab_map.py           # rewrite the three maps
    .venv/bin/python tools/lab_map.py --check   # exit 1, naming the files, if a map is out of date

Each map sits between the lines `<!-- lab-map:begin -->` and `<!-- lab-map:end -->` of its file (in lab 00, of a
markdown cell), and everything between them is generated: which labs exist (the notebooks in labs/ that git
tracks), their titles (the notebook's first heading, "# a01 · The forward noise process"), their one-line
summaries (the notebook's metadata.difflab.summary) and the handbook pages they point to (the ../handbook/… links
of their first cell, named by each page's first heading). Labs of the course that do not exist yet are listed
by the titles below.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- lab-map:begin -->", "<!-- lab-map:end -->"
COURSE = {  # every lab of the course, in order, with its title for as long as it does not exist
    "00": "Start here",
    "a01": "Forward noise process",
    "a02": "Denoising step",
    "a03": "Scheduler reading",
    "a04": "CFG code reading",
    "a05": "VAE latent space",
    "a06": "Diffusers pipeline components",
    "a07": "UNet / DiT conditioning",
    "a08": "LoRA injection",
    "a09": "ControlNet / IP-Adapter",
    "a10": "Memory optimisation",
    "b01": "Pipeline config reading",
    "b02": "Model loading path",
    "b03": "Latent shape tracking",
    "b04": "Scheduler loop reading (flow matching)",
    "b05": "Conditioning flow",
    "b06": "Video latent / frame dimension",
    "b07": "VAE encode / decode",
    "b08": "Offload / memory saving",
    "b09": "Multi-control pipeline reading",
    "b10": "End-to-end inference trace",
    "b11": "Sequence parallelism",
}


def read_lab(path: Path) -> dict:
    """id, file name, title, summary and handbook pages of one lab notebook."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    first = "".join(notebook["cells"][0]["source"])
    heading = first.splitlines()[0]
    lab_id, _, title = heading.removeprefix("# ").partition(" · ")
    if lab_id not in COURSE or not title:
        raise ValueError(
            f"{path.name}: its first line should be '# <id> · <title>' with an id of the course, not {heading!r}"
        )
    summary = notebook["metadata"].get("difflab", {}).get("summary")
    if not summary:
        raise ValueError(f"{path.name}: add a one-line metadata.difflab.summary (the maps show it)")
    pages = list(dict.fromkeys(re.findall(r"\]\(\.\./handbook/([^)#]+\.md)", first)))
    return dict(id=lab_id, file=path.name, title=title, summary=summary, pages=pages)


def lab_notebooks() -> list[Path]:
    """The lab notebooks git tracks (a learner's own notebooks and copies in labs/ are not labs of the course)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--", "labs/*.ipynb"], capture_output=True, text=True)
    if listed.returncode != 0 or not listed.stdout.strip():  # not a git checkout
        return sorted((ROOT / "labs").glob("*.ipynb"))
    return sorted(ROOT / name for name in listed.stdout.split())


def existing_labs() -> dict:
    labs = {lab["id"]: lab for lab in map(read_lab, lab_notebooks())}
    return {lab_id: labs[lab_id] for lab_id in COURSE if lab_id in labs}


def coming(labs: dict) -> str:
    names = [f"{lab_id} {title}" for lab_id, title in COURSE.items() if lab_id not in labs]
    return f"Coming next: {', '.join(names)}." if names else ""


def page_title(page: str) -> str:
    return (ROOT / "handbook" / page).read_text(encoding="utf-8").splitlines()[0].removeprefix("# ")


def readme_map(labs: dict) -> str:
    rows = [f"| {i} | [{lab['title']}](labs/{lab['file']}): {lab['summary']} |" for i, lab in labs.items()]
    return "\n".join(["| id | lab |", "|---|---|", *rows, "", coming(labs)])


def handbook_map(labs: dict) -> str:
    rows = []
    for i, lab in labs.items():
        pages = ", ".join(f"[{page_title(p)}]({p})" for p in lab["pages"] if p != "README.md") or "this page"
        rows.append(f"| {i} | [{lab['title']}](../labs/{lab['file']}) | {lab['summary']} | {pages} |")
    return "\n".join(["| id | lab | what it does | handbook pages |", "|---|---|---|---|", *rows, "", coming(labs)])


def lab00_map(labs: dict) -> str:
    rows = []
    for i, title in COURSE.items():
        if i == "00":
            rows.append("| 00 | Start here (this notebook) | ready |")
        elif i in labs:
            rows.append(f"| {i} | [{labs[i]['title']}]({labs[i]['file']}) | ready |")
        else:
            rows.append(f"| {i} | {title} | coming |")
    return "\n".join(["| id | lab | status |", "|---|---|---|", *rows])


def replace_between_markers(text: str, body: str, where: str) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"{where}: needs one line {BEGIN} and one line {END} around the lab map")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{body}\n{END}{tail}"


def updated_files() -> dict[Path, str]:
    """{file: its text with the map regenerated} for the three files."""
    labs = existing_labs()
    readme, handbook = ROOT / "README.md", ROOT / "handbook" / "README.md"
    texts = {
        readme: replace_between_markers(readme.read_text(encoding="utf-8"), readme_map(labs), "README.md"),
        handbook: replace_between_markers(
            handbook.read_text(encoding="utf-8"), handbook_map(labs), "handbook/README.md"
        ),
    }
    lab00 = ROOT / "labs" / labs["00"]["file"]
    notebook = json.loads(lab00.read_text(encoding="utf-8"))
    cells = [c for c in notebook["cells"] if c["cell_type"] == "markdown" and BEGIN in "".join(c["source"])]
    if len(cells) != 1:
        raise ValueError(f"{lab00.name}: needs one markdown cell holding {BEGIN} … {END}")
    source = replace_between_markers("".join(cells[0]["source"]), lab00_map(labs), lab00.name)
    cells[0]["source"] = source.splitlines(keepends=True)
    texts[lab00] = json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"  # as Jupyter writes it
    return texts


def main(argv: list[str]) -> int:
    stale = []
    for path, text in updated_files().items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(str(path.relative_to(ROOT)))
            if "--check" not in argv:
                path.write_text(text, encoding="utf-8")
    if "--check" in argv and stale:
        print(f"lab maps out of date in {', '.join(stale)}: run `.venv/bin/python tools/lab_map.py`")
        return 1
    print(("Rewrote " + ", ".join(stale)) if stale else "Lab maps are up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
