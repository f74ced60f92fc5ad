package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// stTestFile writes a safetensors file with the given length prefix, header and data area.
func stTestFile(t *testing.T, n uint64, header string, data []byte) string {
	t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, n)
	b = append(append(b, header...), data...)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenFixtures(t *testing.T) {
	tests := []struct {
		path    string
		count   int
		first   string // lowest data offset
		name    string
		dtype   DType
		shape   []int
		begin   int64
		head    []float32 // first elements, exact
		last    float32
		metaFmt string
	}{
		{"../testdata/tiny-gpt2/model.safetensors", 32, "h.0.attn.bias",
			"h.0.ln_1.weight", DTypeF16, []int{32}, 139592, []float32{1.0732421875, 0.7919921875, 0.9482421875}, 1.080078125, "pt"},
		{"../testdata/tiny-gpt2/model.safetensors", 32, "h.0.attn.bias",
			"wte.weight", DTypeF16, []int{50257, 32}, 190216, []float32{0.08642578125, 0.2054443359375}, 0.1380615234375, "pt"},
		{"../testdata/tiny-gpt2/model.safetensors", 32, "h.0.attn.bias",
			"h.0.attn.masked_bias", DTypeF32, []int{}, 65536, []float32{-10000}, -10000, "pt"},
		{"../testdata/tiny-gpt2-small-vocab/model.safetensors", 33, "transformer.h.0.attn.bias",
			"transformer.wte.weight", DTypeBF16, []int{1000, 16}, 80008, []float32{0.056640625, -0.1572265625}, -0.150390625, "pt"},
		{"../testdata/tiny-gpt2-small-vocab/model.safetensors", 33, "transformer.h.0.attn.bias",
			"transformer.ln_f.weight", DTypeBF16, []int{16}, 77928, []float32{1.1015625, 0.9921875, 1.0625}, 1.046875, "pt"},
		{"../testdata/tiny-gpt2-small-vocab/model.safetensors", 33, "transformer.h.0.attn.bias",
			"transformer.h.0.attn.bias", DTypeF32, []int{1, 1, 64, 64}, 0, []float32{1, 0}, 1, "pt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenSafetensors(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			names := f.Names()
			if len(names) != tc.count || names[0] != tc.first || f.Path() != tc.path {
				t.Fatalf("got %d names starting %q, path %q", len(names), names[0], f.Path())
			}
			info, ok := f.Info(tc.name)
			if !ok || info.DType != tc.dtype || !slices.Equal(info.Shape, tc.shape) || info.Begin != tc.begin {
				t.Fatalf("Info = %+v, %v", info, ok)
			}
			got, err := f.Float32(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			numel := 1
			for _, d := range tc.shape {
				numel *= d
			}
			if len(got) != numel || !slices.Equal(got[:len(tc.head)], tc.head) || got[len(got)-1] != tc.last {
				t.Fatalf("got %d values, head %v, last %v", len(got), got[:len(tc.head)], got[len(got)-1])
			}
			if m := f.Metadata(); len(m) != 1 || m["format"] != tc.metaFmt {
				t.Fatalf("Metadata = %v", m)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	exact := []float32{0, float32(math.Copysign(0, -1)), 1, -2, 0.5, 1.5, 0.09375, float32(math.Inf(1)), float32(math.Inf(-1))}
	tensors := []Tensor{
		{Name: "z.f32", Shape: []int{2, 3}, F32: []float32{1, -2, 3.25, 1e-40, math.MaxFloat32, -7}},
		{Name: "a.f16", Shape: []int{9}, F32: append(exact[:0:0], exact...), DType: DTypeF16},
		{Name: "m.bf16", Shape: []int{3, 3}, F32: append([]float32{}, exact...), DType: DTypeBF16},
		{Name: "f64", Shape: []int{2}, F32: []float32{0.1, -3e38}, DType: DTypeF64},
		{Name: "ids", Shape: []int{1, 3}, I64: []int64{-1, 0, math.MaxInt64}},
		{Name: "scalar", F32: []float32{42}},
		{Name: "empty", Shape: []int{0, 5}},
		{Name: "odd.f16", Shape: []int{1}, F32: []float32{3}, DType: DTypeF16}, // misaligns what follows
		{Name: "unaligned <&>", Shape: []int{2}, F32: []float32{6, 7}},
	}
	meta := map[string]string{"format": "pt", "note": "héllo \"quoted\""}
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := WriteSafetensors(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 || raw[8+n-1] != ' ' && raw[8+n-1] != '}' {
		t.Fatalf("header length %d not padded to 8 with spaces", n)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	for _, tn := range tensors {
		want = append(want, tn.Name)
	}
	if got := f.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names = %q, want %q", got, want)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Fatalf("Metadata = %v", got)
	}
	for _, tn := range tensors {
		info, _ := f.Info(tn.Name)
		if wantDT := stWrittenDType(tn); info.DType != wantDT || !slices.Equal(info.Shape, append([]int{}, tn.Shape...)) {
			t.Errorf("%s: Info = %+v", tn.Name, info)
		}
		if tn.I64 != nil {
			got, err := f.Int64(tn.Name)
			if err != nil || !slices.Equal(got, tn.I64) {
				t.Errorf("%s: Int64 = %v, %v", tn.Name, got, err)
			}
			continue
		}
		got, err := f.Float32(tn.Name)
		if err != nil || !slices.EqualFunc(got, tn.F32, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Errorf("%s: Float32 = %v, %v, want %v", tn.Name, got, err, tn.F32)
		}
	}
	// F32 is a view of the mapping when aligned, a copy when not.
	inMap := func(name string) bool {
		v, _ := f.Float32(name)
		p := uintptr(unsafe.Pointer(&v[0]))
		return p >= uintptr(unsafe.Pointer(&f.data[0])) && p < uintptr(unsafe.Pointer(&f.data[0]))+uintptr(len(f.data))
	}
	if !inMap("z.f32") || inMap("unaligned <&>") {
		t.Errorf("zero-copy: aligned view %v, unaligned view %v", inMap("z.f32"), inMap("unaligned <&>"))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32("z.f32"); err == nil || err.Error() != "weights: "+path+": file is closed" {
		t.Fatalf("after Close: %v", err)
	}
}

// stWrittenDType is the dtype WriteSafetensors stores t as.
func stWrittenDType(t Tensor) DType {
	switch {
	case t.DType != "":
		return t.DType
	case t.I64 != nil:
		return DTypeI64
	}
	return DTypeF32
}

func TestReadConversions(t *testing.T) {
	// I32, F64 and an unaligned F32 written by hand; the gap before "f32" is allowed.
	var data []byte
	data = binary.LittleEndian.AppendUint32(data, uint32(0xffffff85))                   // i32 -123
	data = binary.LittleEndian.AppendUint32(data, 7)                                    // i32 7
	data = binary.LittleEndian.AppendUint64(data, math.Float64bits(1+math.Pow(2, -24))) // f64 tie: rounds to 1
	data = append(data, 0xee)                                                           // gap
	data = binary.LittleEndian.AppendUint32(data, math.Float32bits(-2.5))
	header := `{"i32":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},` +
		`"f64":{"dtype":"F64","shape":[],"data_offsets":[8,16]},` +
		`"f32":{"dtype":"F32","shape":[1],"data_offsets":[17,21]}}`
	path := stTestFile(t, uint64(len(header)), header, data)
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := f.Int64("i32"); err != nil || !slices.Equal(got, []int64{-123, 7}) {
		t.Errorf("Int64(i32) = %v, %v", got, err)
	}
	if got, err := f.Float32("f64"); err != nil || !slices.Equal(got, []float32{1}) {
		t.Errorf("Float32(f64) = %v, %v", got, err)
	}
	if got, err := f.Float32("f32"); err != nil || !slices.Equal(got, []float32{-2.5}) {
		t.Errorf("Float32(f32) = %v, %v", got, err)
	}
	for _, tc := range []struct {
		call func() error
		want string
	}{
		{func() error { _, err := f.Float32("i32"); return err }, `tensor "i32": dtype I32 is not a float type`},
		{func() error { _, err := f.Int64("f32"); return err }, `tensor "f32": dtype F32 is not an integer type`},
		{func() error { _, err := f.Float32("nope"); return err }, `no tensor "nope"`},
	} {
		if err := tc.call(); err == nil || err.Error() != "weights: "+path+": "+tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestF16Rounding(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{0.1, 0x2e66},
		{1.0 / 3, 0x3555},
		{1 + 0x1p-11, 0x3c00},   // tie, even stays
		{1 + 3*0x1p-11, 0x3c02}, // tie, odd rounds up
		{65504, 0x7bff},
		{65519.99, 0x7bff},
		{65520, 0x7c00}, // tie between max half and 2¹⁶: even is inf
		{1e10, 0x7c00},
		{0x1p-14, 0x0400},        // smallest normal
		{1023 * 0x1p-24, 0x03ff}, // largest subnormal
		{0x1p-24, 0x0001},        // smallest subnormal
		{0x1p-25, 0x0000},        // tie to even zero
		{math.Nextafter32(0x1p-25, 1), 0x0001},
		{3 * 0x1p-25, 0x0002}, // tie between 1 and 2 ulps: even
		{-0x1p-26, 0x8000},
		{1e-45, 0x0000}, // float32 subnormal
		{float32(math.Copysign(0, -1)), 0x8000},
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{math.Float32frombits(0x7fc00000), 0x7e00},
		{math.Float32frombits(0xff800001), 0xfe00}, // payload only in bits dropped: still NaN
	}
	for _, tc := range tests {
		if got := stF32ToF16(tc.in); got != tc.want {
			t.Errorf("stF32ToF16(%g [%#08x]) = %#04x, want %#04x", tc.in, math.Float32bits(tc.in), got, tc.want)
		}
	}
	decode := []struct {
		in   uint16
		want float32
	}{
		{0x0001, 0x1p-24}, {0x8001, -0x1p-24}, {0x03ff, 1023 * 0x1p-24}, {0x0400, 0x1p-14},
		{0x3555, 0.333251953125}, {0x7bff, 65504}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, tc := range decode {
		if got := stF16ToF32(tc.in); got != tc.want {
			t.Errorf("stF16ToF32(%#04x) = %g, want %g", tc.in, got, tc.want)
		}
	}
	// Widening then rounding is the identity on every half; NaNs stay NaN.
	for h := range 1 << 16 {
		f := stF16ToF32(uint16(h))
		back := stF32ToF16(f)
		if isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0; isNaN {
			if f == f || back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %g -> %#04x", h, f, back)
			}
		} else if back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
	// Round to nearest: no other half is closer to x than the chosen one (sampled positive
	// float32s up to 2¹⁶). Inf stands for 2¹⁶, as IEEE rounding treats overflow.
	value := func(h uint16) float64 {
		if h == 0x7c00 {
			return 65536
		}
		return float64(stF16ToF32(h))
	}
	for b := uint32(0); b < 0x47800000; b += 4099 {
		x := float64(math.Float32frombits(b))
		h := stF32ToF16(math.Float32frombits(b))
		d := math.Abs(x - value(h))
		for _, nb := range []uint16{h - 1, h + 1} {
			if nb <= 0x7c00 && math.Abs(x-value(nb)) < d {
				t.Fatalf("%g rounds to %#04x, but %#04x is closer", x, h, nb)
			}
		}
	}
}

func TestBF16Rounding(t *testing.T) {
	tests := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above tie
		{0xbf80ffff, 0xbf81}, // -1.0078…
		{0x7f7fffff, 0x7f80}, // max float32 rounds to inf
		{0x7f7f7fff, 0x7f7f}, // stays finite
		{0x00008000, 0x0000}, // subnormal tie to even zero
		{0x00018000, 0x0002}, // subnormal tie, odd rounds up
		{0x00008001, 0x0001},
		{0x80000000, 0x8000}, // -0
		{0x7f800000, 0x7f80}, // inf
		{0xff800000, 0xff80}, // -inf
		{0x7fc00000, 0x7fc0}, // NaN
		{0x7f800001, 0x7fc0}, // NaN with payload only in dropped bits
		{0xffffffff, 0xffff}, // NaN with full payload does not wrap
	}
	for _, tc := range tests {
		if got := stF32ToBF16(math.Float32frombits(tc.in)); got != tc.want {
			t.Errorf("stF32ToBF16(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestCorruptFiles(t *testing.T) {
	entry := func(name, dtype, shape string, b, e int) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":[` + strconv.Itoa(b) + `,` + strconv.Itoa(e) + `]}`
	}
	ok := entry("a", "F32", "[2]", 0, 8)
	tests := []struct {
		name   string
		n      uint64 // 0: len(header)
		header string
		data   int
		want   string
	}{
		{"empty file", 0, "", -8, "truncated: file has 0 bytes, too short for the 8-byte header length"},
		{"header length > file", 1234, strings.Repeat(" ", 100), 0, "truncated: header says 1234 bytes, file has 100 after the length prefix"},
		{"header too large", 100_000_001, "{}", 0, "header length 100000001 exceeds the 100000000-byte limit"},
		{"header length max", math.MaxUint64, "{}", 0, "header length 18446744073709551615 exceeds the 100000000-byte limit"},
		{"bad json", 0, `{"a":{"dtype":"F32",}`, 0, "header is not valid JSON: invalid character '}'"},
		{"unterminated", 0, `{"__metadata__":{}`, 0, "header is not valid JSON: unterminated object"},
		{"not an object", 0, `[1,2]`, 0, "header is not a JSON object"},
		{"trailing data", 0, `{} {}`, 0, "trailing data after the JSON object"},
		{"not utf-8", 0, "{\"\xff\":1}", 0, "header is not valid UTF-8"},
		{"duplicate", 0, "{" + ok + "," + ok + "}", 8, `duplicate tensor "a"`},
		{"metadata not strings", 0, `{"__metadata__":{"k":1}}`, 0, "__metadata__ is not a map of strings to strings"},
		{"entry not object", 0, `{"a":5}`, 0, `tensor "a": entry is not an object`},
		{"missing offsets", 0, `{"a":{"dtype":"F32","shape":[]}}`, 0, `tensor "a": missing data_offsets`},
		{"unknown dtype", 0, "{" + entry("a", "F8_E4M3", "[2]", 0, 2) + "}", 2, `tensor "a": unknown dtype "F8_E4M3"`},
		{"dtype wrong case", 0, `{"a":{"DTYPE":"F32","shape":[],"data_offsets":[0,4]}}`, 4, `tensor "a": missing dtype`},
		{"negative shape", 0, "{" + entry("a", "F32", "[2,-1]", 0, 8) + "}", 8, `tensor "a": negative dimension in shape [2 -1]`},
		{"fractional shape", 0, "{" + entry("a", "F32", "[1.5]", 0, 8) + "}", 8, `tensor "a": bad shape [1.5]`},
		{"null shape", 0, "{" + entry("a", "F32", "null", 0, 4) + "}", 4, `tensor "a": bad shape null`},
		{"shape overflow", 0, "{" + entry("a", "F32", "[4294967296,4294967296]", 0, 0) + "}", 0, `tensor "a": shape [4294967296 4294967296] overflows`},
		{"bytes overflow", 0, "{" + entry("a", "F64", "[4611686018427387904]", 0, 0) + "}", 0, `tensor "a": shape [4611686018427387904] overflows`},
		{"three offsets", 0, `{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4,8]}}`, 8, `tensor "a": data_offsets must be [begin, end]`},
		{"reversed span", 0, "{" + entry("a", "F32", "[]", 8, 4) + "}", 8, `tensor "a": span [8,4) ends before it begins`},
		{"negative offset", 0, "{" + entry("a", "F32", "[2]", -4, 4) + "}", 8, `tensor "a": span [-4,4) outside data area of 8 bytes`},
		{"span mismatch", 0, "{" + entry("h.0.attn.c_attn.weight", "F16", "[32,96]", 0, 6000) + "}", 6000,
			`tensor "h.0.attn.c_attn.weight": dtype F16 shape [32 96] needs 6144 bytes, span has 6000`},
		{"truncated data", 0, "{" + ok + "," + entry("b", "F32", "[2]", 8, 16) + "}", 12, `tensor "b": span [8,16) outside data area of 12 bytes: the file is truncated`},
		{"overlap", 0, "{" + ok + "," + entry("b", "F32", "[2]", 4, 12) + "}", 12, `tensor "b": span [4,12) overlaps tensor "a" [0,8)`},
		{"empty span inside", 0, "{" + ok + "," + entry("b", "F32", "[0]", 4, 4) + "}", 8, `tensor "b": span [4,4) overlaps tensor "a" [0,8)`},
	}
	t.Run("truncated fixture", func(t *testing.T) {
		b, err := os.ReadFile("../testdata/tiny-gpt2/model.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "model.safetensors")
		if err := os.WriteFile(path, b[:150000], 0o644); err != nil {
			t.Fatal(err)
		}
		want := "weights: " + path + `: tensor "h.0.mlp.c_fc.weight": span [140040,148232) outside data area of 147360 bytes: the file is truncated`
		if _, err := OpenSafetensors(path); err == nil || err.Error() != want {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("folder", func(t *testing.T) {
		dir := t.TempDir()
		want := "weights: " + dir + " is a folder, not a safetensors file"
		if _, err := OpenSafetensors(dir); err == nil || err.Error() != want {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n
			if n == 0 {
				n = uint64(len(tc.header))
			}
			var path string
			if tc.data < 0 {
				path = filepath.Join(t.TempDir(), "model.safetensors")
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				path = stTestFile(t, n, tc.header, make([]byte, tc.data))
			}
			f, err := OpenSafetensors(path)
			if err == nil {
				f.Close()
				t.Fatal("opened a corrupt file")
			}
			msg, prefix := err.Error(), "weights: "+path+": "
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("got  %q\nwant %q", msg, prefix+tc.want)
			}
		})
	}
}

func TestAcceptsGaps(t *testing.T) {
	// A gap between tensors and unused trailing bytes are accepted; Names follow offsets.
	header := `{"b":{"dtype":"U8","shape":[1],"data_offsets":[4,5]},"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},"__metadata__":null}`
	infos, meta, err := ParseSafetensorsHeader([]byte(header+"   "), 9)
	want := []TensorInfo{{"a", DTypeBool, []int{2}, 0, 2}, {"b", DTypeU8, []int{1}, 4, 5}}
	if err != nil || meta != nil || !reflect.DeepEqual(infos, want) {
		t.Fatalf("got %+v, %v, %v", infos, meta, err)
	}
	if _, _, err := ParseSafetensorsHeader([]byte("{}"), -1); err == nil || err.Error() != "weights: safetensors header: negative data size -1" {
		t.Fatalf("negative data size: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	big := []int{math.MaxInt, math.MaxInt, math.MaxInt, 0} // overflows int64 on 32-bit hosts too
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"duplicate", []Tensor{{Name: "a", F32: []float32{1}}, {Name: "a", F32: []float32{1}}}, nil, `tensor "a": duplicate name`},
		{"shape mismatch", []Tensor{{Name: "a", Shape: []int{2, 3}, F32: make([]float32, 5)}}, nil, `tensor "a": shape [2 3] has 6 elements, data has 5`},
		{"negative dim", []Tensor{{Name: "a", Shape: []int{-1}}}, nil, `tensor "a": negative dimension in shape [-1]`},
		{"overflow", []Tensor{{Name: "a", Shape: big}}, nil, `tensor "a": shape ` + fmt.Sprint(big) + ` overflows`},
		{"both data", []Tensor{{Name: "a", F32: []float32{1}, I64: []int64{1}}}, nil, `tensor "a": both F32 and I64 data set`},
		{"float as int", []Tensor{{Name: "a", F32: []float32{1}, DType: DTypeI64}}, nil, `tensor "a": cannot store float32 data as I64`},
		{"int as float", []Tensor{{Name: "a", I64: []int64{1}, DType: DTypeF16}}, nil, `tensor "a": cannot store int64 data as F16`},
		{"unwritable dtype", []Tensor{{Name: "a", F32: []float32{1}, DType: DTypeI8}}, nil, `tensor "a": cannot write dtype "I8"`},
		{"empty name", []Tensor{{F32: []float32{1}}}, nil, `tensor "": invalid name`},
		{"reserved name", []Tensor{{Name: "__metadata__", F32: []float32{1}}}, nil, `tensor "__metadata__": invalid name`},
		{"bad utf-8 name", []Tensor{{Name: "\xff", F32: []float32{1}}}, nil, `tensor "\xff": invalid name`},
		{"bad utf-8 metadata", nil, map[string]string{"k": "\xff"}, `metadata "k": not valid UTF-8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.safetensors")
			err := WriteSafetensors(path, tc.tensors, tc.meta)
			if want := "weights: " + path + ": " + tc.want; err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("file written despite error: %v", err)
			}
		})
	}
}

func FuzzParseSafetensorsHeader(f *testing.F) {
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), int64(8))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}  `), int64(6))
	f.Fuzz(func(t *testing.T, header []byte, dataSize int64) {
		infos, meta, err := ParseSafetensorsHeader(header, dataSize)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		_ = meta
		seen := map[string]bool{}
		var prevEnd int64
		for _, in := range infos {
			numel := int64(1)
			for _, d := range in.Shape {
				if d < 0 {
					t.Fatalf("%+v: negative dimension", in)
				}
				numel *= int64(d)
			}
			if seen[in.Name] || in.Name == "__metadata__" || in.DType.Size() == 0 ||
				in.Begin < prevEnd || in.End < in.Begin || in.End > dataSize || numel*int64(in.DType.Size()) != in.End-in.Begin {
				t.Fatalf("accepted invalid tensor %+v (data size %d)", in, dataSize)
			}
			seen[in.Name], prevEnd = true, in.End
		}
	})
}

func TestReadSafetensorsFromMemory(t *testing.T) {
	data, err := os.ReadFile("../testdata/tiny-gpt2/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := ReadSafetensors("embedded/model.safetensors", data)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := OpenSafetensors("../testdata/tiny-gpt2/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	for _, n := range disk.Names() {
		a, err1 := mem.Float32(n)
		b, err2 := disk.Float32(n)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("%s differs between memory and disk (%v, %v)", n, err1, err2)
		}
	}
	if err := mem.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSafetensors("x", data[:5]); err == nil || err.Error() != "weights: x: truncated: file has 5 bytes, too short for the 8-byte header length" {
		t.Errorf("short buffer: %v", err)
	}
	if _, err := ReadSafetensors("x", data[:len(data)/2]); err == nil || !strings.Contains(err.Error(), "outside data area") {
		t.Errorf("half buffer: %v", err)
	}
}
