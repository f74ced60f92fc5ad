package main

import (
	"bytes"
	"fmt"
	"strings"
)

// bKind is how a tile512 kernel reads B (and A).
type bKind int

const (
	bF32   bKind = iota // float32 panels
	bBF16               // bfloat16 panels widened to float32: the float32 FMA chain
	bPairs              // bfloat16 panels, A as bfloat16 pairs: VDPBF16PS
)

// aBase is the register walking the packed A micro-panel of tile row r.
func aBase(r int) string {
	if r >= mr {
		return "BX"
	}
	return "SI"
}

// pairStep emits one k pair of a bPairs kernel: B rows 2j, 2j+1 of each panel at bo(DI)
// interleaved into Z0 (and Z1), then VDPBF16PS for every accumulator with the row's A pair
// broadcast from ao bytes into its micro-panel.
func pairStep(p func(string, ...any), rows, np, bo, ao int) {
	p("VPERMW %d(DI), Z2, Z0", bo)
	if np > 1 {
		p("VPERMW %d(DI)(R10*1), Z2, Z1", bo)
		p("PREFETCHT1 %d(DI)(R10*2)", bo)
		p("PREFETCHT1 %d(DI)(R13*1)", bo)
	}
	for r := 0; r < rows; r++ {
		for h := 0; h < np; h++ {
			p("%s", vdpbf16ps(8+np*r+h, h, aBase(r), ao+4*(r%mr)))
		}
	}
}

// vdpbf16ps encodes VDPBF16PS zmm(dst), zmm(src), m32bcst[base+disp] (Intel operand order):
// EVEX.512.F3.0F38.W0 52 /r with the broadcast bit set, ModRM mod 01 and a disp8 scaled by
// the 4-byte element.
func vdpbf16ps(dst, src int, base string, disp int) string {
	regs := map[string]int{"SI": 6, "BX": 3}
	b, ok := regs[base]
	if !ok || disp%4 != 0 || disp/4 > 127 {
		panic(fmt.Sprintf("vdpbf16ps: cannot encode Z%d, Z%d, %d(%s)", dst, src, disp, base))
	}
	return evex512(0x52, 0b10, dst, src, b, true, 0b01, disp/4) +
		fmt.Sprintf(" // VDPBF16PS.BCST %d(%s), Z%d, Z%d", disp, base, src, dst)
}

// vcvtne2ps2bf16 encodes VCVTNE2PS2BF16 zmm(dst), zmm(hi), zmm(lo): the 32 float32 of lo
// then hi rounded to bfloat16 (to nearest even) as words 0–15 and 16–31 of dst.
// EVEX.512.F2.0F38.W0 72 /r.
func vcvtne2ps2bf16(dst, hi, lo int) string {
	return evex512(0x72, 0b11, dst, hi, lo, false, 0b11, -1) +
		fmt.Sprintf(" // VCVTNE2PS2BF16 Z%d, Z%d, Z%d", lo, hi, dst)
}

// evex512 returns as BYTE directives the 512-bit, W0, 0F38-map instruction opcode with
// prefix pp, ModRM reg = zmm dst, vvvv = zmm src, and r/m = rm: a zmm register when mod is
// 11, else a base register (not SP, R12 or BP, R13) with disp8 (-1: none) and, with bcst,
// the embedded 32-bit broadcast. Go's assembler does not know the AVX512_BF16 instructions.
func evex512(opcode, pp, dst, src, rm int, bcst bool, mod, disp8 int) string {
	if dst > 31 || src > 31 || rm > 31 || mod != 0b11 && (rm > 15 || rm&7 == 4 || rm&7 == 5) || disp8 > 127 {
		panic(fmt.Sprintf("evex512: cannot encode %#x %d, %d, %d", opcode, dst, src, rm))
	}
	inv := func(v, bit int) int { return ^(v >> bit) & 1 }
	x := 1 // no index register; for a zmm r/m, its bit 4
	if mod == 0b11 {
		x = inv(rm, 4)
	}
	b := 0
	if bcst {
		b = 1
	}
	enc := []int{
		0x62,
		inv(dst, 3)<<7 | x<<6 | inv(rm, 3)<<5 | inv(dst, 4)<<4 | 0b10, // R X B R' 0 0 map 0F38
		(^src&15)<<3 | 1<<2 | pp,        // W0 vvvv 1 pp
		0b10<<5 | b<<4 | inv(src, 4)<<3, // z=0 L'L=512 b V' aaa=0
		opcode,
		mod<<6 | (dst&7)<<3 | rm&7,
	}
	if disp8 >= 0 {
		enc = append(enc, disp8)
	}
	s := make([]string, len(enc))
	for i, v := range enc {
		s[i] = fmt.Sprintf("BYTE $0x%02x", v)
	}
	return strings.Join(s, "; ")
}

