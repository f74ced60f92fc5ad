package tensor

import (
	"fmt"
	"slices"
)

// In-place writes on a packed matrix, for edits: each touches only the elements it changes
// (a row is ⌈N/16⌉ runs of 16, a column K strided values), never a repack. An edit keeps the
// values it overwrites (Row, Col) to undo itself exactly.
//
// On a bfloat16 matrix every write computes in float32 from the widened stored values and
// rounds the result to bfloat16 (to nearest, ties to even). Values read back (Row, Col) are
// exactly representable, so writing them back restores the stored bits: undo stays exact.

// SetRow overwrites row k with src [N].
func (p *Packed) SetRow(k int, src []float32) {
	p.checkRow("SetRow", k)
	checkLen("Packed.SetRow", "src", src, p.N)
	for j0 := 0; j0 < p.N; j0 += tileN {
		p.store(((j0/tileN)*p.K+k)*tileN, src[j0:min(j0+tileN, p.N)])
	}
}

// AddRow adds alpha·x [N] to row k.
func (p *Packed) AddRow(k int, alpha float32, x []float32) {
	p.checkRow("AddRow", k)
	checkLen("Packed.AddRow", "x", x, p.N)
	row := make([]float32, p.N)
	p.Row(k, row)
	for j := range row {
		row[j] += float32(alpha * x[j]) // rounded product: no FMA, as the reference adds
	}
	p.SetRow(k, row)
}

// ScaleRow multiplies row k by f.
func (p *Packed) ScaleRow(k int, f float32) {
	p.checkRow("ScaleRow", k)
	row := make([]float32, p.N)
	p.Row(k, row)
	for j := range row {
		row[j] *= f
	}
	p.SetRow(k, row)
}

// SetCol overwrites column n with src [K].
func (p *Packed) SetCol(n int, src []float32) {
	if uint(n) >= uint(p.N) {
		panic(fmt.Sprintf("tensor: Packed.SetCol(%d) outside [0, %d)", n, p.N))
	}
	checkLen("Packed.SetCol", "src", src, p.K)
	i0 := (n/tileN)*p.K*tileN + n%tileN
	for k, v := range src {
		p.set(i0+k*tileN, v)
	}
}

// AddOuter adds the rank-one matrix u·vᵀ (u [K], v [N]) to p: W[k][n] += u[k]·v[n], each
// product rounded to float32 before the add. It runs panel by panel, in the order the
// matrix is stored, across the worker pool.
func (p *Packed) AddOuter(u, v []float32) {
	checkLen("Packed.AddOuter", "u", u, p.K)
	checkLen("Packed.AddOuter", "v", v, p.N)
	panels := ceilDiv(p.N, tileN)
	ParallelFor(panels, func(pn int) {
		j0 := pn * tileN
		var row [tileN]float32
		run := row[:min(tileN, p.N-j0)]
		for k, uk := range u {
			i := (pn*p.K + k) * tileN
			p.load(i, run)
			for j := range run {
				run[j] += float32(uk * v[j0+j])
			}
			p.store(i, run)
		}
	})
}

// Clone returns an independent copy of p, of the same type.
func (p *Packed) Clone() *Packed {
	return &Packed{K: p.K, N: p.N, data: slices.Clone(p.data), half: slices.Clone(p.half)}
}

// Bytes is the memory p holds.
func (p *Packed) Bytes() int { return 4*len(p.data) + 2*len(p.half) }

func (p *Packed) checkRow(fn string, k int) {
	if uint(k) >= uint(p.K) {
		panic(fmt.Sprintf("tensor: Packed.%s(%d) outside [0, %d)", fn, k, p.K))
	}
}

// CopyFrom overwrites p with q, a matrix of the same shape and type.
func (p *Packed) CopyFrom(q *Packed) {
	if p.K != q.K || p.N != q.N || p.Type() != q.Type() {
		panic(fmt.Sprintf("tensor: Packed.CopyFrom: %s [%d, %d] from %s [%d, %d]", p.Type(), p.K, p.N, q.Type(), q.K, q.N))
	}
	copy(p.data, q.data)
	copy(p.half, q.half)
}
