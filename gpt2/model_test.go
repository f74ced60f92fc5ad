package gpt2

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/weights"
)

const smallVocab = "../testdata/tiny-gpt2-small-vocab"

func TestProcessingMatchesTransformerLens(t *testing.T) {
	m := loadFixture(t, smallVocab)
	if err := m.Process(FoldLN, CenterWritingWeights, CenterUnembed, FoldValueBiases); err != nil {
		t.Fatal(err)
	}
	ref, err := weights.OpenSafetensors(filepath.Join(smallVocab, "reference", "processed-weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	got := m.TLWeights()
	for _, name := range ref.Names() {
		want, _ := ref.Float32(name)
		info, _ := ref.Info(name)
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not exported", name)
			continue
		}
		if !slices.Equal(g.Shape, info.Shape) {
			t.Errorf("%s: shape %v, want %v", name, g.Shape, info.Shape)
			continue
		}
		if d, at := maxAbsDiff(g.Data, want); d > 1e-5 {
			t.Errorf("%s: max |diff| %.3g at %d", name, d, at)
		}
	}
}

// Processing changes weights, not what the model predicts.
func TestProcessingKeepsProbabilities(t *testing.T) {
	for _, steps := range [][]string{
		{FoldLN}, {FoldLN, CenterWritingWeights}, {CenterUnembed}, {FoldValueBiases},
		{FoldLN, CenterWritingWeights, CenterUnembed, FoldValueBiases},
	} {
		raw := loadFixture(t, smallVocab)
		proc := loadFixture(t, smallVocab)
		if err := proc.Process(steps...); err != nil {
			t.Fatal(err)
		}
		ids := []int{811, 85, 179, 236, 181, 3, 999}
		a := mustRun(t, raw, ids, RunOptions{})
		b := mustRun(t, proc, ids, RunOptions{})
		V := raw.Config.DVocab
		for pos := 0; pos < len(ids); pos++ {
			pa, pb := softmax64(a.Logits[0][pos*V:(pos+1)*V]), softmax64(b.Logits[0][pos*V:(pos+1)*V])
			for i := range pa {
				if math.Abs(pa[i]-pb[i]) > 2e-6 {
					t.Fatalf("%v: position %d token %d: p %g vs raw %g", steps, pos, i, pb[i], pa[i])
				}
			}
		}
	}
}

func TestProcessErrors(t *testing.T) {
	m := loadFixture(t, smallVocab)
	for _, tc := range []struct {
		steps []string
		want  string
	}{
		{[]string{"fold_everything"}, `unknown weight processing "fold_everything"`},
		{[]string{CenterWritingWeights}, "center_writing_weights needs fold_ln"},
	} {
		if err := m.Process(tc.steps...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Process(%v) = %v, want %q", tc.steps, err, tc.want)
		}
	}
	if err := m.Process(FoldLN); err != nil {
		t.Fatal(err)
	}
	if err := m.Process(FoldLN); err == nil || !strings.Contains(err.Error(), "already applied") {
		t.Errorf("second fold_ln: %v", err)
	}
}

func softmax64(x []float32) []float64 {
	lse := tensor.LogSumExp(x)
	p := make([]float64, len(x))
	for i, v := range x {
		p[i] = math.Exp(float64(v) - lse)
	}
	return p
}

func mustRun(t testing.TB, m *Model, ids []int, o RunOptions) *Result {
	t.Helper()
	r, err := m.Run([][]int{ids}, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A sequence's numbers do not depend on its batch-mates: a ragged batch equals one-by-one
// runs bitwise, and so does every thread count.
func TestBatchEqualsOneByOne(t *testing.T) {
	m := NewModel(Presets["distilgpt2"].shrunk(), RandomParams(Presets["distilgpt2"].shrunk(), 7), nil)
	seqs := [][]int{{1, 2, 3, 4, 5, 6, 7}, {9}, {400, 30, 2, 2, 2, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}}
	defer tensor.SetThreads(tensor.Threads())
	for _, threads := range []int{1, 2} {
		tensor.SetThreads(threads)
		batch, err := m.Run(seqs, RunOptions{Cache: []string{Pattern(1)}})
		if err != nil {
			t.Fatal(err)
		}
		for s, ids := range seqs {
			tensor.SetThreads(1)
			one := mustRun(t, m, ids, RunOptions{Cache: []string{Pattern(1)}})
			tensor.SetThreads(threads)
			if !slices.Equal(batch.Logits[s], one.Logits[0]) {
				t.Errorf("threads %d: sequence %d: batched logits differ from a run alone", threads, s)
			}
			if !slices.Equal(batch.Cache[s][Pattern(1)].Data, one.Cache[0][Pattern(1)].Data) {
				t.Errorf("threads %d: sequence %d: batched pattern differs", threads, s)
			}
		}
	}
}

// shrunk keeps a preset's proportions at a size tests can afford.
func (c Config) shrunk() Config {
	c.NLayers, c.DModel, c.NHeads, c.DHead, c.DMLP, c.NCtx, c.DVocab = 3, 48, 4, 12, 192, 64, 500
	return c
}

func TestUnpad(t *testing.T) {
	ids := [][]int{{0, 0, 5, 6}, {7, 8, 9, 0}}
	mask := [][]int{{0, 0, 1, 1}, {1, 1, 1, 0}}
	got, err := Unpad(ids, mask)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{5, 6}, {7, 8, 9}}; !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Errorf("Unpad = %v, want %v", got, want)
	}
	if _, err := Unpad(ids, [][]int{{1, 1, 1}}); err == nil {
		t.Error("Unpad accepted a mask of the wrong shape")
	}
	if _, err := Unpad([][]int{{1, 2}}, [][]int{{1, 0}, {1, 1}}); err == nil {
		t.Error("Unpad accepted a mask with more rows")
	}
}

func TestHooksEditInFlight(t *testing.T) {
	m := loadFixture(t, smallVocab)
	ids := []int{811, 85, 179, 236, 181}
	base := mustRun(t, m, ids, RunOptions{Cache: []string{MLPOut(0), ResidPost(1)}})

	// Zero-ablating MLP 0 removes exactly its output from every later residual stream.
	abl := mustRun(t, m, ids, RunOptions{
		Cache: []string{MLPOut(0), ResidPost(0)},
		Hooks: []Hook{{MLPOut(0), func(a Activation) { clear(a.Data) }}},
	})
	if got := abl.Cache[0][MLPOut(0)].Data; slices.ContainsFunc(got, func(v float32) bool { return v != 0 }) {
		t.Error("cache did not see the ablated mlp_out")
	}
	if slices.Equal(abl.Logits[0], base.Logits[0]) {
		t.Error("ablating MLP 0 did not change the logits")
	}

	// Patching resid_pre of block 1 with the clean run's value restores the clean logits.
	other := []int{5, 6, 7, 8, 9}
	clean := mustRun(t, m, ids, RunOptions{Cache: []string{ResidPre(1)}})
	patched := mustRun(t, m, other, RunOptions{Hooks: []Hook{{ResidPre(1), func(a Activation) {
		copy(a.Data, clean.Cache[0][ResidPre(1)].Data)
	}}}})
	if !slices.Equal(patched.Logits[0], base.Logits[0]) {
		t.Error("patching the whole residual stream before block 1 did not give the clean logits")
	}

	// Forcing head 0's pattern to attend to position 0 only sets z of head 0 to v at position 0.
	H, Dh := m.Config.NHeads, m.Config.DHead
	forced := mustRun(t, m, ids, RunOptions{
		Cache: []string{V(0), Z(0), Pattern(0)},
		Hooks: []Hook{{Pattern(0), func(a Activation) {
			T, Tk := a.Shape[1], a.Shape[2]
			for q := 0; q < T; q++ {
				row := a.Data[q*Tk : (q+1)*Tk] // head 0
				clear(row)
				row[0] = 1
			}
		}}},
	})
	v, z := forced.Cache[0][V(0)].Data, forced.Cache[0][Z(0)].Data
	for q := range ids {
		for d := 0; d < Dh; d++ {
			if got, want := z[q*H*Dh+d], v[d]; math.Abs(float64(got-want)) > 1e-6 {
				t.Fatalf("z[%d, head 0, %d] = %g, want v[0, head 0, %d] = %g", q, d, got, d, want)
			}
		}
	}
}

// The cache keeps the forward pass's own buffers rather than copies: caching every hook
// point at once must give, bitwise, what caching each one alone gives, with a hook editing
// resid_pre 1 in flight (which must not leak into the cached resid_post 0), and over a
// ragged batch.
func TestCacheAllEqualsCacheEach(t *testing.T) {
	c := Presets["gpt2"].shrunk()
	m := NewModel(c, RandomParams(c, 3), nil)
	seqs := [][]int{{5, 6, 7, 8, 9, 10}, {11, 12, 13}}
	shift := []Hook{{ResidPre(1), func(a Activation) {
		for i := range a.Data {
			a.Data[i]++
		}
	}}}
	// hook_result is left out: asking for it sums attn_out head by head, which rounds
	// differently from the one product.
	all := slices.DeleteFunc(HookNames(c), func(n string) bool { return strings.HasSuffix(n, nameResult) })
	every, err := m.Run(seqs, RunOptions{Cache: all, Hooks: shift})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		one, err := m.Run(seqs, RunOptions{Cache: []string{n}, Hooks: shift})
		if err != nil {
			t.Fatal(err)
		}
		for s := range seqs {
			got, want := every.Cache[s][n], one.Cache[s][n]
			if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Data, want.Data) {
				t.Errorf("sequence %d: %s cached with every other point differs from %s cached alone", s, n, n)
			}
		}
	}
	post, pre := every.Cache[1][ResidPost(0)].Data, every.Cache[1][ResidPre(1)].Data
	for i := range post {
		if pre[i] != post[i]+1 {
			t.Fatalf("resid_pre 1 [%d] = %g, want resid_post 0 + 1 = %g", i, pre[i], post[i]+1)
		}
	}
}

