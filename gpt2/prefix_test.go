package gpt2

import (
	"slices"
	"testing"
)

// Continuations run over a read-only prefix cache (RunOptions.Prefix), from the embeddings
// or from a later block, give the full run's numbers, and leave the cache as it was.
func TestPrefixContinuesAFullRun(t *testing.T) {
	m := loadFixture(t, smallVocab)
	c := m.Config
	D, V := c.DModel, c.DVocab
	ids := []int{811, 85, 179, 5, 6, 7}
	full := mustRun(t, m, ids, RunOptions{Cache: []string{ResidPre(1)}})
	kv := m.NewKVCache()
	mustRunKV := func(o RunOptions, seqs ...[]int) *Result {
		t.Helper()
		r, err := m.Run(seqs, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustRunKV(RunOptions{Logits: LogitsNone, Past: []*KVCache{kv}}, ids)
	keys := slices.Clone(kv.k[0])
	for _, start := range []int{0, 1} {
		// Two continuations share the one cache, at different lengths.
		o := RunOptions{Prefix: []*KVCache{kv.Head(2), kv.Head(4)}, StartLayer: start}
		if start > 0 {
			o.StartResid = [][]float32{full.Cache[0][ResidPre(1)].Data[2*D:], full.Cache[0][ResidPre(1)].Data[4*D:]}
		}
		r := mustRunKV(o, ids[2:], ids[4:])
		for s, p := range []int{2, 4} {
			if d, at := maxAbsDiff(r.Logits[s], full.Logits[0][p*V:]); d > 1e-5 {
				t.Errorf("start %d, continuation after %d: logits differ by %g at %d", start, p, d, at)
			}
		}
	}
	// A head extended as Past copies itself first.
	mustRunKV(RunOptions{Logits: LogitsNone, Past: []*KVCache{kv.Head(2)}}, []int{9})
	if kv.Len() != len(ids) || !slices.Equal(kv.k[0], keys) {
		t.Errorf("the cache changed: %d positions", kv.Len())
	}
	if _, err := m.Run([][]int{ids}, RunOptions{Prefix: []*KVCache{kv}, Past: []*KVCache{m.NewKVCache()}}); err == nil {
		t.Error("Prefix with Past: no error")
	}
}
