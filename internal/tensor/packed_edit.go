package tensor

import "fmt"

// In-place writes on a packed matrix, for edits: each touches only the elements it changes
// (a row is ⌈N/16⌉ runs of 16, a column K strided values), never a repack. An edit keeps the
// values it overwrites (Row, Col) to undo itself exactly.

// SetRow overwrites row k with src [N].
func (p *Packed) SetRow(k int, src []float32) {
	p.checkRow("SetRow", k)
	checkLen("Packed.SetRow", "src", src, p.N)
	for j0 := 0; j0 < p.N; j0 += tileN {
		copy(p.data[((j0/tileN)*p.K+k)*tileN:][:min(tileN, p.N-j0)], src[j0:])
	}
}

// AddRow adds alpha·x [N] to row k.
func (p *Packed) AddRow(k int, alpha float32, x []float32) {
	p.checkRow("AddRow", k)
	checkLen("Packed.AddRow", "x", x, p.N)
	for j0 := 0; j0 < p.N; j0 += tileN {
		dst := p.data[((j0/tileN)*p.K+k)*tileN:][:min(tileN, p.N-j0)]
		for j := range dst {
			dst[j] += float32(alpha * x[j0+j]) // rounded product: no FMA, as the reference adds
		}
	}
}

// ScaleRow multiplies row k by f.
func (p *Packed) ScaleRow(k int, f float32) {
	p.checkRow("ScaleRow", k)
	for j0 := 0; j0 < p.N; j0 += tileN {
		dst := p.data[((j0/tileN)*p.K+k)*tileN:][:min(tileN, p.N-j0)]
		for j := range dst {
			dst[j] *= f
		}
	}
}

// SetCol overwrites column n with src [K].
func (p *Packed) SetCol(n int, src []float32) {
	if uint(n) >= uint(p.N) {
		panic(fmt.Sprintf("tensor: Packed.SetCol(%d) outside [0, %d)", n, p.N))
	}
	checkLen("Packed.SetCol", "src", src, p.K)
	dst := p.data[(n/tileN)*p.K*tileN+n%tileN:]
	for k, v := range src {
		dst[k*tileN] = v
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
		w := min(tileN, p.N-j0)
		panel := p.data[pn*p.K*tileN : (pn+1)*p.K*tileN]
		for k, uk := range u {
			dst := panel[k*tileN : k*tileN+w]
			for j := range dst {
				dst[j] += float32(uk * v[j0+j])
			}
		}
	})
}

// Clone returns an independent copy of p.
func (p *Packed) Clone() *Packed {
	return &Packed{K: p.K, N: p.N, data: append([]float32(nil), p.data...)}
}

// Bytes is the memory p holds.
func (p *Packed) Bytes() int { return 4 * len(p.data) }

func (p *Packed) checkRow(fn string, k int) {
	if uint(k) >= uint(p.K) {
		panic(fmt.Sprintf("tensor: Packed.%s(%d) outside [0, %d)", fn, k, p.K))
	}
}

// CopyFrom overwrites p with q, a matrix of the same shape.
func (p *Packed) CopyFrom(q *Packed) {
	if p.K != q.K || p.N != q.N {
		panic(fmt.Sprintf("tensor: Packed.CopyFrom: [%d, %d] from [%d, %d]", p.K, p.N, q.K, q.N))
	}
	copy(p.data, q.data)
}