// A released result's memory serves the next run, which must not see the old numbers:
// buffers come uninitialized, so anything read before written would show here.
func TestReleasedMemoryIsReused(t *testing.T) {
	c := Presets["gpt2"].shrunk()
	m := NewModel(c, RandomParams(c, 4), nil)
	fresh := NewModel(c, RandomParams(c, 4), nil)
	all := HookNames(c)
	first, err := m.Run([][]int{{1, 2, 3, 4, 5, 6, 7, 8, 9}, {3}}, RunOptions{Cache: all})
	if err != nil {
		t.Fatal(err)
	}
	old := &first.Logits[0][0]
	first.Release()
	if first.Logits != nil || first.Cache != nil {
		t.Error("Release left the result's tensors reachable")
	}
	first.Release()                                            // a second release is a no-op
	seqs := [][]int{{40, 41, 42, 43, 44, 45, 46, 47, 48}, {7}} // the same lengths: the same carving
	got, err := m.Run(seqs, RunOptions{Cache: all})
	if err != nil {
		t.Fatal(err)
	}
	if &got.Logits[0][0] != old {
		t.Error("the run after Release did not reuse the released memory")
	}
	want, err := fresh.Run(seqs, RunOptions{Cache: all})
	if err != nil {
		t.Fatal(err)
	}
	for s := range seqs {
		if !slices.Equal(got.Logits[s], want.Logits[s]) || !slices.Equal(got.Resid[s], want.Resid[s]) {
			t.Errorf("sequence %d: logits or residual differ after reusing memory", s)
		}
		for _, n := range all {
			if !slices.Equal(got.Cache[s][n].Data, want.Cache[s][n].Data) {
				t.Errorf("sequence %d: %s differs after reusing memory", s, n)
			}
		}
	}
}

