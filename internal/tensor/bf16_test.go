package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1: exact
		{0x3f808000, 0x3f80}, // halfway between 1 and the next bfloat16: to the even 1
		{0x3f818000, 0x3f82}, // halfway, odd below: up to even
		{0x3f808001, 0x3f81}, // just past halfway: up
		{0x3f807fff, 0x3f80}, // just under halfway: down
		{0xbf808001, 0xbf81}, // negative: away from zero as the magnitude says
		{0x80000000, 0x8000}, // −0 keeps its sign
		{0x00000001, 0x0000}, // smallest subnormal: to zero
		{0x00018000, 0x0002}, // subnormal tie: to even
		{0x7f7f0000, 0x7f7f}, // largest bfloat16: exact
		{0x7f7fffff, 0x7f80}, // largest float32: past the largest bfloat16, to +Inf
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // −Inf
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7f800001, 0x7fc0}, // NaN with only a low payload bit: still a NaN, not +Inf
		{0xffa00001, 0xffe0}, // signalling NaN: quieted, sign and top payload kept
	} {
		if got := ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	// Every bfloat16 widens exactly and rounds back to itself (a NaN to a NaN).
	for h := range 1 << 16 {
		f := FromBF16(uint16(h))
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("FromBF16(%#04x) = %#08x", h, math.Float32bits(f))
		}
		back := ToBF16(f)
		if f == f && back != uint16(h) || f != f && FromBF16(back) == FromBF16(back) {
			t.Fatalf("ToBF16(FromBF16(%#04x)) = %#04x", h, back)
		}
	}
	for _, s := range []string{"f32", "bf16"} {
		if typ, err := ParseWeightType(s); err != nil || typ.String() != s {
			t.Errorf("ParseWeightType(%q) = %v, %v", s, typ, err)
		}
	}
	if _, err := ParseWeightType("f16"); err == nil || err.Error() != `unknown weight type "f16" (known: f32, bf16)` {
		t.Errorf("ParseWeightType(f16): %v", err)
	}
}

// A product with bfloat16 weights must be bitwise the product, by the same kernel, with the
// weights widened to float32: the bfloat16 kernels only change how B is loaded; avx512bf16's
// (VDPBF16PS) must be bitwise matMulPairs, its arithmetic written out in Go. Every kernel
// set of this CPU, every shape class (edge tiles in both directions, K over several blocks,
// one row streaming whole panels, N past 512 where A is packed rather than read in place,
// bias), on 1 and 2 threads (bitwise the same). With the float32 kernels checked against the
// float64 reference elsewhere, this also checks the bfloat16 ones against it; the FMA
// kernels (avx512, avx2, neon) must agree with each other bitwise as on float32.
func TestMatMulBF16(t *testing.T) {
	type shape struct{ M, N, K int }
	var shapes []shape
	for _, M := range []int{1, 5, 6, 7, 12, 13, 25, 150} {
		for _, N := range []int{1, 15, 16, 17, 33, 100, 530} {
			for _, K := range []int{1, 7, 256, 300, 777} {
				shapes = append(shapes, shape{M, N, K})
			}
		}
	}
	type operands struct {
		a, bias    []float32
		half, wide *Packed
		fma        [][]float32 // the first FMA kernel's results, without and with bias
	}
	r := rand.New(rand.NewPCG(21, 22))
	ops := make([]operands, len(shapes))
	for i, s := range shapes {
		half := PackAs(BF16, randSlice(r, s.K*s.N), s.K, s.N)
		ops[i] = operands{a: randSlice(r, s.M*s.K), bias: randSlice(r, s.N), half: half, wide: Pack(half.Unpack(), s.K, s.N)}
	}
	eachKernel(t, func(t *testing.T) {
		for i, s := range shapes {
			o := &ops[i]
			for _, withBias := range []bool{false, true} {
				bias := o.bias
				if !withBias {
					bias = nil
				}
				name := fmt.Sprintf("M=%d N=%d K=%d bias=%v", s.M, s.N, s.K, withBias)
				reference := "the float32 one on the widened weights"
				if impl.packPairs != nil {
					reference = "the bfloat16 pairs' sums by hand"
				}
				want := make([]float32, s.M*s.N)
				if impl.packPairs != nil {
					want = matMulPairs(o.a, s.M, o.half, bias)
				} else {
					withThreads(1, func() { MatMul(want, o.a, s.M, o.wide, bias) })
				}
				for _, nt := range []int{1, 2} {
					c := newGuarded(make([]float32, s.M*s.N))
					withThreads(nt, func() { MatMul(c.win(), o.a, s.M, o.half, bias) })
					if !equalBits(c.win(), want) {
						t.Fatalf("%s, %d threads: bfloat16 product differs from %s", name, nt, reference)
					}
					c.checkUntouched(t, func(i int) bool { return i < s.M*s.N })
				}
				switch {
				case impl == genericKernels || impl.packPairs != nil:
				case len(o.fma) < 2:
					o.fma = append(o.fma, want)
				case !equalBits(want, o.fma[boolInt(withBias)]):
					t.Fatalf("%s: %s differs from the other FMA kernel", name, impl.name)
				}
			}
		}
	})
}

