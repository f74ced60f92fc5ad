package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Each in-place write must leave exactly the bits that unpack → change → repack gives, on
// float32 and on bfloat16 matrices (whose unpacked values are the widened bfloat16 ones).
func TestPackedEditsMatchRepack(t *testing.T) {
	for _, typ := range []WeightType{F32, BF16} {
		testPackedEditsMatchRepack(t, typ)
	}
}

func testPackedEditsMatchRepack(t *testing.T, typ WeightType) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, K := range []int{1, 5, 17, 33} {
		for _, N := range []int{1, 15, 16, 17, 40} {
			w := PackAs(typ, randSlice(r, K*N), K, N).Unpack()
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
				p := PackAs(typ, w, K, N)
				c.edit(p)
				want := slices.Clone(w)
				c.ref(want)
				ref := PackAs(typ, want, K, N)
				if !slices.EqualFunc(p.data, ref.data, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) || !slices.Equal(p.half, ref.half) {
					t.Errorf("%s %s on [%d, %d]: packed data differs from unpack, change, repack", typ, c.name, K, N)
				}
				if got := p.Unpack(); !slices.Equal(got, ref.Unpack()) || typ == F32 && !slices.Equal(got, want) {
					t.Errorf("%s %s on [%d, %d]: Unpack differs from the changed matrix", typ, c.name, K, N)
				}
			}
		}
	}
}

func TestPackedCloneIsIndependent(t *testing.T) {
	for _, typ := range []WeightType{F32, BF16} {
		p := PackAs(typ, randSlice(rand.New(rand.NewPCG(1, 1)), 7*20), 7, 20)
		w := p.Unpack()
		q := p.Clone()
		if q.Type() != typ || q.Bytes() != p.Bytes() {
			t.Fatalf("%s: clone is %s of %d bytes, source %d", typ, q.Type(), q.Bytes(), p.Bytes())
		}
		q.ScaleRow(3, 0)
		if !slices.Equal(p.Unpack(), w) {
			t.Fatalf("%s: writing to a clone changed its source", typ)
		}
		if q.At(3, 19) != 0 || q.At(2, 19) != w[2*20+19] {
			t.Fatalf("%s: clone does not hold the written values", typ)
		}
		q.CopyFrom(p)
		if !slices.Equal(q.Unpack(), w) {
			t.Fatalf("%s: CopyFrom did not restore the source", typ)
		}
	}
}

// Undoing an edit on a bfloat16 matrix by writing back the rows and columns it read restores
// every stored bit, as on float32: what Row and Col return is exactly representable.
func TestPackedBF16UndoIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	K, N := 19, 37
	p := PackAs(BF16, randSlice(r, K*N), K, N)
	orig := slices.Clone(p.half)
	row, col := make([]float32, N), make([]float32, K)
	p.Row(4, row)
	p.Col(20, col)
	p.AddRow(4, 0.37, randSlice(r, N))
	p.ScaleRow(4, 1.1)
	p.SetCol(20, randSlice(r, K))
	p.SetRow(4, row)
	p.SetCol(20, col)
	if !slices.Equal(p.half, orig) {
		t.Fatal("writing back the saved row and column did not restore the bfloat16 matrix")
	}
	if p.Bytes() != 2*ceilDiv(N, tileN)*tileN*K {
		t.Fatalf("Bytes() = %d, want 2 bytes an element", p.Bytes())
	}
	q := Pack(p.Unpack(), K, N)
	defer func() {
		if recover() == nil {
			t.Error("CopyFrom between a float32 and a bfloat16 matrix did not panic")
		}
	}()
	q.CopyFrom(p)
}