// hook_result, when asked for, sums (with b_O) to hook_attn_out.
func TestHeadResultsSumToAttnOut(t *testing.T) {
	m := loadFixture(t, smallVocab)
	ids := []int{811, 85, 179, 236, 181}
	r := mustRun(t, m, ids, RunOptions{Cache: []string{HeadResult(1), AttnOut(1)}})
	res, out := r.Cache[0][HeadResult(1)], r.Cache[0][AttnOut(1)]
	H, D := m.Config.NHeads, m.Config.DModel
	if !slices.Equal(res.Shape, []int{len(ids), H, D}) {
		t.Fatalf("hook_result shape %v", res.Shape)
	}
	for q := range ids {
		for d := 0; d < D; d++ {
			s := float64(m.Params.Blocks[1].AttnProjB[d])
			for h := 0; h < H; h++ {
				s += float64(res.Data[(q*H+h)*D+d])
			}
			if math.Abs(s-float64(out.Data[q*D+d])) > 1e-5 {
				t.Fatalf("position %d dim %d: Σ heads + b_O = %g, attn_out = %g", q, d, s, out.Data[q*D+d])
			}
		}
	}
	plain := mustRun(t, m, ids, RunOptions{Cache: []string{AttnOut(1)}})
	if d, _ := maxAbsDiff(plain.Cache[0][AttnOut(1)].Data, out.Data); d > 1e-5 {
		t.Errorf("attn_out with hook_result differs by %g", d)
	}
}

