package main

import (
	"bytes"
	"fmt"
	"slices"
)

// The AVX-512 register tile: two A micro-panels (12 rows) by two B micro-panels (32
// columns), 24 zmm accumulators of the 32. Made of the 6×16 packing units, it reads the
// same packed A and B as the AVX2 kernel, so the Packed layout does not depend on the CPU.
const (
	mr512 = 2 * mr // rows
	np512 = 2      // 16-wide B micro-panels, one zmm each
)

// tile512 emits gemm<rows>x<16·np>z (packed A) or gemm<rows>x<16·np>zd (A in place):
//
//	func(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)
//
// B micro-panel h is b[h·bstride:][kc][16]. Packed A: rows 6q..6q+5 are the micro-panel
// a[q·astride:][kc][6] (lda unused); direct A: row r is a[r·lda : r·lda+kc] (astride
// unused). Each element is one FMA chain over k in order from zero or from the bias row
// [16·np] (init 1), stored to C or added to it (init 2): the contract of the AVX2 kernel,
// so both give bitwise the same C.
//
// Registers: Z0, Z1 hold b[k] of the two panels, a[k][r] is an embedded-broadcast memory
// operand of each FMA, Z8..Z31 accumulate (row r, panel h in Z(8+np·r+h)). DI walks panel 0
// and R10 is the byte offset of panel 1. Packed A: SI walks rows 0–5, BX rows 6–11. Direct A
// with AX = lda in bytes: rows are (SI), (SI)(AX*1), (SI)(AX*2), (BX) = 3 rows on,
// (SI)(AX*4), (BX)(AX*2), (R13) = 6 rows on, (BX)(AX*4), (SI)(AX*8), (R9) = 9 rows on,
// (R9)(AX*1), (BX)(AX*8).
//
// The packed-A kernels also prefetch, a line per panel and k step, the same k block of the
// next 32 columns (R13 = 3·bstride bytes: panels 2 and 3) into L2. block runs a column of
// tiles against one B tile, so that tile's misses are paid once; at short sequences the
// weights stream from memory and, without this, each column's first tile waits for them.
// A prefetch past the end of B is harmless (it never faults).
//
// With bBF16 (gemm<rows>x<16·np>zb, zbd), the B micro-panels are bfloat16 [kc][16], bstride
// counted in bfloat16 elements: each row is widened to float32 as it is loaded (zero-extend
// to 32 bits, shift left 16), so the FMAs are the float32 kernel's on the widened panels.
//
// With bPairs (gemm<rows>x<16·np>zp, the avx512bf16 kernel set), B is the same bfloat16
// panels and A is packed as bfloat16 pairs: micro-panel q is a[q·astride:][⌈kc/2⌉][6]
// (counted in 4-byte slots), slot (j, r) holding a[r][2j] in its low half and a[r][2j+1] in
// its high half (0 past kc). Each k pair takes rows 2j and 2j+1 of a B panel (64 bytes,
// contiguous in the layout), interleaves them column by column with VPERMW into the pairs
// VDPBF16PS reads, and adds both products to each accumulator: twice the multiply-adds of
// an FMA per instruction, from bfloat16 activations. An odd kc ends with row kc−1 alone,
// loaded 32 bytes wide so its partner is zero, not the next panel's first row.
func tile512(w *bytes.Buffer, rows, np int, direct bool, bk bKind) {
	bf16 := bk != bF32
	pairs := bk == bPairs
	if pairs && direct {
		panic("bfloat16 pairs of A are always packed")
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	label := func(l string) { fmt.Fprintf(w, "%s:\n", l) }
	accz := func(r, h int) string { return fmt.Sprintf("Z%d", 8+np*r+h) }
	type base struct {
		reg   string
		scale int
	}
	directRows := [mr512]base{{"SI", 0}, {"SI", 1}, {"SI", 2}, {"BX", 0}, {"SI", 4}, {"BX", 2},
		{"R13", 0}, {"BX", 4}, {"SI", 8}, {"R9", 0}, {"R9", 1}, {"BX", 8}}
	aAt := func(r, u int) string {
		if !direct {
			reg := "SI"
			if r >= mr {
				reg = "BX"
			}
			return fmt.Sprintf("%d(%s)", 4*mr*u+4*(r%mr), reg)
		}
		b := directRows[r]
		if b.scale == 0 {
			return fmt.Sprintf("%d(%s)", 4*u, b.reg)
		}
		return fmt.Sprintf("%d(%s)(AX*%d)", 4*u, b.reg, b.scale)
	}
	// The base registers the rows use, advanced together.
	var bases []string
	for r := 0; r < rows; r++ {
		reg := "SI"
		switch {
		case !direct && r >= mr:
			reg = "BX"
		case direct:
			reg = directRows[r].reg
		}
		if !slices.Contains(bases, reg) {
			bases = append(bases, reg)
		}
	}
	step := func(u int) {
		bo := 4 * nr * u
		if pairs {
			pairStep(p, rows, np, bo, 4*mr*u)
			return
		}
		if bf16 {
			bo = 2 * nr * u
			p("VPMOVZXWD %d(DI), Z0", bo)
			p("VPSLLD $16, Z0, Z0")
			if np > 1 {
				p("VPMOVZXWD %d(DI)(R10*1), Z1", bo)
				p("VPSLLD $16, Z1, Z1")
			}
		} else {
			p("VMOVUPS %d(DI), Z0", bo)
			if np > 1 {
				p("VMOVUPS %d(DI)(R10*1), Z1", bo)
			}
		}
		if np > 1 && !direct {
			p("PREFETCHT1 %d(DI)(R10*2)", bo)
			p("PREFETCHT1 %d(DI)(R13*1)", bo)
		}
		for r := 0; r < rows; r++ {
			for h := 0; h < np; h++ {
				p("VFMADD231PS.BCST %s, Z%d, %s", aAt(r, u), h, accz(r, h))
			}
		}
	}
	aStep := func(n int) {
		bytes := 4 * n
		if !direct {
			bytes = 4 * mr * n
		}
		for _, reg := range bases {
			p("ADDQ $%d, %s", bytes, reg)
		}
	}
	rowsOf := func(f func(r int)) {
		p("MOVQ DX, R11")
		for r := 0; r < rows; r++ {
			if r > 0 {
				p("ADDQ R8, R11")
			}
			f(r)
		}
	}

	name, btype, bsize := fmt.Sprintf("gemm%dx%dz", rows, nr*np), "*float32", 4
	switch bk {
	case bBF16:
		name, btype, bsize = name+"b", "*uint16", 2
	case bPairs:
		name, btype, bsize = name+"p", "*uint16", 2
	}
	if direct {
		name += "d"
	}
	fmt.Fprintf(w, "\n// func %s(kc int, a *float32, lda, astride int, b %s, bstride int, c *float32, ldc int, bias *float32, init int)\n", name, btype)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-80\n", name)
	p("MOVQ kc+0(FP), CX")
	p("MOVQ a+8(FP), SI")
	if direct {
		p("MOVQ lda+16(FP), AX")
		p("SHLQ $2, AX")
		if rows > 3 {
			p("LEAQ (SI)(AX*2), BX")
			p("ADDQ AX, BX")
		}
		if rows > 6 {
			p("LEAQ (BX)(AX*2), R13")
			p("ADDQ AX, R13")
		}
		if rows > 9 {
			p("LEAQ (R13)(AX*2), R9")
			p("ADDQ AX, R9")
		}
	} else if rows > mr {
		p("MOVQ astride+24(FP), BX")
		p("LEAQ (SI)(BX*4), BX")
	}
	p("MOVQ b+32(FP), DI")
	if np > 1 {
		p("MOVQ bstride+40(FP), R10")
		p("SHLQ $%d, R10", log2(bsize))
		if !direct {
			p("LEAQ (R10)(R10*2), R13")
		}
	}
	p("MOVQ c+48(FP), DX")
	p("MOVQ ldc+56(FP), R8")
	p("SHLQ $2, R8")
	// A tile row of 64·np bytes spans np+1 cache lines unless aligned: touch each.
	rowsOf(func(r int) {
		for l := 0; l <= np; l++ {
			p("PREFETCHT0 %d(R11)", 64*l-min(l, 1))
		}
	})
	if pairs {
		p("VMOVDQU64 pairIndex<>(SB), Z2")
		p("SHRQ $1, CX")
	}
	p("MOVQ init+72(FP), R12")
	p("CMPQ R12, $1")
	p("JEQ loadbias")
	for r := 0; r < rows; r++ {
		for h := 0; h < np; h++ {
			p("VPXORD %[1]s, %[1]s, %[1]s", accz(r, h))
		}
	}
	p("JMP body")

	label("loadbias")
	p("MOVQ bias+64(FP), R12")
	for h := 0; h < np; h++ {
		p("VMOVUPS %d(R12), %s", 64*h, accz(0, h))
	}
	for r := 1; r < rows; r++ {
		for h := 0; h < np; h++ {
			p("VMOVAPS %s, %s", accz(0, h), accz(r, h))
		}
	}

	if !pairs {
		kLoop(w, step, aStep, bsize*nr, "store")
	} else {
		kLoop(w, step, aStep, 2*bsize*nr, "odd")
		label("odd")
		p("MOVQ kc+0(FP), CX")
		p("TESTQ $1, CX")
		p("JZ store")
		p("VMOVDQU (DI), Y0")
		p("VPERMW Z0, Z2, Z0")
		if np > 1 {
			p("VMOVDQU (DI)(R10*1), Y1")
			p("VPERMW Z1, Z2, Z1")
		}
		for r := 0; r < rows; r++ {
			for h := 0; h < np; h++ {
				p("%s", vdpbf16ps(8+np*r+h, h, aBase(r), 4*(r%mr)))
			}
		}
	}
	label("store")
	p("CMPQ init+72(FP), $2")
	p("JNE overwrite")
	rowsOf(func(r int) {
		for h := 0; h < np; h++ {
			p("VADDPS %d(R11), %[2]s, %[2]s", 64*h, accz(r, h))
		}
	})
	label("overwrite")
	rowsOf(func(r int) {
		for h := 0; h < np; h++ {
			p("VMOVUPS %s, %d(R11)", accz(r, h), 64*h)
		}
	})
	p("VZEROUPPER")
	p("RET")
}

// fmaPeak512 emits fmaPeak512(n int): n/2 iterations of 12 independent 16-wide FMAs,
// 192·n flops like fmaPeak, at the core's AVX-512 FMA peak.
func fmaPeak512(w *bytes.Buffer) {
	peakLoop(w, "fmaPeak512", 1, zeroZ, func(r int) string {
		return fmt.Sprintf("VFMADD231PS Z12, Z13, Z%d", r)
	})
}

func zeroZ(r int) string { return fmt.Sprintf("VPXORD Z%[1]d, Z%[1]d, Z%[1]d", r) }
