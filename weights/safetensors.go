package weights

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// A safetensors file is an 8-byte little-endian header length n, n bytes of JSON header, then
// the data area. The header maps each tensor name to its dtype, shape and byte span
// [begin, end) in the data area, plus an optional "__metadata__" map of strings.

// DType names an element type as spelled in a safetensors header.
type DType string

const (
	DTypeF64  DType = "F64"
	DTypeF32  DType = "F32"
	DTypeF16  DType = "F16"
	DTypeBF16 DType = "BF16"
	DTypeI64  DType = "I64"
	DTypeI32  DType = "I32"
	DTypeI16  DType = "I16"
	DTypeI8   DType = "I8"
	DTypeU8   DType = "U8"
	DTypeBool DType = "BOOL"
)

// Size is the element size in bytes, or 0 for a dtype this package does not know.
func (d DType) Size() int {
	switch d {
	case DTypeF64, DTypeI64:
		return 8
	case DTypeF32, DTypeI32:
		return 4
	case DTypeF16, DTypeBF16, DTypeI16:
		return 2
	case DTypeI8, DTypeU8, DTypeBool:
		return 1
	}
	return 0
}

// stMaxHeader is the reference implementation's limit: it bounds what a hostile file can make
// the JSON decoder allocate.
const stMaxHeader = 100_000_000

const stMetaKey = "__metadata__"

var stLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64 // byte span [Begin, End) relative to the start of the data area
}

// File is an open safetensors file whose header has been validated. Its methods may be called
// concurrently, except Close.
type File struct {
	path  string
	data  []byte       // the whole file, mapped; nil once closed
	infos []TensorInfo // in data-offset order
	base  int64        // offset of the data area in data
	index map[string]int
	meta  map[string]string
	// mapped is set when data is an mmap of the file (Close unmaps it), not caller memory.
	mapped bool
}

// OpenSafetensors maps path and validates its header. Errors name the path as given.
func OpenSafetensors(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("weights: %s is a folder, not a safetensors file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("weights: %s: truncated: file has %d bytes, too short for the 8-byte header length", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("weights: %s: file of %d bytes is too large to map", path, size)
	}
	data, err := stMap(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("weights: %s: map: %w", path, err)
	}
	f, err := stNewFile(path, data)
	if err != nil {
		stUnmap(data)
		return nil, err
	}
	f.mapped = true
	return f, nil
}

// ReadSafetensors validates a safetensors file held in memory (an embedded model); name is
// used in errors. Views returned by Float32 point into data.
func ReadSafetensors(name string, data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("weights: %s: truncated: file has %d bytes, too short for the 8-byte header length", name, len(data))
	}
	return stNewFile(name, data)
}

// stNewFile checks the header of a whole file's bytes (len(data) >= 8) and indexes it.
func stNewFile(path string, data []byte) (*File, error) {
	size := int64(len(data))
	n := binary.LittleEndian.Uint64(data)
	var err error
	switch {
	case n > stMaxHeader:
		err = fmt.Errorf("header length %d exceeds the %d-byte limit", n, stMaxHeader)
	case int64(n) > size-8:
		err = fmt.Errorf("truncated: header says %d bytes, file has %d after the length prefix", n, size-8)
	}
	f := &File{path: path, data: data, base: 8 + int64(n)}
	if err == nil {
		f.infos, f.meta, err = stParseHeader(data[8:f.base], size-f.base)
	}
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	f.index = make(map[string]int, len(f.infos))
	for i, t := range f.infos {
		f.index[t.Name] = i
	}
	return f, nil
}

// ParseSafetensorsHeader validates the JSON header of a file whose data area holds dataSize
// bytes and returns its tensors in data-offset order. Every tensor must have a known dtype,
// non-negative dimensions and a span inside the data area whose length is exactly what the
// dtype and shape need; spans must not overlap (an empty span counts as overlapping when it
// falls strictly inside another). Unlike the reference implementation, gaps between spans and
// unused bytes at the end of the data area are accepted: they are harmless to a reader.
func ParseSafetensorsHeader(header []byte, dataSize int64) ([]TensorInfo, map[string]string, error) {
	infos, meta, err := stParseHeader(header, dataSize)
	if err != nil {
		return nil, nil, fmt.Errorf("weights: safetensors header: %w", err)
	}
	return infos, meta, nil
}