func TestStopAndStart(t *testing.T) {
	m := loadFixture(t, smallVocab)
	ids := []int{811, 85, 179, 236, 181}
	full := mustRun(t, m, ids, RunOptions{Cache: []string{ResidPre(1)}})
	half := mustRun(t, m, ids, RunOptions{StopLayer: 1})
	if half.Logits != nil {
		t.Error("a stopped run returned logits")
	}
	if !slices.Equal(half.Resid[0], full.Cache[0][ResidPre(1)].Data) {
		t.Error("stopping before block 1 did not return its resid_pre")
	}
	rest := mustRun(t, m, ids, RunOptions{StartLayer: 1, StartResid: half.Resid})
	if !slices.Equal(rest.Logits[0], full.Logits[0]) {
		t.Error("starting from block 1's resid_pre did not give the full run's logits")
	}
}

func TestRunErrors(t *testing.T) {
	m := loadFixture(t, smallVocab)
	long := make([]int, m.Config.NCtx+1)
	for _, tc := range []struct {
		seqs [][]int
		o    RunOptions
		want string
	}{
		{[][]int{long}, RunOptions{}, "sequence 0 has 65 tokens, more than the context of 64"},
		{[][]int{{1, 1000}}, RunOptions{}, "sequence 0 position 1: token id 1000 outside the vocabulary [0, 1000)"},
		{[][]int{{1}, {}}, RunOptions{}, "sequence 1 is empty"},
		{nil, RunOptions{}, "no sequences"},
		{[][]int{{1}}, RunOptions{StopLayer: 3}, "stop layer 3 is past the last block (2 layers)"},
		{[][]int{{1}}, RunOptions{Cache: []string{"blocks.9.hook_resid_pre"}}, `cache "blocks.9.hook_resid_pre" is not a hook point of this model (2 layers); examples: blocks.0.hook_resid_pre, blocks.1.hook_resid_pre`},
		{[][]int{{1}}, RunOptions{StopLayer: 1, Cache: []string{ResidPost(1)}}, `cache "blocks.1.hook_resid_post": hook point not computed by this run (blocks 0 to 0`},
		{[][]int{{1}}, RunOptions{Logits: LogitsLast, Cache: []string{HookLogits}}, `cache "logits": hook point not computed by this run`},
		// A misspelt hook used to do nothing, silently.
		{[][]int{{1}}, RunOptions{Hooks: []Hook{{Name: "blocks.0.attn.hook_patern", Fn: func(Activation) {}}}}, `hook "blocks.0.attn.hook_patern" is not a hook point of this model (2 layers); examples:`},
		{[][]int{{1}}, RunOptions{Hooks: []Hook{{Name: "blocks.01.hook_resid_pre", Fn: func(Activation) {}}}}, `hook "blocks.01.hook_resid_pre" is not a hook point`},
		{[][]int{{1}}, RunOptions{StartLayer: 1, StartResid: [][]float32{make([]float32, m.Config.DModel)}, Hooks: []Hook{{Name: HookEmbed, Fn: func(Activation) {}}}}, `hook "hook_embed": hook point not computed by this run (blocks 1 to 1`},
		{[][]int{{1}}, RunOptions{StopLayer: 1, Past: []*KVCache{m.NewKVCache()}}, "a KV cache needs every block: it cannot be used with StartLayer 0 or StopLayer 1"},
		{[][]int{{1}}, RunOptions{StartLayer: 1, StartResid: [][]float32{make([]float32, m.Config.DModel)}, Past: []*KVCache{m.NewKVCache()}}, "a KV cache needs every block"},
	} {
		if _, err := m.Run(tc.seqs, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run: error %v, want %q", err, tc.want)
		}
	}
}