// matMulPairs is what avx512bf16 computes for a · p, p bfloat16: each element starts at 0,
// or at the bias in the first k block; each block of pairBlockK consecutive k runs from 0 over
// the pairs (2j, 2j+1) of bfloat16-rounded A, adding the odd product then the even one
// (VDPBF16PS's order; each product of two bfloat16 values is exact in float32), and is
// added to the element.
func matMulPairs(a []float32, M int, p *Packed, bias []float32) []float32 {
	K, N := p.K, p.N
	c := make([]float32, M*N)
	for i := range M {
		for j := range N {
			var e float32
			for pc := 0; pc < K; pc += pairBlockK {
				kc := min(pairBlockK, K-pc)
				var s float32
				if pc == 0 && bias != nil {
					s = bias[j]
				}
				for k := pc; k < pc+kc; k += 2 {
					if k+1 < pc+kc {
						s += FromBF16(ToBF16(a[i*K+k+1])) * p.At(k+1, j)
					}
					s += FromBF16(ToBF16(a[i*K+k])) * p.At(k, j)
				}
				if pc == 0 {
					e = s
				} else {
					e += s
				}
			}
			c[i*N+j] = e
		}
	}
	return c
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A bfloat16 Packed holds each element rounded to nearest, in the float32 layout, padding
// zero, whichever way it was packed.
func TestPackBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, K := range []int{1, 7, 33} {
		for _, N := range []int{1, 16, 17, 40} {
			b := randSlice(r, K*N)
			want := make([]float32, len(b))
			for i, v := range b {
				want[i] = FromBF16(ToBF16(v))
			}
			for _, p := range []*Packed{PackAs(BF16, b, K, N), PackTransposedAs(BF16, transpose(b, K, N), N, K)} {
				if p.Type() != BF16 || p.data != nil {
					t.Fatalf("[%d,%d]: type %s", K, N, p.Type())
				}
				if !equalBits(p.Unpack(), want) {
					t.Fatalf("[%d,%d]: Unpack is not the rounded matrix", K, N)
				}
				col := make([]float32, K)
				for n := range N {
					p.Col(n, col)
					for k := range K {
						if col[k] != want[k*N+n] || p.At(k, n) != want[k*N+n] {
							t.Fatalf("[%d,%d]: Col/At(%d,%d) = %v/%v, want %v", K, N, k, n, col[k], p.At(k, n), want[k*N+n])
						}
					}
				}
				for i, h := range p.half {
					if n := (i/(K*tileN))*tileN + i%tileN; n >= N && h != 0 {
						t.Fatalf("[%d,%d]: padding column %d is %#04x", K, N, n, h)
					}
				}
			}
		}
	}
}

// packAPairs rounds each value as ToBF16 does (ties to even, ±Inf past the range, NaNs
// quieted with their sign and top payload), in the bulk path (VCVTNE2PS2BF16 on avx512bf16)
// and the edge path alike; the one licence is that the bulk may flush a float32 subnormal
// to zero of its sign, which VDPBF16PS would read as zero anyway.
func TestPackAPairs(t *testing.T) {
	specials := []uint32{
		0x3f808000, 0x3f818000, 0x3f807fff, 0xbf808001, 0x80000000, 0x7f7fffff, 0xff7fffff,
		0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffa00001, 0x00000001, 0x80018000,
	}
	r := rand.New(rand.NewPCG(31, 32))
	eachKernel(t, func(t *testing.T) {
		if impl.packPairs == nil {
			t.Skip("this kernel set reads A as float32")
		}
		for _, s := range []struct{ mc, kc, lda int }{{6, 256, 300}, {6, 64, 64}, {6, 70, 71}, {12, 33, 40}, {5, 32, 32}, {13, 97, 100}} {
			a := randSlice(r, (s.mc+1)*s.lda)
			for i := range a {
				if r.IntN(4) == 0 {
					a[i] = math.Float32frombits(specials[r.IntN(len(specials))])
				}
			}
			ic, pc := 1, s.lda-s.kc
			dst := make([]float32, ceilDiv(s.mc, tileM)*tileM*s.kc)
			packAPairs(dst, a, s.lda, ic, s.mc, pc, s.kc)
			for q := range ceilDiv(s.mc, tileM) {
				for j := range ceilDiv(s.kc, 2) {
					for row := range tileM {
						got := math.Float32bits(dst[q*s.kc*tileM+j*tileM+row])
						for h := range 2 {
							i, k := q*tileM+row, 2*j+h
							var want uint16
							if i < s.mc && k < s.kc {
								want = ToBF16(a[(ic+i)*s.lda+pc+k])
							}
							g := uint16(got >> (16 * h))
							if g != want && !(want&0x7f80 == 0 && g == want&0x8000) {
								t.Fatalf("mc=%d kc=%d: row %d, k %d: %#04x, want %#04x (from %#08x)", s.mc, s.kc, i, k, g, want, math.Float32bits(a[(ic+i)*s.lda+pc+k]))
							}
						}
					}
				}
			}
		}
	})
}