func stParseHeader(header []byte, dataSize int64) ([]TensorInfo, map[string]string, error) {
	switch {
	case dataSize < 0:
		return nil, nil, fmt.Errorf("negative data size %d", dataSize)
	case len(header) > stMaxHeader:
		return nil, nil, fmt.Errorf("header length %d exceeds the %d-byte limit", len(header), stMaxHeader)
	case !utf8.Valid(header):
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	// A token stream rather than one Unmarshal into a map, so duplicate names are caught.
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("header is not a JSON object")
	}
	var infos []TensorInfo
	var meta map[string]string
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		var raw json.RawMessage
		if err == nil {
			err = dec.Decode(&raw)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("header is not valid JSON: non-string key")
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("duplicate tensor %q", name)
		}
		seen[name] = true
		if name == stMetaKey {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, errors.New("__metadata__ is not a map of strings to strings")
			}
			continue
		}
		info, err := stParseEntry(name, raw, dataSize)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		infos = append(infos, info)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, errors.New("header is not valid JSON: unterminated object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("trailing data after the JSON object")
	}
	slices.SortFunc(infos, func(a, b TensorInfo) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End), strings.Compare(a.Name, b.Name))
	})
	for i := 1; i < len(infos); i++ {
		if p, t := infos[i-1], infos[i]; t.Begin < p.End {
			return nil, nil, fmt.Errorf("tensor %q: span [%d,%d) overlaps tensor %q [%d,%d)", t.Name, t.Begin, t.End, p.Name, p.Begin, p.End)
		}
	}
	return infos, meta, nil
}

// stParseEntry checks one {"dtype", "shape", "data_offsets"} entry. Fields are looked up by
// exact name: encoding/json would otherwise match them case-insensitively.
func stParseEntry(name string, raw json.RawMessage, dataSize int64) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return info, errors.New("entry is not an object")
	}
	var dtype string
	var shape, offs []int64
	for _, f := range []struct {
		key string
		dst any
	}{{"dtype", &dtype}, {"shape", &shape}, {"data_offsets", &offs}} {
		v, ok := fields[f.key]
		if !ok {
			return info, fmt.Errorf("missing %s", f.key)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return info, fmt.Errorf("bad %s %.40s", f.key, v)
		}
	}
	info.DType = DType(dtype)
	size := int64(info.DType.Size())
	if size == 0 {
		return info, fmt.Errorf("unknown dtype %q", dtype)
	}
	if shape == nil {
		return info, errors.New("bad shape null")
	}
	numel := int64(1)
	for _, d := range shape {
		if d < 0 {
			return info, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d > math.MaxInt || d != 0 && numel > math.MaxInt64/d {
			return info, fmt.Errorf("shape %v overflows", shape)
		}
		numel *= d
		info.Shape = append(info.Shape, int(d))
	}
	if numel > math.MaxInt64/size {
		return info, fmt.Errorf("shape %v overflows", shape)
	}
	if len(offs) != 2 {
		return info, errors.New("data_offsets must be [begin, end]")
	}
	info.Begin, info.End = offs[0], offs[1]
	switch {
	case info.Begin > info.End:
		return info, fmt.Errorf("span [%d,%d) ends before it begins", info.Begin, info.End)
	case info.Begin < 0:
		return info, fmt.Errorf("span [%d,%d) outside data area of %d bytes", info.Begin, info.End, dataSize)
	case info.End > dataSize: // what a download cut short looks like
		return info, fmt.Errorf("span [%d,%d) outside data area of %d bytes: the file is truncated", info.Begin, info.End, dataSize)
	case numel*size != info.End-info.Begin:
		return info, fmt.Errorf("dtype %s shape %v needs %d bytes, span has %d", dtype, shape, numel*size, info.End-info.Begin)
	}
	return info, nil
}

// Path is the path the file was opened with.
func (f *File) Path() string { return f.path }

// Names lists the tensors in data-offset order.
func (f *File) Names() []string {
	names := make([]string, len(f.infos))
	for i, t := range f.infos {
		names[i] = t.Name
	}
	return names
}

// Info describes the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.infos[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}