// A refused or cancelled run changes nothing: the KV caches keep their length and content,
// and the model's pool gets its memory back.
func TestRunRefusedOrCancelledChangesNothing(t *testing.T) {
	m := loadFixture(t, smallVocab)
	kv := m.NewKVCache()
	mustRun(t, m, []int{1, 2, 3}, RunOptions{Past: []*KVCache{kv}}).Release()
	keys := slices.Clone(kv.k[1])
	free := len(m.arenas.free)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var blocks int
	countBlocks := Hook{Name: ResidPre(1), Fn: func(Activation) { blocks++ }}
	for _, o := range []RunOptions{
		{Past: []*KVCache{kv}, Cache: []string{"blocks.0.hook_nothing"}},
		{Past: []*KVCache{kv}, Context: cancelled},
	} {
		if _, err := m.Run([][]int{{4, 5}}, o); err == nil {
			t.Fatalf("%+v: no error", o)
		}
		if kv.Len() != 3 || len(kv.k[0]) != 3*m.Config.DModel || !slices.Equal(kv.k[1], keys) || len(m.arenas.free) != free {
			t.Errorf("%+v: cache of %d positions (%d keys in layer 0), %d free arenas, want 3 and %d", o, kv.Len(), len(kv.k[0])/m.Config.DModel, len(m.arenas.free), free)
		}
	}
	// Cancelled between blocks: block 0 ran and extended the cache, block 1 never runs.
	ctx, stop := context.WithCancel(context.Background())
	cancelAt := Hook{Name: "blocks.0.hook_mlp_out", Fn: func(Activation) { stop() }}
	_, err := m.Run([][]int{{4, 5}}, RunOptions{Past: []*KVCache{kv}, Context: ctx, Hooks: []Hook{cancelAt, countBlocks}})
	if !errors.Is(err, context.Canceled) || blocks != 0 {
		t.Errorf("cancelled in block 0: error %v, block 1 ran %d times", err, blocks)
	}
	if kv.Len() != 3 || len(kv.k[0]) != 3*m.Config.DModel || !slices.Equal(kv.k[1], keys) || len(m.arenas.free) != free {
		t.Errorf("cancelled run: cache of %d positions (%d keys in layer 0), %d free arenas", kv.Len(), len(kv.k[0])/m.Config.DModel, len(m.arenas.free))
	}
	// The cache still continues exactly.
	got := mustRun(t, m, []int{4, 5}, RunOptions{Past: []*KVCache{kv}})
	want := mustRun(t, m, []int{1, 2, 3, 4, 5}, RunOptions{Logits: LogitsLast})
	if d, _ := maxAbsDiff(got.Logits[0][len(got.Logits[0])-m.Config.DVocab:], want.Logits[0]); d > 1e-4 {
		t.Errorf("after a cancelled run the cache continues %g off", d)
	}
}

