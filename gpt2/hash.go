package gpt2

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
)

// weightsHash fingerprints a model's weights: its shape and every bit of every tensor, in
// checkpoint order. An edit set is tied to the weights it was made on by this value, so it
// must tell apart two checkpoints that differ in one weight (an exported edited model and
// its base). It is a 64-bit multiply–xor hash over four lanes, not a cryptographic one: it
// guards against mistakes, not adversaries, and runs at memory speed (a sampled hash would
// miss a single edited row).
//
// With evict, each tensor is handed to it once hashed: a mapped file's pages can leave the
// resident set then (they are read again when packed) instead of all staying until their
// matrix is packed, which would make the whole file resident at once.
func weightsHash(c Config, p *Params, evict func(x []float32)) string {
	fields := p.fields()
	sums := make([]uint64, len(fields))
	var wg sync.WaitGroup
	for i, f := range fields {
		wg.Go(func() {
			sums[i] = hashFloats(*f)
			if evict != nil {
				evict(*f)
			}
		})
	}
	wg.Wait()
	h := hashFloats([]float32{float32(c.NLayers), float32(c.NHeads), float32(c.DModel), float32(c.DMLP), float32(c.DVocab), float32(c.NCtx)})
	var buf []byte
	for _, s := range sums {
		buf = binary.LittleEndian.AppendUint64(buf, s)
	}
	for len(buf) > 0 {
		h = mix(h ^ binary.LittleEndian.Uint64(buf))
		buf = buf[8:]
	}
	return fmt.Sprintf("%016x", h)
}

const hashPrime = 0x9e3779b97f4a7c15

func mix(h uint64) uint64 {
	h *= hashPrime
	return h ^ bits.RotateLeft64(h, 29) ^ h>>32
}

// hashFloats hashes x's bits and its length; nil and empty hash alike, apart from others.
func hashFloats(x []float32) uint64 {
	var l [4]uint64
	for i := range l {
		l[i] = uint64(i+1) * hashPrime
	}
	i := 0
	for ; i+8 <= len(x); i += 8 {
		for j := range l {
			w := uint64(math.Float32bits(x[i+2*j])) | uint64(math.Float32bits(x[i+2*j+1]))<<32
			l[j] = mix(l[j] ^ w)
		}
	}
	h := uint64(len(x))
	for ; i < len(x); i++ {
		h = mix(h ^ uint64(math.Float32bits(x[i])))
	}
	for _, v := range l {
		h = mix(h ^ v)
	}
	return h
}
