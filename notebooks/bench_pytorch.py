"""GPT-2 small forward pass in plain PyTorch, for the README's comparison with `mechlens bench`.

Same shapes and the same work as `mechlens bench --model random:gpt2`: a full forward pass
with logits at every position, random weights, median of repeated runs after a warm-up.
Run with Debian's PyTorch and OpenBLAS (apt-get install python3-torch libopenblas0-pthread; without
OpenBLAS, Debian's torch falls back to the reference BLAS, some 20 times slower):
    /usr/bin/python3 notebooks/bench_pytorch.py --threads 2

--threads N sets both torch's threads and OpenBLAS's (OPENBLAS_NUM_THREADS, which
torch.set_num_threads does not change: left alone, OpenBLAS uses every core even at
--threads 1). --wait sets OMP_WAIT_POLICY, passive by default: with active waiting, spinning
OpenMP threads take the cores from OpenBLAS's pthreads build and from other jobs on a shared
machine (2 threads measured 2.3-2.7 times slower than 1 with libopenblas0-pthread, and 6-7
times slower than passive on a loaded machine with libopenblas0-openmp); on a quiet machine
with libopenblas0-openmp, active measured faster. Try both.

Which OpenBLAS torch loads is Debian's libblas.so.3 alternative (the pthread build when
libopenblas0-pthread is installed too: it has the higher priority); LD_LIBRARY_PATH=
/usr/lib/x86_64-linux-gnu/openblas-openmp picks the OpenMP one. OpenBLAS 0.3.21 picks its
kernels at run time and does not know Zen 5: there it runs its Haswell (AVX2) kernels unless
OPENBLAS_CORETYPE=SkylakeX (or Cooperlake) makes it run its AVX-512 ones, which measured
about 30% faster: PyTorch's fastest setting on such a CPU. To stand in for a CPU without
AVX-512, force both of PyTorch's CPU paths to AVX2: OPENBLAS_CORETYPE=Haswell
ATEN_CPU_CAPABILITY=avx2. The first line printed names the library and kernels that ran.
"""
import argparse
import ctypes
import os
import statistics
import time


def gpt2_forward(ids, p, n_layer=12, n_head=12):
    T = ids.shape[0]
    x = p["wte"][ids] + p["wpe"][:T]
    D = x.shape[1]
    mask = torch.full((T, T), float("-inf"), dtype=x.dtype).triu(1)
    for l in range(n_layer):
        b = p["h"][l]
        h = F.layer_norm(x, (D,), b["ln1w"], b["ln1b"])
        q, k, v = (h @ b["attnw"] + b["attnb"]).split(D, dim=1)
        q, k, v = (t.view(T, n_head, D // n_head).transpose(0, 1) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(1, 2) / (D // n_head) ** 0.5 + mask, dim=-1)
        z = (att @ v).transpose(0, 1).reshape(T, D)
        x = x + z @ b["projw"] + b["projb"]
        h = F.layer_norm(x, (D,), b["ln2w"], b["ln2b"])
        x = x + F.gelu(h @ b["fcw"] + b["fcb"], approximate="tanh") @ b["outw"] + b["outb"]
    x = F.layer_norm(x, (D,), p["lnfw"], p["lnfb"])
    return x @ p["wte"].T


def openblas_core():
    """The OpenBLAS file torch loaded and the kernels it chose (or was told to use)."""
    with open("/proc/self/maps") as f:
        paths = sorted({l.split()[-1] for l in f if "libopenblas" in l})
    if not paths:
        return "not loaded"
    try:
        lib = ctypes.CDLL(paths[0])
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return f"{paths[0]} ({lib.openblas_get_corename().decode()})"
    except (OSError, AttributeError):
        return paths[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seq", default="1,16,64,256,1024")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--wait", default="passive", choices=["active", "passive"], help="OMP_WAIT_POLICY")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="of every weight and activation (bfloat16: PyTorch's oneDNN bfloat16 matmuls)")
    a = ap.parse_args()
    # Both must be set before OpenBLAS and OpenMP start, that is before importing torch.
    global torch, F
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    os.environ["OMP_WAIT_POLICY"] = a.wait
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    D, V, C, M = 768, 50257, 1024, 3072
    r = lambda *s: torch.randn(*s) * 0.02
    p = {"wte": r(V, D), "wpe": r(C, D), "lnfw": torch.ones(D), "lnfb": torch.zeros(D), "h": []}
    for _ in range(12):
        p["h"].append({"ln1w": torch.ones(D), "ln1b": torch.zeros(D), "attnw": r(D, 3 * D), "attnb": torch.zeros(3 * D),
                       "projw": r(D, D), "projb": torch.zeros(D), "ln2w": torch.ones(D), "ln2b": torch.zeros(D),
                       "fcw": r(D, M), "fcb": torch.zeros(M), "outw": r(M, D), "outb": torch.zeros(D)})
    dtype = getattr(torch, a.dtype)
    cast = lambda d: {k: cast(v) if isinstance(v, dict) else [cast(x) for x in v] if isinstance(v, list) else v.to(dtype)
                      for k, v in d.items()}
    p = cast(p)
    print(f"torch {torch.__version__}, {a.dtype}, threads {a.threads}, OpenBLAS {openblas_core()}, "
          f"ATen {os.environ.get('ATEN_CPU_CAPABILITY') or 'its own choice'}")
    with torch.inference_mode():
        for T in map(int, a.seq.split(",")):
            ids = torch.arange(T) * 7919 % V
            gpt2_forward(ids, p)
            times = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                gpt2_forward(ids, p)
                times.append(time.perf_counter() - t0)
            print(f"{T:5d} tokens  median {1000 * statistics.median(times):8.1f} ms")


if __name__ == "__main__":
    main()
