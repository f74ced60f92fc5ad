// Package tensor owns every float32 matrix product and elementwise kernel of mechlens.
//
// It knows nothing of GPT-2, hooks or files: callers hand it flat row-major buffers and
// their shapes. Every product computes each output element with the same order of
// operations whatever the thread count, so results are bitwise identical with 1 or N
// threads (audits must be reproducible). Parallel work runs on a pool of long-lived
// workers that spin briefly between jobs, because waking a sleeping thread costs more than
// many of a forward pass's products.
//
// A packed weight matrix (Packed) may store bfloat16 instead of float32, for half the
// memory: the kernels widen it to float32 as they load it, so only the stored values
// change, never the arithmetic (see PackAs). The one exception is the avx512bf16 kernel
// set, chosen by default where the CPU has AVX512_BF16: it multiplies bfloat16 weights by
// activations rounded to bfloat16 as A is packed (VDPBF16PS, twice the FMA rate),
// accumulating in float32 (see RoundsActivations).
package tensor
