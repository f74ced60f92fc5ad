"""Helpers the notebooks share: run the mechlens binary, parse its --json, read safetensors.

The notebooks drive mechlens as a user mixing it with their own Python would: through the
command line (its --json outputs and the safetensors files `mechlens trace` writes), never
through a Python binding. This module keeps their cells short; it holds no analysis.

The binary is $MECHLENS when set, else `mechlens` on the PATH, else ../mechlens (after
`go build ./cmd/mechlens` at the repository root). A command that fails raises
MechlensError carrying the command line and mechlens's one-line error, so that a notebook
that fails shows why.
"""

import json
import os
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def binary():
    """The path of the mechlens binary the notebooks run."""
    env = os.environ.get("MECHLENS")
    if env:
        return env
    found = shutil.which("mechlens")
    if found:
        return found
    local = REPO / "mechlens"
    if local.exists():
        return str(local)
    raise FileNotFoundError(
        "no mechlens binary: run `go build ./cmd/mechlens` at the repository root, "
        "or set MECHLENS to its path"
    )


class MechlensError(RuntimeError):
    """A mechlens command exited with a non-zero status."""

    def __init__(self, args, code, stderr):
        self.args_ = args
        self.code = code
        self.stderr = stderr.strip()
        super().__init__(
            f"`{shlex.join(['mechlens', *args])}` exited with status {code}:\n{self.stderr}"
        )


def run(*args, stdin=None, check=True):
    """Runs `mechlens ARGS` and returns its standard output (text).

    Standard error (notices, progress) is returned inside MechlensError on failure and
    dropped otherwise; mechlens writes progress only to terminals anyway.
    """
    args = [str(a) for a in args]
    p = subprocess.run([binary(), *args], input=stdin, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise MechlensError(args, p.returncode, p.stderr)
    return p.stdout


def js(*args, stdin=None):
    """Runs `mechlens ARGS --json` and returns the parsed JSON."""
    return json.loads(run(*args, "--json", stdin=stdin))


def jsonl(path):
    """Reads a JSON Lines file into a list of dicts."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def load_safetensors(path):
    """Reads a safetensors file into ({name: numpy array}, metadata dict).

    The format is an 8-byte little-endian header length, a JSON header naming each
    tensor's dtype, shape and byte range, then the data. BF16 is widened to float32 (numpy
    has no bfloat16). `safetensors.numpy.load_file` gives the same arrays where installed.
    """
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in header.items():
        lo, hi = t["data_offsets"]
        buf = raw[base + lo : base + hi]
        if t["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=np.dtype(_DTYPES[t["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(t["shape"])
    return out, meta


def layer_norm(x, w=None, b=None, eps=1e-5):
    """GPT-2's layer norm over the last axis, in float64: (x − mean)/√(var + eps)·w + b."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def table(rows, columns, floatfmt="{:.3f}"):
    """A plain-text table of dicts (stable across runs: no widths taken from a terminal)."""
    cells = [[c for c in columns]]
    for r in rows:
        cells.append([floatfmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in columns])
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