// Generation with a KV cache gives the logits of a full recompute at every step.
func TestKVCacheEqualsRecompute(t *testing.T) {
	m := loadFixture(t, smallVocab)
	prompt := []int{811, 85, 179}
	kv := m.NewKVCache()
	seq := slices.Clone(prompt)
	next := prompt
	for step := 0; step < 6; step++ {
		r, err := m.Run([][]int{next}, RunOptions{Logits: LogitsLast, Past: []*KVCache{kv}})
		if err != nil {
			t.Fatal(err)
		}
		full := mustRun(t, m, seq, RunOptions{Logits: LogitsLast})
		if d, at := maxAbsDiff(r.Logits[0], full.Logits[0]); d > 1e-5 {
			t.Fatalf("step %d: cached logits differ by %g at %d", step, d, at)
		}
		id := Sampling{}.pick(full.Logits[0], nil)
		seq = append(seq, id)
		next = []int{id}
	}
	gen, err := m.Generate(prompt, 6, Sampling{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gen, seq[len(prompt):]) {
		t.Errorf("Generate = %v, want greedy %v", gen, seq[len(prompt):])
	}
}

// Continuations from clones of one grown prefix cache are independent of each other and of
// the prefix, write into the room the prefix reserved, and equal a full recompute.
func TestKVCacheClonesShareAPrefix(t *testing.T) {
	m := loadFixture(t, smallVocab)
	prefix := m.NewKVCache()
	prefix.Grow(8)
	mustRunKV := func(kv *KVCache, ids []int) []float32 {
		t.Helper()
		r, err := m.Run([][]int{ids}, RunOptions{Logits: LogitsLast, Past: []*KVCache{kv}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Logits[0]
	}
	mustRunKV(prefix, []int{811, 85, 179})
	a, b := prefix.Clone(), prefix.Clone()
	if cap(a.k[0]) != cap(prefix.k[0]) {
		t.Errorf("a clone has room for %d floats, the prefix %d", cap(a.k[0]), cap(prefix.k[0]))
	}
	keys := &a.k[0][0]
	la, lb := mustRunKV(a, []int{5, 6}), mustRunKV(b, []int{7})
	if &a.k[0][0] != keys {
		t.Error("a continuation within the reserved room moved the clone's keys")
	}
	if prefix.Len() != 3 || a.Len() != 5 || b.Len() != 4 {
		t.Fatalf("lengths prefix %d, a %d, b %d; want 3, 5, 4", prefix.Len(), a.Len(), b.Len())
	}
	for _, c := range []struct {
		got []float32
		ids []int
	}{{la, []int{811, 85, 179, 5, 6}}, {lb, []int{811, 85, 179, 7}}} {
		full := mustRun(t, m, c.ids, RunOptions{Logits: LogitsLast})
		if d, at := maxAbsDiff(c.got, full.Logits[0]); d > 1e-5 {
			t.Errorf("%v from a clone differs from a full run by %g at %d", c.ids, d, at)
		}
	}
}

func TestSamplingIsSeededAndRespectsTopK(t *testing.T) {
	m := loadFixture(t, smallVocab)
	s := Sampling{Temperature: 1.5, TopK: 3, Seed: 42}
	a, _ := m.Generate([]int{1, 2}, 10, s, false)
	b, _ := m.Generate([]int{1, 2}, 10, s, false)
	if !slices.Equal(a, b) {
		t.Errorf("same seed gave %v and %v", a, b)
	}
	logits := []float32{0, 5, 4, 3, -1, 2}
	seen := map[int]bool{}
	rng := newTestRand()
	for i := 0; i < 500; i++ {
		seen[Sampling{Temperature: 1, TopK: 3}.pick(logits, rng)] = true
		if id := (Sampling{Temperature: 1, TopP: 0.5}).pick(logits, rng); id != 1 {
			t.Fatalf("top-p 0.5 picked %d; token 1 alone has p > 0.5", id)
		}
	}
	if len(seen) != 3 || !seen[1] || !seen[2] || !seen[3] {
		t.Errorf("top-k 3 sampled %v, want exactly {1, 2, 3}", seen)
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// A model read from an F32 file keeps its own packed copy: the file is closed after
// loading, and processing never writes to it.
func TestProcessingLeavesMappedFileAlone(t *testing.T) {
	src := loadFixture(t, smallVocab)
	dir := t.TempDir()
	names, shapes, data := src.Weights().Named(src.Config)
	var ts []weights.Tensor
	for i := range names {
		ts = append(ts, weights.Tensor{Name: names[i], Shape: shapes[i], F32: data[i]})
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	cfg, _ := src.Config.HFJSON()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	m := loadFixture(t, dir)
	if err := m.Process(FoldLN, CenterWritingWeights, CenterUnembed); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if !slices.Equal(before, after) {
		t.Fatal("processing a mapped model changed its file")
	}
	again := loadFixture(t, dir)
	if !slices.Equal(again.Weights().WTE, src.Weights().WTE) {
		t.Error("reloaded weights differ from what was written")
	}
}

// The model keeps one packed copy of each matrix: Weights gives back exactly the tensors it
// was built from (tied and untied unembedding), and the model does not share memory with
// the Params it was built from.
func TestWeightsRoundTrip(t *testing.T) {
	c := Presets["gpt2"].shrunk()
	for _, tied := range []bool{true, false} {
		p := RandomParams(c, 5)
		if !tied {
			p.LMHead = slices.Clone(RandomParams(c, 6).WTE)
		}
		m := NewModel(c, p, nil)
		if m.Params.WTE != nil || m.Params.LMHead != nil || m.Params.Blocks[1].FcW != nil || m.Params.Blocks[0].ProjW != nil {
			t.Fatal("the model's Params still holds matrices beside the packed ones")
		}
		if m.TiedEmbeddings() != tied {
			t.Errorf("tied=%v: TiedEmbeddings() = %v", tied, m.TiedEmbeddings())
		}
		wantNames, _, want := p.Named(c)
		gotNames, _, got := m.Weights().Named(c)
		if !slices.Equal(gotNames, wantNames) {
			t.Fatalf("tied=%v: Weights has tensors %v, want %v", tied, gotNames, wantNames)
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("tied=%v: %s differs after packing and unpacking", tied, wantNames[i])
			}
		}
		ids := []int{3, 1, 4, 1, 5}
		before := mustRun(t, m, ids, RunOptions{Cache: []string{HookEmbed}})
		if row := p.WTE[4*c.DModel : 5*c.DModel]; !slices.Equal(before.Cache[0][HookEmbed].Data[2*c.DModel:3*c.DModel], row) {
			t.Errorf("tied=%v: hook_embed at position 2 is not W_E[4]", tied)
		}
		for _, x := range [][]float32{p.WTE, p.LMHead, p.Blocks[0].FcW, p.Blocks[0].Ln1W, p.WPE} {
			clear(x)
		}
		if after := mustRun(t, m, ids, RunOptions{}); !slices.Equal(after.Logits[0], before.Logits[0]) {
			t.Errorf("tied=%v: clearing the Params the model was built from changed its logits", tied)
		}
	}
}
