package main

import (
	"bytes"
	"fmt"
	"math"
)

// constant is a float32 broadcast to 8 lanes in a read-only table, usable as a 256-bit
// memory operand or loaded with VMOVUPS.
type constant struct {
	name string
	bits uint32
}

func f32(name string, v float64) constant { return constant{name, math.Float32bits(float32(v))} }

// The exp32 and gelu constants of vector.go in package tensor; see there for the method.
var constants = []constant{
	f32("expHi", 88.0),
	f32("expLo", -87.3),
	f32("log2e", 1.4426950408889634),
	f32("ln2Hi", 0.693359375),
	f32("ln2Lo", -2.12194440e-4),
	f32("one", 1),
	f32("c2", 1.0/2),
	f32("c3", 1.0/6),
	f32("c4", 1.0/24),
	f32("c5", 1.0/120),
	f32("c6", 1.0/720),
	f32("c7", 1.0/5040),
	f32("geluA", -2*0.7978845608028654),
	f32("geluB", -2*0.7978845608028654*0.044715),
	f32("negInf", math.Inf(-1)),
	{"bias127", 127}, // int32 lanes: the exponent bias
}

func c(name string) string { return name + "<>(SB)" }

func vector(w *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	label := func(l string) { fmt.Fprintf(w, "%s:\n", l) }
	text := func(sig, name, frame string) {
		fmt.Fprintf(w, "\n// %s\nTEXT ·%s(SB), NOSPLIT, %s\n", sig, name, frame)
	}

	fmt.Fprintln(w)
	for _, k := range constants {
		for i := 0; i < 8; i++ {
			fmt.Fprintf(w, "DATA %s<>+%d(SB)/4, $0x%08x\n", k.name, 4*i, k.bits)
		}
		fmt.Fprintf(w, "GLOBL %s<>(SB), RODATA|NOPTR, $32\n", k.name)
	}

	// exp sets Y1 = exp32(Y1), with Y8 = expHi, Y9 = expLo, Y10 = log2e, Y11 = one,
	// Y14 = bias127, Y15 = ln2Hi loaded; clobbers Y2..Y4. NaN stays NaN (the min keeps
	// its second operand, the mask is "not less than"), -Inf and y < expLo give 0.
	loadExpConsts := func() {
		for i, k := range []string{"expHi", "expLo", "log2e", "one"} {
			p("VMOVUPS %s, Y%d", c(k), 8+i)
		}
		p("VMOVUPS %s, Y14", c("bias127"))
		p("VMOVUPS %s, Y15", c("ln2Hi"))
	}
	exp := func() {
		p("VMINPS Y1, Y8, Y1")
		p("VCMPPS $5, Y9, Y1, Y4")
		p("VMULPS Y10, Y1, Y2")
		p("VROUNDPS $0, Y2, Y2")
		p("VFNMADD231PS Y15, Y2, Y1")
		p("VFNMADD231PS %s, Y2, Y1", c("ln2Lo"))
		p("VMOVUPS %s, Y3", c("c7"))
		for _, k := range []string{"c6", "c5", "c4", "c3", "c2"} {
			p("VFMADD213PS %s, Y1, Y3", c(k))
		}
		p("VFMADD213PS Y11, Y1, Y3")
		p("VFMADD213PS Y11, Y1, Y3")
		p("VCVTPS2DQ Y2, Y2")
		p("VPADDD Y14, Y2, Y2")
		p("VPSLLD $23, Y2, Y2")
		p("VMULPS Y2, Y3, Y1")
		p("VANDPS Y4, Y1, Y1")
	}

	// geluAVX2: n a multiple of 8.
	text("func geluAVX2(dst, src *float32, n int)", "geluAVX2", "$0-24")
	p("MOVQ dst+0(FP), DI")
	p("MOVQ src+8(FP), SI")
	p("MOVQ n+16(FP), CX")
	p("SHRQ $3, CX")
	p("JZ done")
	loadExpConsts()
	p("VMOVUPS %s, Y12", c("geluA"))
	p("VMOVUPS %s, Y13", c("geluB"))
	label("loop")
	p("VMOVUPS (SI), Y0")
	p("VMULPS Y0, Y0, Y1")
	p("VFMADD213PS Y12, Y13, Y1") // geluA + geluB·x²
	p("VMULPS Y0, Y1, Y1")        // −2u
	exp()
	p("VADDPS Y11, Y1, Y1")
	p("VDIVPS Y1, Y0, Y0")
	p("VMOVUPS Y0, (DI)")
	p("ADDQ $32, SI")
	p("ADDQ $32, DI")
	p("DECQ CX")
	p("JNZ loop")
	p("VZEROUPPER")
	label("done")
	p("RET")

	// expSumAVX2: x[i] = exp32(x[i] − m), returns Σ x[i] in float64; n a multiple of 8.
	// Y6 and Y7 hold float64 partial sums of the low and high four lanes.
	text("func expSumAVX2(x *float32, n int, m float32) float64", "expSumAVX2", "$0-32")
	p("MOVQ x+0(FP), SI")
	p("MOVQ n+8(FP), CX")
	p("VXORPD Y6, Y6, Y6")
	p("VXORPD Y7, Y7, Y7")
	p("SHRQ $3, CX")
	p("JZ done")
	loadExpConsts()
	p("VBROADCASTSS m+16(FP), Y12")
	label("loop")
	p("VMOVUPS (SI), Y1")
	p("VSUBPS Y12, Y1, Y1")
	exp()
	p("VMOVUPS Y1, (SI)")
	p("VCVTPS2PD X1, Y2")
	p("VADDPD Y2, Y6, Y6")
	p("VEXTRACTF128 $1, Y1, X2")
	p("VCVTPS2PD X2, Y2")
	p("VADDPD Y2, Y7, Y7")
	p("ADDQ $32, SI")
	p("DECQ CX")
	p("JNZ loop")
	label("done")
	p("VADDPD Y7, Y6, Y6")
	p("VEXTRACTF128 $1, Y6, X7")
	p("VADDPD X7, X6, X6")
	p("VHADDPD X6, X6, X6")
	p("VMOVSD X6, ret+24(FP)")
	p("VZEROUPPER")
	p("RET")

	// maxAVX2: max over x[0:n]; n a multiple of 8 (−Inf for n = 0).
	text("func maxAVX2(x *float32, n int) float32", "maxAVX2", "$0-20")
	p("MOVQ x+0(FP), SI")
	p("MOVQ n+8(FP), CX")
	p("VMOVUPS %s, Y0", c("negInf"))
	p("VMOVUPS Y0, Y1")
	p("SHRQ $3, CX")
	p("JZ reduce")
	p("TESTQ $1, CX")
	p("JZ pairs")
	p("VMAXPS (SI), Y0, Y0")
	p("ADDQ $32, SI")
	label("pairs")
	p("SHRQ $1, CX")
	p("JZ reduce")
	label("loop")
	p("VMAXPS (SI), Y0, Y0")
	p("VMAXPS 32(SI), Y1, Y1")
	p("ADDQ $64, SI")
	p("DECQ CX")
	p("JNZ loop")
	label("reduce")
	p("VMAXPS Y1, Y0, Y0")
	p("VEXTRACTF128 $1, Y0, X1")
	p("VMAXPS X1, X0, X0")
	p("VPERMILPS $0x4e, X0, X1")
	p("VMAXPS X1, X0, X0")
	p("VPERMILPS $0xb1, X0, X1")
	p("VMAXPS X1, X0, X0")
	p("VMOVSS X0, ret+16(FP)")
	p("VZEROUPPER")
	p("RET")

	// scaleAVX2: x[i] *= s; n a multiple of 8.
	text("func scaleAVX2(x *float32, n int, s float32)", "scaleAVX2", "$0-20")
	p("MOVQ x+0(FP), SI")
	p("MOVQ n+8(FP), CX")
	p("SHRQ $3, CX")
	p("JZ done")
	p("VBROADCASTSS s+16(FP), Y1")
	label("loop")
	p("VMULPS (SI), Y1, Y0")
	p("VMOVUPS Y0, (SI)")
	p("ADDQ $32, SI")
	p("DECQ CX")
	p("JNZ loop")
	p("VZEROUPPER")
	label("done")
	p("RET")

	// dotAVX2: Σ a[i]·b[i], n any; four 8-lane FMA chains, then a scalar tail in X8.
	text("func dotAVX2(a, b *float32, n int) float32", "dotAVX2", "$0-28")
	p("MOVQ a+0(FP), SI")
	p("MOVQ b+8(FP), DI")
	p("MOVQ n+16(FP), CX")
	for r := 0; r < 4; r++ {
		p("VXORPS Y%[1]d, Y%[1]d, Y%[1]d", r)
	}
	p("VXORPS X8, X8, X8")
	p("MOVQ CX, DX")
	p("SHRQ $5, DX")
	p("JZ tail8")
	label("loop32")
	for r := 0; r < 4; r++ {
		p("VMOVUPS %d(SI), Y4", 32*r)
		p("VFMADD231PS %d(DI), Y4, Y%d", 32*r, r)
	}
	p("ADDQ $128, SI")
	p("ADDQ $128, DI")
	p("DECQ DX")
	p("JNZ loop32")
	label("tail8")
	p("MOVQ CX, DX")
	p("ANDQ $31, DX")
	p("SHRQ $3, DX")
	p("JZ tail1")
	label("loop8")
	p("VMOVUPS (SI), Y4")
	p("VFMADD231PS (DI), Y4, Y0")
	p("ADDQ $32, SI")
	p("ADDQ $32, DI")
	p("DECQ DX")
	p("JNZ loop8")
	label("tail1")
	p("ANDQ $7, CX")
	p("JZ reduce")
	label("loop1")
	p("VMOVSS (SI), X4")
	p("VFMADD231SS (DI), X4, X8")
	p("ADDQ $4, SI")
	p("ADDQ $4, DI")
	p("DECQ CX")
	p("JNZ loop1")
	label("reduce")
	p("VADDPS Y1, Y0, Y0")
	p("VADDPS Y3, Y2, Y2")
	p("VADDPS Y2, Y0, Y0")
	p("VEXTRACTF128 $1, Y0, X1")
	p("VADDPS X1, X0, X0")
	p("VHADDPS X0, X0, X0")
	p("VHADDPS X0, X0, X0")
	p("VADDSS X8, X0, X0")
	p("VMOVSS X0, ret+24(FP)")
	p("VZEROUPPER")
	p("RET")

	// axpyAVX2: y[i] += alpha·x[i] (one FMA each), n any.
	text("func axpyAVX2(alpha float32, x, y *float32, n int)", "axpyAVX2", "$0-32")
	p("MOVQ x+8(FP), SI")
	p("MOVQ y+16(FP), DI")
	p("MOVQ n+24(FP), CX")
	p("VBROADCASTSS alpha+0(FP), Y15")
	p("MOVQ CX, DX")
	p("SHRQ $5, DX")
	p("JZ tail8")
	label("loop32")
	for r := 0; r < 4; r++ {
		p("VMOVUPS %d(DI), Y%d", 32*r, r)
		p("VFMADD231PS %d(SI), Y15, Y%d", 32*r, r)
		p("VMOVUPS Y%d, %d(DI)", r, 32*r)
	}
	p("ADDQ $128, SI")
	p("ADDQ $128, DI")
	p("DECQ DX")
	p("JNZ loop32")
	label("tail8")
	p("MOVQ CX, DX")
	p("ANDQ $31, DX")
	p("SHRQ $3, DX")
	p("JZ tail1")
	label("loop8")
	p("VMOVUPS (DI), Y0")
	p("VFMADD231PS (SI), Y15, Y0")
	p("VMOVUPS Y0, (DI)")
	p("ADDQ $32, SI")
	p("ADDQ $32, DI")
	p("DECQ DX")
	p("JNZ loop8")
	label("tail1")
	p("ANDQ $7, CX")
	p("JZ done")
	label("loop1")
	p("VMOVSS (DI), X0")
	p("VFMADD231SS (SI), X15, X0")
	p("VMOVSS X0, (DI)")
	p("ADDQ $4, SI")
	p("ADDQ $4, DI")
	p("DECQ CX")
	p("JNZ loop1")
	label("done")
	p("VZEROUPPER")
	p("RET")
}
