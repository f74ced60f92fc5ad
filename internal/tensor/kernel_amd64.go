//go:build amd64 && gc && !purego

package tensor

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run . -out ../kernel_avx2_amd64.s"

// Micro-kernels of kernel_avx2_amd64.s, one per row count of the 6×16 tile; see tile.
//
//go:noescape
func gemm6x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

// fmaPeak runs n iterations of 12 independent 8-wide FMAs: 192·n flops at the core's peak.
func fmaPeak(n int)

var avx2Tiles = [tileM + 1]func(kc int, a, b, c *float32, ldc int, bias *float32, init int){
	1: gemm1x16, 2: gemm2x16, 3: gemm3x16, 4: gemm4x16, 5: gemm5x16, 6: gemm6x16,
}

var avx2Kernels = &kernelSet{
	name:    "avx2",
	tile:    tileAVX2,
	dot:     dotGeneric,
	axpy:    axpyGeneric,
	gelu:    geluTanhGeneric,
	softmax: softmaxGeneric,
}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernelSets = append(kernelSets, avx2Kernels)
		impl = avx2Kernels
	}
}

// tileAVX2 checks every extent the assembly touches before handing it raw pointers.
func tileAVX2(mr, kc int, a, b, c []float32, ldc int, bias []float32, init int) {
	_ = a[kc*tileM-1]
	_ = b[kc*tileN-1]
	_ = c[(mr-1)*ldc+tileN-1]
	var bp *float32
	if init == initBias {
		_ = bias[tileN-1]
		bp = &bias[0]
	}
	avx2Tiles[mr](kc, &a[0], &b[0], &c[0], ldc, bp, init)
}
