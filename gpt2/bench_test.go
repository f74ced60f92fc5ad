package gpt2

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mechlens/mechlens/internal/procstat"
	"github.com/mechlens/mechlens/internal/tensor"
)

var (
	benchOnce  sync.Once
	benchModel *Model
)

// gpt2SmallRandom is a seeded random model of GPT-2 small's shape, built once per test binary.
func gpt2SmallRandom() *Model {
	benchOnce.Do(func() {
		c := Presets["gpt2"]
		benchModel = NewModel(c, RandomParams(c, 1), nil)
	})
	return benchModel
}

func benchTokens(m *Model, T int) []int {
	ids := make([]int, T)
	for i := range ids {
		ids[i] = (i*7919 + 13) % m.Config.DVocab
	}
	return ids
}

// cacheEverything is every hook run_with_cache keeps by default (no per-head results, no
// logits), as mechlens bench --cache all.
func cacheEverything(c Config) []string {
	var names []string
	for _, n := range HookNames(c) {
		if n != HookLogits && !strings.HasSuffix(n, nameResult) {
			names = append(names, n)
		}
	}
	return names
}

// BenchmarkForward times GPT-2 small's full forward pass (logits at every position), with
// and without caching every activation, and KV-cache decode steps after 128 positions.
func BenchmarkForward(b *testing.B) {
	m := gpt2SmallRandom()
	for _, T := range []int{1, 64, 256} {
		ids := benchTokens(m, T)
		for _, cache := range []bool{false, true} {
			o := RunOptions{Logits: LogitsAll}
			name := fmt.Sprintf("T=%d", T)
			if cache {
				o.Cache, name = cacheEverything(m.Config), name+"/cache=all"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					res, err := m.Run([][]int{ids}, o)
					if err != nil {
						b.Fatal(err)
					}
					res.Release()
				}
			})
		}
	}
	b.Run("decode/past=128", func(b *testing.B) { benchDecode(b, m) })
}

// benchDecode times consecutive KV-cache decode steps of m after 128 positions.
func benchDecode(b *testing.B, m *Model) {
	kv := m.NewKVCache()
	if _, err := m.Run([][]int{benchTokens(m, 128)}, RunOptions{Logits: LogitsNone, Past: []*KVCache{kv}}); err != nil {
		b.Fatal(err)
	}
	// Consecutive steps of one generation; at most 256 fit in the context after 128.
	kv.Grow(m.Config.NCtx - 128)
	for b.Loop() {
		if kv.Len() == m.Config.NCtx {
			b.StopTimer()
			kv = m.NewKVCache()
			kv.Grow(m.Config.NCtx)
			if _, err := m.Run([][]int{benchTokens(m, 128)}, RunOptions{Logits: LogitsNone, Past: []*KVCache{kv}}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		res, err := m.Run([][]int{{1}}, RunOptions{Logits: LogitsLast, Past: []*KVCache{kv}})
		if err != nil {
			b.Fatal(err)
		}
		res.Release()
	}
}

// BenchmarkWeights compares float32 and bfloat16 weights on GPT-2 small's shape, each case
// for both back to back (so both see about the same machine load): the forward pass of 1,
// 64 and 256 tokens and a decode step after 128 positions, with each assembly kernel set of
// this CPU (the generic one where there is none, as in the purego build). cpu-ms/op is the
// process's CPU time per op, which other jobs on the machine disturb less than wall time.
func BenchmarkWeights(b *testing.B) {
	f32 := gpt2SmallRandom()
	models := map[WeightType]*Model{F32: f32, BF16: f32.WithWeights(f32.Weights())}
	models[BF16].SetWeightType(BF16)
	defer tensor.SetKernel(tensor.Kernel())
	kernels := tensor.Kernels()
	if len(kernels) > 1 {
		kernels = kernels[1:] // the generic kernel would take minutes a case
	}
	for _, k := range kernels {
		if err := tensor.SetKernel(k); err != nil {
			b.Fatal(err)
		}
		run := func(name string, f func(b *testing.B, m *Model)) {
			for _, wt := range []WeightType{F32, BF16} {
				b.Run("kernel="+k+"/"+name+"/weights="+wt.String(), func(b *testing.B) {
					c0 := procstat.CPUTime()
					f(b, models[wt])
					if cpu := procstat.CPUTime() - c0; cpu > 0 {
						b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
					}
				})
			}
		}
		for _, T := range []int{1, 64, 256} {
			ids := benchTokens(f32, T)
			run(fmt.Sprintf("T=%d", T), func(b *testing.B, m *Model) {
				for b.Loop() {
					res, err := m.Run([][]int{ids}, RunOptions{Logits: LogitsAll})
					if err != nil {
						b.Fatal(err)
					}
					res.Release()
				}
			})
		}
		run("decode/past=128", benchDecode)
	}
}
