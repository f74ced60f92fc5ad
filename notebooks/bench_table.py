"""The README's speed table: mechlens's kernels beside PyTorch, alternating in one run.

Each round runs, for every thread count, `mechlens bench --kernel K` for every kernel asked
and then `bench_pytorch.py` with each OpenMP wait policy, one after the other, so that the
tools of a round see about the same machine load. A cell is the median over rounds of each
tool's own median; a ratio is the median over rounds of that round's ratio against PyTorch's
faster wait policy, per PyTorch dtype (--torch-dtypes: float32, and bfloat16 for PyTorch's
own bfloat16 path). Raw results go to --out as JSON; the Markdown table is printed.

    /usr/bin/python3 notebooks/bench_table.py --mechlens ./mechlens --rounds 3 \\
        --kernels avx512,avx2,avx512bf16:bf16 --threads 1,2 --seq 1,16,64,256,1024 --out bench.json

A kernel written K:W runs with `--weights W` (avx512bf16:bf16 is the bfloat16 path), the
others with --weights.

Needs Debian's python3-torch with libopenblas0-openmp for the PyTorch side. The environment
passes through to it: the README's figures set OPENBLAS_CORETYPE and LD_LIBRARY_PATH to give
PyTorch its fastest OpenBLAS (see bench_pytorch.py), and the table's first lines name what ran.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_mechlens(exe, kernel, threads, seq, runs, weights):
    cmd = [exe, "bench", "--model", "random:gpt2", "--kernel", kernel, "--threads", str(threads),
           "--seq", seq, "--runs", str(runs), "--json"]
    if weights:
        cmd += ["--weights", weights]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = json.loads(out)
    rows = {}
    for r in res["rows"]:
        key = "decode" if r["mode"] == "decode" else r["tokens"]
        if r["mode"] in ("forward", "decode"):
            rows[key] = r["median_ms"]
    return rows, res.get("loaded_rss_mb")


def run_torch(threads, seq, runs, wait, dtype):
    cmd = ["/usr/bin/python3", os.path.join(HERE, "bench_pytorch.py"), "--threads", str(threads),
           "--seq", seq, "--runs", str(runs), "--wait", wait, "--dtype", dtype]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"^\s*(\d+) tokens\s+median\s+([\d.]+) ms", out, re.M)}, out.splitlines()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mechlens", default="mechlens")
    ap.add_argument("--kernels", default="avx512,avx2", help="comma-separated; K:W runs kernel K with --weights W")
    ap.add_argument("--weights", default="", help="passed to mechlens bench --weights")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seq", default="1,16,64,256,1024")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--waits", default="passive,active", help="PyTorch OMP_WAIT_POLICY values; empty: no PyTorch")
    ap.add_argument("--torch-dtypes", default="float32",
                    help="PyTorch runs per dtype (float32, bfloat16); each gets its own ratio columns")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    kernels = [k for k in a.kernels.split(",") if k]
    waits = [w for w in a.waits.split(",") if w]
    dtypes = [d for d in a.torch_dtypes.split(",") if d]
    torch_name = lambda d, w: "pytorch-" + ("" if d == "float32" else d + "-") + w
    seqs = [int(s) for s in a.seq.split(",")]
    raw = []  # one dict per (round, threads, tool)
    for rnd in range(a.rounds):
        for th in map(int, a.threads.split(",")):
            for k in kernels:
                kernel, _, weights = k.partition(":")
                rows, rss = run_mechlens(a.mechlens, kernel, th, a.seq, a.runs, weights or a.weights)
                raw.append({"round": rnd, "threads": th, "tool": k, "ms": rows, "rss_mb": rss})
                print(f"round {rnd} threads {th} {k}: {rows}", file=sys.stderr)
            # One thread has no OpenMP workers to wait: the policy is moot there.
            for d in dtypes:
                for w in (waits[:1] if th == 1 else waits):
                    rows, setup = run_torch(th, a.seq, a.runs, w, d)
                    raw.append({"round": rnd, "threads": th, "tool": torch_name(d, w), "ms": rows, "setup": setup})
                    print(f"round {rnd} threads {th} pytorch {d} {w}: {rows}", file=sys.stderr)
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            json.dump(raw, f, indent=1)
        os.replace(a.out + ".tmp", a.out)

    def cell(th, tool, key):
        v = [r["ms"].get(key) for r in raw if r["threads"] == th and r["tool"] == tool]
        v = [x for x in v if x is not None]
        return statistics.median(v) if v else None

    def ratio(th, tool, T, d):
        rs = []
        for rnd in range(a.rounds):
            mine = [r["ms"].get(T) for r in raw if r["round"] == rnd and r["threads"] == th and r["tool"] == tool]
            theirs = [r["ms"].get(T) for r in raw if r["round"] == rnd and r["threads"] == th
                      and r["tool"] in [torch_name(d, w) for w in waits] and r["ms"].get(T) is not None]
            if mine and mine[0] is not None and theirs:
                rs.append(mine[0] / min(theirs))
        return statistics.median(rs) if rs else None

    fmt = lambda x: "" if x is None else f"{x:.3g}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"
    for setup in sorted({r["setup"] for r in raw if "setup" in r}):
        print(setup + "\n")
    tools = kernels + [torch_name(d, w) for d in dtypes for w in waits]
    head = ["threads", "tokens"] + tools + [f"{k} ÷ PyTorch {d}" for d in dtypes for k in kernels]
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for th in map(int, a.threads.split(",")):
        for T in seqs + ["decode"]:
            cells = [str(th), str(T)] + [fmt(cell(th, t, T)) for t in tools]
            cells += [fmt(ratio(th, k, T, d)) if T != "decode" else "" for d in dtypes for k in kernels]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
