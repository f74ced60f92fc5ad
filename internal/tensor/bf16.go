package tensor

import (
	"fmt"
	"math"
)

// WeightType is how a Packed matrix stores its elements. Whatever the storage, products
// read them as float32 and compute in float32, so only the stored values differ; except on
// the avx512bf16 kernels, which multiply bfloat16 weights by bfloat16-rounded activations
// (RoundsActivations).
type WeightType uint8

const (
	F32  WeightType = iota // float32: the weights exactly as loaded
	BF16                   // bfloat16: half the memory, each weight rounded to 8 significant bits
)

// WeightTypes are the names ParseWeightType accepts, in WeightType order.
var WeightTypes = []string{"f32", "bf16"}

func (t WeightType) String() string {
	if int(t) < len(WeightTypes) {
		return WeightTypes[t]
	}
	return fmt.Sprintf("WeightType(%d)", t)
}

// ParseWeightType reads "f32" or "bf16".
func ParseWeightType(s string) (WeightType, error) {
	for i, name := range WeightTypes {
		if s == name {
			return WeightType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown weight type %q (known: f32, bf16)", s)
}

// ToBF16 rounds f to the nearest bfloat16 (the top 16 bits of a float32), ties to even.
// Values past the largest bfloat16 round to ±Inf as IEEE rounding does; a NaN stays a NaN
// (quiet, its sign and top payload bits kept), where truncating a payload held only in the
// low bits would make it an infinity.
func ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// FromBF16 is the float32 value of a bfloat16: exact.
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// As returns p stored as t: p itself when it is already, else a converted copy (bfloat16
// rounds to nearest, ties to even; float32 widens exactly).
func (p *Packed) As(t WeightType) *Packed {
	if p.Type() == t {
		return p
	}
	return newPacked(t, p.K, p.N, func(dst []float32, jc, _ int) { p.load(jc*p.K, dst) })
}
