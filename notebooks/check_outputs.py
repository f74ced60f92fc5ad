"""Executes the notebooks and checks their committed outputs against the fresh run.

    python3 notebooks/check_outputs.py [--update] [NOTEBOOK.ipynb ...]

Each notebook (default: every notebooks/*.ipynb) is executed with `python3 -m nbconvert
--execute` (what `jupyter nbconvert --execute` runs) in the notebooks folder, into a
temporary file; any error in a cell fails the check with the cell's traceback. The fresh
outputs are then compared with the committed ones, apart from what legitimately changes
from run to run: execution counts, notebook and cell metadata (timestamps), durations in
text ("0.42 s", "12 ms"), temporary folders and the bytes of images (matplotlib's PNGs depend on its version
and fonts; their presence is compared). A difference prints the first differing cell as a
diff and fails. --update writes the fresh outputs into the committed notebooks instead.

The binary run is $MECHLENS (the CI builds it); see mechlens_nb.py.
"""

import argparse
import difflib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# A number followed by a unit of time, and the notebooks' temporary folders
# (tempfile.mkdtemp(prefix="mechlens-nbNN-")): the only text allowed to differ between runs.
TIME_RE = re.compile(r"\b\d+(?:\.\d+)?(?:e-?\d+)?\s?(?:ns|µs|us|ms|s|sec|min)\b")
TMP_RE = re.compile(r"\S*mechlens-nb\d\d-[A-Za-z0-9_]+")


def stable(text):
    """Text with durations and temporary paths masked."""
    return TMP_RE.sub("<work>", TIME_RE.sub("<time>", text))


def normalized(path):
    """The notebook's cells as comparable lists: source, then each output's stable form."""
    nb = json.loads(Path(path).read_text())
    cells = []
    for c in nb["cells"]:
        lines = [f"--- {c['cell_type']} cell", *"".join(c["source"]).splitlines()]
        for o in c.get("outputs", []):
            kind = o["output_type"]
            if kind == "stream":
                lines.append(f"[{o['name']}]")
                lines += stable("".join(o["text"])).splitlines()
            elif kind in ("execute_result", "display_data"):
                for mime, data in sorted(o["data"].items()):
                    if mime.startswith("image/"):
                        lines.append(f"[{mime}]")
                    elif mime == "text/plain" and "<Figure size" in "".join(data):
                        lines.append("[figure]")
                    else:
                        lines.append(f"[{mime}]")
                        text = data if isinstance(data, str) else "".join(data)
                        lines += stable(text).splitlines()
            elif kind == "error":
                lines += [f"[error] {o['ename']}: {o['evalue']}"]
        cells.append(lines)
    return cells


def execute(src, dst_dir):
    """Runs src with nbconvert into dst_dir; returns the fresh notebook's path or raises."""
    cmd = [
        sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
        "--ExecutePreprocessor.timeout=600", "--output-dir", str(dst_dir), str(src),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        # nbconvert's message holds the failing cell and its traceback.
        tail = "\n".join(p.stderr.strip().splitlines()[-40:])
        raise RuntimeError(f"{src.name}: a cell failed:\n{tail}")
    return Path(dst_dir) / src.name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="write the fresh outputs into the notebooks")
    ap.add_argument("notebooks", nargs="*", type=Path)
    a = ap.parse_args()
    paths = a.notebooks or sorted(HERE.glob("*.ipynb"))
    failed = False
    with tempfile.TemporaryDirectory(prefix="mechlens-notebooks-") as tmp:
        for src in paths:
            src = src.resolve()
            try:
                fresh = execute(src, tmp)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                failed = True
                continue
            if a.update:
                src.write_text(fresh.read_text())
                print(f"{src.name}: outputs updated")
                continue
            old, new = normalized(src), normalized(fresh)
            if old == new:
                print(f"{src.name}: outputs match")
                continue
            failed = True
            for i, (o, n) in enumerate(zip(old, new)):
                if o != n:
                    print(f"{src.name}: cell {i} differs from the committed outputs:", file=sys.stderr)
                    sys.stderr.writelines(l + "\n" for l in difflib.unified_diff(o, n, "committed", "fresh", lineterm=""))
                    break
            else:
                print(f"{src.name}: {len(old)} cells committed, {len(new)} in the fresh run", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
