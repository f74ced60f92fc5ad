package tensor

import (
	"math/rand/v2"
	"testing"
)

//go:noescape
func gemm6x16V(kc int, a, b, c *float32, ldc int, bias *float32, init int)

func TestZZVariant(t *testing.T) {
	const M, K, N = 256, 768, 3072
	r := rand.New(rand.NewPCG(1, 1))
	a, p, bias := randSlice(r, M*K), Pack(randSlice(r, K*N), K, N), randSlice(r, N)
	c := make([]float32, M*N)
	threads = 1
	orig := avx2Tiles[6]
	for i := 0; i < 4; i++ {
		for _, v := range []struct {
			name string
			f    func(kc int, a, b, c *float32, ldc int, bias *float32, init int)
		}{{"base", orig}, {"variant", gemm6x16V}} {
			avx2Tiles[6] = v.f
			t.Logf("%s %s", v.name, cpuRate(func() { MatMul(c, a, M, p, bias) }, 2*M*N*K, 15))
		}
	}
	avx2Tiles[6] = orig
}
