package gpt2

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// KVCache keeps one sequence's keys and values of every layer, so that a decode step
// computes only the new token.
type KVCache struct {
	k, v [][]float32 // per layer [C, D], filled up to n rows
	n    int         // positions held
	d    int         // D
}

// NewKVCache returns an empty cache for one sequence; it grows as positions are added.
func (m *Model) NewKVCache() *KVCache {
	c := m.Config
	return &KVCache{k: make([][]float32, c.NLayers), v: make([][]float32, c.NLayers), d: c.DModel}
}

// Len is the number of positions the cache holds.
func (kv *KVCache) Len() int { return kv.n }

// append adds T new rows of keys and values [T, D] to layer l and returns all rows held;
// the last layer's append advances the length.
func (kv *KVCache) append(l int, k, v []float32) (keys, vals []float32) {
	kv.k[l] = append(kv.k[l], k...)
	kv.v[l] = append(kv.v[l], v...)
	if l == len(kv.k)-1 {
		kv.n = len(kv.k[l]) / kv.d
	}
	return kv.k[l], kv.v[l]
}

// Head returns the first n positions of kv as a cache sharing its memory, without copying:
// extending either one never changes what the other holds (the head's first extension
// copies it). For runs of many continuations of one prefix (RunOptions.Prefix).
func (kv *KVCache) Head(n int) *KVCache {
	n = max(0, min(n, kv.n))
	h := &KVCache{k: make([][]float32, len(kv.k)), v: make([][]float32, len(kv.v)), n: n, d: kv.d}
	for l := range kv.k {
		h.k[l], h.v[l] = kv.k[l][:n*kv.d:n*kv.d], kv.v[l][:n*kv.d:n*kv.d]
	}
	return h
}

// truncate keeps the first n positions: a cancelled run leaves keys in some layers only.
func (kv *KVCache) truncate(n int) {
	for l := range kv.k {
		kv.k[l], kv.v[l] = kv.k[l][:n*kv.d], kv.v[l][:n*kv.d]
	}
	kv.n = n
}

// Grow makes room for n more positions, so that the decode steps that add them copy
// nothing already held.
func (kv *KVCache) Grow(n int) {
	for l := range kv.k {
		kv.k[l] = slices.Grow(kv.k[l], n*kv.d)
		kv.v[l] = slices.Grow(kv.v[l], n*kv.d)
	}
}

// Sampling chooses the next token from logits. The zero value is greedy decoding.
type Sampling struct {
	Temperature float64 // 0: greedy
	TopK        int     // 0: no limit
	TopP        float64 // 0 or 1: no limit
	Seed        uint64
}

// Generate continues prompt by n tokens with a KV cache, stopping early at <|endoftext|>
// when stopAtEOT. It returns the new ids.
func (m *Model) Generate(prompt []int, n int, s Sampling, stopAtEOT bool) ([]int, error) {
	return m.GenerateContext(context.Background(), prompt, n, s, stopAtEOT)
}

// GenerateContext is Generate that stops with ctx's error when ctx is cancelled (checked
// between blocks of every step).
func (m *Model) GenerateContext(ctx context.Context, prompt []int, n int, s Sampling, stopAtEOT bool) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("gpt2: generate needs at least one prompt token")
	}
	if len(prompt)+n > m.Config.NCtx {
		return nil, fmt.Errorf("gpt2: %d prompt tokens + %d new ones exceed the context of %d", len(prompt), n, m.Config.NCtx)
	}
	kv := m.NewKVCache()
	kv.Grow(len(prompt) + n)
	rng := rand.New(rand.NewPCG(s.Seed, 0x6d6563686c656e73))
	next := prompt
	var out []int
	for i := 0; i < n; i++ {
		res, err := m.Run([][]int{next}, RunOptions{Logits: LogitsLast, Past: []*KVCache{kv}, Context: ctx})
		if err != nil {
			return nil, err
		}
		id := s.pick(res.Logits[0], rng)
		res.Release()
		out = append(out, id)
		if stopAtEOT && m.Tokenizer != nil && id == m.Tokenizer.EOT() {
			break
		}
		next = []int{id}
	}
	return out, nil
}

// pick applies temperature, top-k and top-p (in that order, as Hugging Face's warpers do).
func (s Sampling) pick(logits []float32, rng *rand.Rand) int {
	if s.Temperature <= 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	type cand struct {
		id int
		p  float64
	}
	cs := make([]cand, len(logits))
	for i, v := range logits {
		cs[i] = cand{i, float64(v) / s.Temperature}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].p > cs[b].p })
	if s.TopK > 0 && s.TopK < len(cs) {
		cs = cs[:s.TopK]
	}
	mx := cs[0].p
	var sum float64
	for i := range cs {
		cs[i].p = math.Exp(cs[i].p - mx)
		sum += cs[i].p
	}
	for i := range cs {
		cs[i].p /= sum
	}
	if s.TopP > 0 && s.TopP < 1 {
		var acc float64
		for i := range cs {
			acc += cs[i].p
			if acc >= s.TopP {
				cs = cs[:i+1]
				break
			}
		}
		sum = 0
		for _, c := range cs {
			sum += c.p
		}
		for i := range cs {
			cs[i].p /= sum
		}
	}
	u := rng.Float64()
	for _, c := range cs {
		u -= c.p
		if u < 0 {
			return c.id
		}
	}
	return cs[len(cs)-1].id
}

// Clone returns an independent copy, so that several continuations can share the work of
// one prefix (the permutations of a question's options share the question). The copy has
// the room kv has (Grow the prefix once rather than every copy).
func (kv *KVCache) Clone() *KVCache {
	c := &KVCache{k: make([][]float32, len(kv.k)), v: make([][]float32, len(kv.v)), n: kv.n, d: kv.d}
	for l := range kv.k {
		c.k[l] = append(make([]float32, 0, cap(kv.k[l])), kv.k[l]...)
		c.v[l] = append(make([]float32, 0, cap(kv.v[l])), kv.v[l]...)
	}
	return c
}