// packPairs512 emits packPairs512(dst, a *float32, lda, groups int): groups × 16 k pairs of a
// full 6-row A micro-panel in bfloat16 pairs (see tile512's bPairs), the rows read from
// a[r·lda:], 32 float32 of each per group. Each row's 32 values are rounded by
// VCVTNE2PS2BF16, whose 16 dwords are exactly its 16 pairs; rows r and r+1 are interleaved
// (VPUNPCKLDQ/HDQ) so that each pair j of both is one 8-byte store to its slots (j, r),
// (j, r+1), through a 128-byte buffer on the stack. (A VPSCATTERDD per row, 6 slots
// apart, took about 1.6 times as long in a forward pass.)
func packPairs512(w *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	fmt.Fprint(w, "\n// func packPairs512(dst, a *float32, lda, groups int)\nTEXT ·packPairs512(SB), NOSPLIT, $128-32\n")
	p("MOVQ dst+0(FP), DI")
	p("MOVQ a+8(FP), SI")
	p("MOVQ lda+16(FP), AX")
	p("SHLQ $2, AX")
	p("MOVQ groups+24(FP), CX")
	p("LEAQ (SI)(AX*2), BX")
	p("ADDQ AX, BX")
	p("TESTQ CX, CX")
	p("JZ done")
	fmt.Fprint(w, "loop:\n")
	rows := []string{"(SI)", "(SI)(AX*1)", "(SI)(AX*2)", "(BX)", "(SI)(AX*4)", "(BX)(AX*2)"}
	// Qword q of the low interleave holds pair lowJ[q] of the two rows, of the high one
	// pair lowJ[q]+2: VPUNPCK works within 128-bit lanes.
	lowJ := []int{0, 1, 4, 5, 8, 9, 12, 13}
	for r := 0; r < mr; r += 2 {
		for h := 0; h < 2; h++ {
			p("VMOVUPS %s, Z0", rows[r+h])
			p("VMOVUPS 64%s, Z1", rows[r+h])
			p("%s", vcvtne2ps2bf16(2+h, 1, 0))
		}
		p("VPUNPCKLDQ Z3, Z2, Z4")
		p("VPUNPCKHDQ Z3, Z2, Z5")
		p("VMOVDQU64 Z4, (SP)")
		p("VMOVDQU64 Z5, 64(SP)")
		for half := 0; half < 2; half++ {
			for q, j := range lowJ {
				p("MOVQ %d(SP), R8", 64*half+8*q)
				p("MOVQ R8, %d(DI)", 4*mr*(j+2*half)+4*r)
			}
		}
	}
	p("ADDQ $128, SI")
	p("ADDQ $128, BX")
	p("ADDQ $%d, DI", 16*mr*4)
	p("DECQ CX")
	p("JNZ loop")
	fmt.Fprint(w, "done:\n")
	p("VZEROUPPER")
	p("RET")
}

// dotPeak512 emits dotPeak512(n int): n/4 iterations of 12 independent VDPBF16PS, 192·n
// flops like fmaPeak512 (each instruction is 16 lanes × 2 multiply-adds): the roofline of
// avx512bf16's products with bfloat16 weights.
func dotPeak512(w *bytes.Buffer) {
	peakLoop(w, "dotPeak512", 2, zeroZ, func(r int) string {
		return evex512(0x52, 0b10, r, 12, 13, false, 0b11, -1) + fmt.Sprintf(" // VDPBF16PS Z13, Z12, Z%d", r)
	})
}

// pairIndex emits the VPERMW index that interleaves two 16-element rows: word 2i takes
// column i of the first row, word 2i+1 column i of the second.
func pairIndex(w *bytes.Buffer) {
	for i := 0; i < 2*nr; i++ {
		fmt.Fprintf(w, "DATA pairIndex<>+%d(SB)/2, $%d\n", 2*i, i/2+nr*(i%2))
	}
	fmt.Fprintf(w, "GLOBL pairIndex<>(SB), RODATA|NOPTR, $%d\n", 4*nr)
}