// Metadata is a copy of the header's "__metadata__" map, nil if it has none.
func (f *File) Metadata() map[string]string { return maps.Clone(f.meta) }

// Drop releases the memory behind x, a view returned by Float32, once its caller has
// copied what it needs: a mapped file's pages leave the process's resident set (reading x
// again reads the file; edits made through x are lost). Anything else is left alone.
func (f *File) Drop(x []float32) {
	if !f.mapped || len(x) == 0 || len(f.data) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	if p < lo || p+uintptr(len(x))*4 > lo+uintptr(len(f.data)) {
		return
	}
	stDrop(f.data[p-lo : p-lo+uintptr(len(x))*4])
}

// Close unmaps the file; views returned by Float32 must not be used afterwards.
func (f *File) Close() error {
	if f.data == nil {
		return nil
	}
	var err error
	if f.mapped {
		err = stUnmap(f.data)
	}
	f.data = nil
	if err != nil {
		return fmt.Errorf("weights: %s: unmap: %w", f.path, err)
	}
	return nil
}

func (f *File) stBytes(name string) (TensorInfo, []byte, error) {
	i, ok := f.index[name]
	switch {
	case f.data == nil:
		return TensorInfo{}, nil, fmt.Errorf("weights: %s: file is closed", f.path)
	case !ok:
		return TensorInfo{}, nil, fmt.Errorf("weights: %s: no tensor %q", f.path, name)
	}
	t := f.infos[i]
	return t, f.data[f.base+t.Begin : f.base+t.End], nil
}

// Float32 returns the named tensor's elements in row-major order. An F32 tensor that is
// 4-byte aligned on a little-endian host comes back as a view of the mapping: it is valid
// until Close, and writes to it stay private to this process. F16, BF16 and F64 are converted
// (F64 rounded to nearest even).
func (f *File) Float32(name string) ([]float32, error) {
	t, b, err := f.stBytes(name)
	if err != nil {
		return nil, err
	}
	n := len(b) / t.DType.Size()
	if t.DType == DTypeF32 && n > 0 && stLittleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n), nil
	}
	out := make([]float32, n)
	switch t.DType {
	case DTypeF32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case DTypeF16:
		for i := range out {
			out[i] = stF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case DTypeBF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case DTypeF64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		return nil, fmt.Errorf("weights: %s: tensor %q: dtype %s is not a float type", f.path, name, t.DType)
	}
	return out, nil
}

// Int64 returns the named I64 or I32 tensor's elements as a fresh slice.
func (f *File) Int64(name string) ([]int64, error) {
	t, b, err := f.stBytes(name)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(b)/t.DType.Size())
	switch t.DType {
	case DTypeI64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case DTypeI32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	default:
		return nil, fmt.Errorf("weights: %s: tensor %q: dtype %s is not an integer type", f.path, name, t.DType)
	}
	return out, nil
}

// stF16ToF32 widens an IEEE half exactly, keeping subnormals, infinities and NaN payloads.
func stF16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp, man := uint32(h>>10)&0x1f, uint32(h&0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
	// Zero or subnormal: man × 2⁻²⁴, exact in float32.
	v := float32(man) * 0x1p-24
	if sign != 0 {
		v = -v
	}
	return v
}

// stF32ToF16 rounds to the nearest half, ties to even; too large becomes ±inf, NaN stays NaN.
func stF32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp, man := int32(b>>23)&0xff, b&0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(man>>13) // quiet bit keeps a NaN whose payload is all low bits
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal: value / 2⁻²⁴ = (1.man × 2²³) >> shift.
		shift := uint32(14 - e)
		if shift > 24 {
			return sign // below half the smallest subnormal
		}
		return sign | uint16(stRoundShift(man|0x800000, shift))
	}
	// A carry out of the mantissa correctly bumps the exponent, up to inf.
	return sign | uint16(uint32(e)<<10+stRoundShift(man, 13))
}

