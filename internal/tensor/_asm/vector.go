package main

import (
	"bytes"
	"fmt"
	"math"
	"strings"
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

	// Two independent 8-lane streams are interleaved instruction by instruction: one
	// stream's exp is a ~60-cycle dependency chain, and the interleaving lets the core
	// overlap them without relying on its scheduler to reach far ahead.
	// A stream's registers: x input, y working value, n exponent, p polynomial, k mask,
	// t temporary; off is its byte offset within a loop iteration.
	type stream struct{ x, y, n, p, k, t, off string }
	emit := func(ss []stream, format string) {
		for _, st := range ss {
			r := strings.NewReplacer("{x}", st.x, "{y}", st.y, "{n}", st.n, "{p}", st.p, "{k}", st.k, "{t}", st.t, "{off}", st.off)
			p("%s", r.Replace(format))
		}
	}
	// exp sets {y} = exp32({y}) per stream, with log2e, one, bias127 in the registers
	// named; clobbers {n}, {p}, {k}. y < expLo (and -Inf) gives 0, NaN stays NaN (the mask
	// is "not less than"). With clamp, y is first clamped to expHi; NaN then becomes
	// expHi, so only callers that keep NaN another way (GELU's final x/…) clamp.
	exp := func(ss []stream, clamp bool, log2e, one, bias127, ln2Hi string) {
		if clamp {
			emit(ss, "VMINPS "+c("expHi")+", {y}, {y}")
		}
		emit(ss, "VCMPPS $5, "+c("expLo")+", {y}, {k}")
		emit(ss, "VMULPS "+log2e+", {y}, {n}")
		emit(ss, "VROUNDPS $0, {n}, {n}")
		emit(ss, "VFNMADD231PS "+ln2Hi+", {n}, {y}")
		emit(ss, "VFNMADD231PS "+c("ln2Lo")+", {n}, {y}")
		emit(ss, "VMOVUPS "+c("c7")+", {p}")
		for _, k := range []string{"c6", "c5", "c4", "c3", "c2"} {
			emit(ss, "VFMADD213PS "+c(k)+", {y}, {p}")
		}
		emit(ss, "VFMADD213PS "+one+", {y}, {p}")
		emit(ss, "VFMADD213PS "+one+", {y}, {p}")
		emit(ss, "VCVTPS2DQ {n}, {n}")
		emit(ss, "VPADDD "+bias127+", {n}, {n}")
		emit(ss, "VPSLLD $23, {n}, {n}")
		emit(ss, "VMULPS {n}, {p}, {y}")
		emit(ss, "VANDPS {k}, {y}, {y}")
	}

	// geluAVX2: n a multiple of 8. Y10..Y15 hold log2e, one, geluA, geluB, bias127, ln2Hi.
	gelu := []stream{
		{x: "Y0", y: "Y1", n: "Y2", p: "Y3", k: "Y4", off: "0"},
		{x: "Y5", y: "Y6", n: "Y7", p: "Y8", k: "Y9", off: "32"},
	}
	geluBody := func(ss []stream) {
		emit(ss, "VMOVUPS {off}(SI), {x}")
		emit(ss, "VMULPS {x}, {x}, {y}")
		emit(ss, "VFMADD213PS Y12, Y13, {y}") // geluA + geluB·x²
		emit(ss, "VMULPS {x}, {y}, {y}")      // −2u
		exp(ss, true, "Y10", "Y11", "Y14", "Y15")
		emit(ss, "VADDPS Y11, {y}, {y}")
		emit(ss, "VDIVPS {y}, {x}, {x}")
		emit(ss, "VMOVUPS {x}, {off}(DI)")
	}
	text("func geluAVX2(dst, src *float32, n int)", "geluAVX2", "$0-24")
	p("MOVQ dst+0(FP), DI")
	p("MOVQ src+8(FP), SI")
	p("MOVQ n+16(FP), CX")
	p("SHRQ $3, CX")
	p("JZ done")
	for i, k := range []string{"log2e", "one", "geluA", "geluB", "bias127", "ln2Hi"} {
		p("VMOVUPS %s, Y%d", c(k), 10+i)
	}
	p("TESTQ $1, CX")
	p("JZ pairs")
	geluBody(gelu[:1])
	p("ADDQ $32, SI")
	p("ADDQ $32, DI")
	label("pairs")
	p("SHRQ $1, CX")
	p("JZ end")
	label("loop")
	geluBody(gelu)
	p("ADDQ $64, SI")
	p("ADDQ $64, DI")
	p("DECQ CX")
	p("JNZ loop")
	label("end")
	p("VZEROUPPER")
	label("done")
	p("RET")

	// expSumAVX2: x[i] = exp32(x[i] − m), returns Σ x[i] in float64; n a multiple of 8.
	// Y10, Y11 hold float64 partial sums of the low and high four lanes; Y12..Y15 hold m,
	// log2e, one, bias127. x − m ≤ 0 (m is the max), so no clamp: NaN stays NaN.
	es := []stream{
		{y: "Y0", n: "Y1", p: "Y2", k: "Y3", t: "Y4", off: "0"},
		{y: "Y5", n: "Y6", p: "Y7", k: "Y8", t: "Y9", off: "32"},
	}
	text("func expSumAVX2(x *float32, n int, m float32) float64", "expSumAVX2", "$0-32")
	p("MOVQ x+0(FP), SI")
	p("MOVQ n+8(FP), CX")
	p("VXORPD Y10, Y10, Y10")
	p("VXORPD Y11, Y11, Y11")
	p("SHRQ $3, CX")
	p("JZ done")
	p("VBROADCASTSS m+16(FP), Y12")
	p("VMOVUPS %s, Y13", c("log2e"))
	p("VMOVUPS %s, Y14", c("one"))
	p("VMOVUPS %s, Y15", c("bias127"))
	body := func(ss []stream) {
		emit(ss, "VMOVUPS {off}(SI), {y}")
		emit(ss, "VSUBPS Y12, {y}, {y}")
		exp(ss, false, "Y13", "Y14", "Y15", c("ln2Hi"))
		emit(ss, "VMOVUPS {y}, {off}(SI)")
		for _, st := range ss {
			lo, hi := "X"+st.y[1:], "X"+st.t[1:] // the xmm halves
			p("VCVTPS2PD %s, %s", lo, st.t)
			p("VADDPD %s, Y10, Y10", st.t)
			p("VEXTRACTF128 $1, %s, %s", st.y, hi)
			p("VCVTPS2PD %s, %s", hi, st.t)
			p("VADDPD %s, Y11, Y11", st.t)
		}
	}
	p("TESTQ $1, CX")
	p("JZ pairs")
	body(es[:1])
	p("ADDQ $32, SI")
	label("pairs")
	p("SHRQ $1, CX")
	p("JZ done")
	label("loop")
	body(es)
	p("ADDQ $64, SI")
	p("DECQ CX")
	p("JNZ loop")
	label("done")
	p("VADDPD Y11, Y10, Y10")
	p("VEXTRACTF128 $1, Y10, X11")
	p("VADDPD X11, X10, X10")
	p("VHADDPD X10, X10, X10")
	p("VMOVSD X10, ret+24(FP)")
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
