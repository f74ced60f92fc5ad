package gpt2

import (
	"fmt"
	"strings"
	"sync"
	"testing"
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
	b.Run("decode/past=128", func(b *testing.B) {
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
	})
}
