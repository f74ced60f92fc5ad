package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Each in-place write must leave exactly the bits that unpack → change → repack gives.
func TestPackedEditsMatchRepack(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, K := range []int{1, 5, 17, 33} {
		for _, N := range []int{1, 15, 16, 17, 40} {
			w := randSlice(r, K*N)
			k, n := r.IntN(K), r.IntN(N)
			row, col := randSlice(r, N), randSlice(r, K)
			u, v := randSlice(r, K), randSlice(r, N)
			alpha, f := float32(r.Float64()*3-1.5), float32(r.Float64()*2)
			cases := []struct {
				name string
				edit func(p *Packed)
				ref  func(w []float32)
			}{
				{"SetRow", func(p *Packed) { p.SetRow(k, row) }, func(w []float32) { copy(w[k*N:(k+1)*N], row) }},
				{"AddRow", func(p *Packed) { p.AddRow(k, alpha, row) }, func(w []float32) {
					for j := range N {
						w[k*N+j] += float32(alpha * row[j])
					}
				}},
				{"ScaleRow", func(p *Packed) { p.ScaleRow(k, f) }, func(w []float32) {
					for j := range N {
						w[k*N+j] *= f
					}
				}},
				{"SetCol", func(p *Packed) { p.SetCol(n, col) }, func(w []float32) {
					for i := range K {
						w[i*N+n] = col[i]
					}
				}},
				{"AddOuter", func(p *Packed) { p.AddOuter(u, v) }, func(w []float32) {
					for i := range K {
						for j := range N {
							w[i*N+j] += float32(u[i] * v[j])
						}
					}
				}},
			}
			for _, c := range cases {
				p := Pack(w, K, N)
				c.edit(p)
				want := slices.Clone(w)
				c.ref(want)
				ref := Pack(want, K, N)
				if !slices.EqualFunc(p.data, ref.data, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Errorf("%s on [%d, %d]: packed data differs from unpack, change, repack", c.name, K, N)
				}
				if !slices.Equal(p.Unpack(), want) {
					t.Errorf("%s on [%d, %d]: Unpack differs from the changed matrix", c.name, K, N)
				}
			}
		}
	}
}

func TestPackedCloneIsIndependent(t *testing.T) {
	w := randSlice(rand.New(rand.NewPCG(1, 1)), 7*20)
	p := Pack(w, 7, 20)
	q := p.Clone()
	q.ScaleRow(3, 0)
	if !slices.Equal(p.Unpack(), w) {
		t.Fatal("writing to a clone changed its source")
	}
	if q.At(3, 19) != 0 || q.At(2, 19) != w[2*20+19] {
		t.Fatal("clone does not hold the written values")
	}
}