// stRoundShift is m >> shift rounded to nearest, ties to even.
func stRoundShift(m, shift uint32) uint32 {
	q, rem, half := m>>shift, m&(1<<shift-1), uint32(1)<<(shift-1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}

// stF32ToBF16 rounds to the nearest bfloat16, ties to even; NaN stays NaN.
func stF32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// Tensor is one tensor to write. DType "" means F32, or I64 when I64 is set; F32 data may also
// be stored as F16 or BF16 (rounded to nearest even) or F64.
type Tensor struct {
	Name  string
	Shape []int
	F32   []float32
	I64   []int64
	DType DType
}

// WriteSafetensors writes tensors, in the order given, and metadata to path atomically. The
// header is padded with spaces to a multiple of 8 bytes, as Hugging Face does, so that every
// F32 tensor is aligned for zero-copy reads.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	if len(metadata) > 0 {
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return fmt.Errorf("weights: %s: metadata %q: not valid UTF-8", path, k)
			}
		}
		m, _ := json.Marshal(metadata) // sorted keys: the output is deterministic
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(m)
	}
	dtypes := make([]DType, len(tensors))
	seen := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		dt, numel, err := stCheckTensor(t)
		if err == nil && seen[t.Name] {
			err = errors.New("duplicate name")
		}
		if err != nil {
			return fmt.Errorf("weights: %s: tensor %q: %w", path, t.Name, err)
		}
		seen[t.Name], dtypes[i] = true, dt
		if hdr.Len() > 1 {
			hdr.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name)
		shape, _ := json.Marshal(append([]int{}, t.Shape...)) // [] rather than null for scalars
		end := off + numel*int64(dt.Size())
		fmt.Fprintf(&hdr, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, dt, shape, off, end)
		off = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	if hdr.Len() > stMaxHeader {
		return fmt.Errorf("weights: %s: header of %d bytes exceeds the %d-byte limit", path, hdr.Len(), stMaxHeader)
	}
	err := fsutil.WriteFileAtomic(path, func(w io.Writer) error {
		buf := binary.LittleEndian.AppendUint64(make([]byte, 0, 1<<16), uint64(hdr.Len()))
		if _, err := w.Write(append(buf, hdr.Bytes()...)); err != nil {
			return err
		}
		for i, t := range tensors {
			if err := stWriteData(w, buf[:0], t, dtypes[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	return nil
}

// stCheckTensor resolves t's dtype and checks its name, shape and data length.
func stCheckTensor(t Tensor) (DType, int64, error) {
	switch {
	case t.Name == "" || t.Name == stMetaKey || !utf8.ValidString(t.Name):
		return "", 0, errors.New("invalid name")
	case t.F32 != nil && t.I64 != nil:
		return "", 0, errors.New("both F32 and I64 data set")
	}
	dt := t.DType
	if dt == "" {
		dt = DTypeF32
		if t.I64 != nil {
			dt = DTypeI64
		}
	}
	switch dt {
	case DTypeF32, DTypeF16, DTypeBF16, DTypeF64:
		if t.I64 != nil {
			return "", 0, fmt.Errorf("cannot store int64 data as %s", dt)
		}
	case DTypeI64:
		if t.F32 != nil {
			return "", 0, errors.New("cannot store float32 data as I64")
		}
	default:
		return "", 0, fmt.Errorf("cannot write dtype %q", dt)
	}
	numel := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return "", 0, fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
		if d != 0 && numel > math.MaxInt64/int64(d) {
			return "", 0, fmt.Errorf("shape %v overflows", t.Shape)
		}
		numel *= int64(d)
	}
	if n := len(t.F32) + len(t.I64); numel != int64(n) {
		return "", 0, fmt.Errorf("shape %v has %d elements, data has %d", t.Shape, numel, n)
	}
	return dt, numel, nil
}

// stWriteData encodes t's elements as dt in little-endian order through buf.
func stWriteData(w io.Writer, buf []byte, t Tensor, dt DType) error {
	for i := range len(t.F32) + len(t.I64) {
		switch dt {
		case DTypeF32:
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(t.F32[i]))
		case DTypeF16:
			buf = binary.LittleEndian.AppendUint16(buf, stF32ToF16(t.F32[i]))
		case DTypeBF16:
			buf = binary.LittleEndian.AppendUint16(buf, stF32ToBF16(t.F32[i]))
		case DTypeF64:
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(float64(t.F32[i])))
		case DTypeI64:
			buf = binary.LittleEndian.AppendUint64(buf, uint64(t.I64[i]))
		}
		if len(buf) > cap(buf)-8 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}
