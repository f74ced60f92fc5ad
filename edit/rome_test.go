package edit_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/toy"
	"github.com/mechlens/mechlens/weights"
)

func organism(t *testing.T) *gpt2.Model {
	t.Helper()
	m, err := toy.Organism()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lastLogits runs prompts (with <|endoftext|> first, as the organism reads them) and
// returns the last position's logits of each.
func lastLogits(t *testing.T, m *gpt2.Model, prompts ...string) [][]float32 {
	t.Helper()
	var seqs [][]int
	for _, p := range prompts {
		seqs = append(seqs, append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(p)...))
	}
	res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	return res.Logits
}

// TestROME: the closed form makes the edited W_out map the key to v* (so the MLP output at
// the fact token is v*), the model then says the new target, revert restores every logit
// bit for bit, and the model exported with the edit answers the same.
func TestROME(t *testing.T) {
	m := organism(t)
	reqs := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})
	q := reqs[0]
	cfg := toy.ROMEConfig(m.Config)
	prefixes, err := edit.Prefixes(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(prefixes) != 21 || prefixes[0] != "" {
		t.Fatalf("%d prefixes (first %q), want the bare prompt and 20", len(prefixes), prefixes[0])
	}
	r, err := edit.ROME(m, gpt2.NewModelGrad(m), q, cfg, nil, prefixes)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Losses); n < 2 || r.Losses[n-1] >= r.Losses[0] {
		t.Errorf("losses %v: the optimisation did not lower the loss", r.Losses)
	}
	var un float64
	for _, v := range r.U {
		un += float64(v) * float64(v)
	}
	if math.Abs(un-1) > 1e-5 {
		t.Errorf("‖u‖² = %g, want 1", un)
	}
	before := lastLogits(t, m, q.Text())
	a, err := edit.ApplyEdit(m, edit.RankOne(r.Layer, gpt2.MatrixWOut, r.U, r.V))
	if err != nil {
		t.Fatal(err)
	}
	// The fact token is the prompt's last: its MLP output is now v*.
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(q.Text())...)
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Cache: []string{gpt2.MLPOut(r.Layer)}})
	if err != nil {
		t.Fatal(err)
	}
	D := m.Config.DModel
	got := res.Cache[0][gpt2.MLPOut(r.Layer)].Data[(len(ids)-1)*D:]
	for i, v := range r.Target {
		if math.Abs(float64(got[i]-v)) > 1e-3*(1+math.Abs(float64(v))) {
			t.Fatalf("MLP output[%d] = %g after the edit, v* = %g", i, got[i], v)
		}
	}
	newID, trueID := tokenID(t, m, q.TargetNew), tokenID(t, m, q.TargetTrue)
	if lg := res.Logits[0]; lg[newID] <= lg[trueID] {
		t.Errorf("after the edit logit(%q) = %g ≤ logit(%q) = %g", q.TargetNew, lg[newID], q.TargetTrue, lg[trueID])
	}
	// An exported edited model answers the same.
	dir := t.TempDir()
	if err := gpt2.SaveDir(dir, m, weights.DTypeF32); err != nil {
		t.Fatal(err)
	}
	back, err := gpt2.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	exp := lastLogits(t, back, q.Text())[0]
	for i, v := range res.Logits[0] {
		if math.Abs(float64(exp[i]-v)) > 1e-4 {
			t.Fatalf("exported model: logit %d = %g, the edited model's %g", i, exp[i], v)
		}
	}
	if err := a.Revert(); err != nil {
		t.Fatal(err)
	}
	after := lastLogits(t, m, q.Text())
	for i, v := range before[0] {
		if math.Float32bits(v) != math.Float32bits(after[0][i]) {
			t.Fatalf("after revert logit %d = %v, before the edit %v", i, after[0][i], v)
		}
	}
}

func tokenID(t *testing.T, m *gpt2.Model, s string) int {
	t.Helper()
	id, err := m.Tokenizer.TokenID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestROMEPrefixKeys: with --prefix-keys the closed form maps the averaged key to v*.
func TestROMEPrefixKeys(t *testing.T) {
	m := organism(t)
	q := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})[1]
	cfg := toy.ROMEConfig(m.Config)
	cfg.PrefixKeys, cfg.UKey, cfg.Steps = true, edit.KeyPrefixes, 3
	prefixes, err := edit.Prefixes(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := edit.ROME(m, gpt2.NewModelGrad(m), q, cfg, nil, prefixes)
	if err != nil {
		t.Fatal(err)
	}
	// W' k + b = W k + b + (k·u) v: check against the packed matrix after the edit.
	if _, err := edit.ApplyEdit(m, edit.RankOne(r.Layer, gpt2.MatrixWOut, r.U, r.V)); err != nil {
		t.Fatal(err)
	}
	w := m.WOut(r.Layer)
	b := m.Params.Blocks[r.Layer].ProjB
	for d := range m.Config.DModel {
		s := float64(b[d])
		for i, k := range r.Key {
			s += float64(k) * float64(w.At(i, d))
		}
		if math.Abs(s-float64(r.Target[d])) > 1e-3*(1+math.Abs(float64(r.Target[d]))) {
			t.Fatalf("W' k* + b [%d] = %g, v* = %g", d, s, r.Target[d])
		}
	}
}

// TestUKey: with C = I, u is the bare prompt's key normalised (UKey bare), and not with
// ROME's key averaged over the prefixes; MEMIT's one-request update with C = I is
// (λI + k kᵀ)⁻¹k = k/(λ + ‖k‖²) for the same bare key.
func TestUKey(t *testing.T) {
	m := organism(t)
	q := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})[2]
	g := gpt2.NewModelGrad(m)
	cfg := toy.ROMEConfig(m.Config)
	cfg.Steps = 1
	prefixes, err := edit.Prefixes(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cosine := func(cfg edit.ROMEConfig) (*edit.ROMEResult, float64) {
		r, err := edit.ROME(m, g, q, cfg, nil, prefixes)
		if err != nil {
			t.Fatal(err)
		}
		var uk, kk float64
		for i, k := range r.Key {
			uk += float64(r.U[i]) * float64(k)
			kk += float64(k) * float64(k)
		}
		return r, uk / math.Sqrt(kk)
	}
	r, c := cosine(cfg)
	if math.Abs(c-1) > 1e-5 {
		t.Errorf("u·k/‖k‖ = %.7f with the bare key, want 1", c)
	}
	cfg.UKey = edit.KeyPrefixes
	if _, c := cosine(cfg); c > 0.999 {
		t.Errorf("u·k/‖k‖ = %.7f with the averaged key: u is the bare key", c)
	}
	mc := toy.MEMITConfig(m.Config)
	mc.Steps = 1
	edits, err := edit.MEMIT(context.Background(), m, g, []edit.Request{q}, mc, map[int]*edit.Cov{1: nil}, prefixes)
	if err != nil {
		t.Fatal(err)
	}
	var kk float64
	for _, k := range r.Key {
		kk += float64(k) * float64(k)
	}
	for i, k := range r.Key {
		if want := float64(k) / (mc.Lambda + kk); math.Abs(float64(edits[0].U[i])-want) > 1e-6*math.Abs(want)+1e-12 {
			t.Fatalf("MEMIT u[%d] = %g, want k/(λ + ‖k‖²) = %g", i, edits[0].U[i], want)
		}
	}
}

// TestUKeyNeighbours: a neighbour's key k_n receives (u·k_n)/(u·k*) of a ROME edit. With
// the organism's covariance, u of the key averaged over the prefixes leaks a large share
// to the other subjects read through the template; u of the bare key, a small one
// (README: Results on the organism).
func TestUKeyNeighbours(t *testing.T) {
	m := organism(t)
	var texts [][]int
	for _, l := range toy.Corpus(toy.NewWorld(), 2000, 1) {
		texts = append(texts, append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(l)...))
	}
	cov, err := edit.Stats(context.Background(), m, 1, texts, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := gpt2.NewModelGrad(m)
	reqs := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})[:4]
	leak := func(key string) float64 {
		cfg := toy.ROMEConfig(m.Config)
		cfg.Steps, cfg.UKey = 1, key
		prefixes, err := edit.Prefixes(m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		var n int
		for _, q := range reqs {
			r, err := edit.ROME(m, g, q, cfg, cov, prefixes)
			if err != nil {
				t.Fatal(err)
			}
			var prompts []string
			for _, nb := range q.Neighborhood {
				prompts = append(prompts, nb.Prompt)
			}
			keys := lastKeys(t, m, 1, prompts...)
			var uk float64
			for i, u := range r.U {
				uk += float64(u) * float64(r.Key[i])
			}
			for _, k := range keys {
				var un float64
				for i, u := range r.U {
					un += float64(u) * float64(k[i])
				}
				sum += math.Abs(un / uk)
				n++
			}
		}
		return sum / float64(n)
	}
	prefixes, bare := leak(edit.KeyPrefixes), leak(edit.KeyBare)
	t.Logf("mean |u·k_n / u·k*|: averaged key %.3f, bare key %.3f", prefixes, bare)
	if !(bare < 0.15 && prefixes > 3*bare) {
		t.Errorf("mean |u·k_n / u·k*| %.3f with the bare key, %.3f with the averaged one: want < 0.15 and 3 times less", bare, prefixes)
	}
}

// lastKeys returns mlp.hook_post of layer l at the last token of each prompt (after
// <|endoftext|>, as the organism reads them).
func lastKeys(t *testing.T, m *gpt2.Model, l int, prompts ...string) [][]float32 {
	t.Helper()
	var seqs [][]int
	for _, p := range prompts {
		seqs = append(seqs, append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(p)...))
	}
	res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsNone, Cache: []string{gpt2.MLPPost(l)}})
	if err != nil {
		t.Fatal(err)
	}
	M := m.Config.DMLP
	out := make([][]float32, len(seqs))
	for i, s := range seqs {
		out[i] = res.Cache[i][gpt2.MLPPost(l)].Data[(len(s)-1)*M : len(s)*M]
	}
	return out
}

func TestROMEErrors(t *testing.T) {
	m := organism(t)
	cfg := toy.ROMEConfig(m.Config)
	g := gpt2.NewModelGrad(m)
	base := edit.Request{Subject: "Fizeia", Prompt: "The capital of {} is", TargetNew: " Deras", TargetTrue: " Deras"}
	for _, tc := range []struct {
		change func(q *edit.Request, c *edit.ROMEConfig)
		want   string
	}{
		{func(q *edit.Request, c *edit.ROMEConfig) { q.TargetNew = "" }, `edit: the new target "" tokenizes to nothing`},
		{func(q *edit.Request, c *edit.ROMEConfig) { q.Prompt = "The capital is" }, `edit: the prompt "The capital is" has no {} for the subject`},
		{func(q *edit.Request, c *edit.ROMEConfig) { c.Layer = 9 }, "edit: layer 9 outside the model's 3 layers"},
		{func(q *edit.Request, c *edit.ROMEConfig) { c.UKey = "mean" }, `edit: u's key "mean" is not prefixes or bare`},
		{func(q *edit.Request, c *edit.ROMEConfig) { c.PrefixKeys = true }, "edit: the averaged key in the closed form (prefix keys) needs u of the averaged key too, not bare"},
		{func(q *edit.Request, c *edit.ROMEConfig) { c.FactToken = "first" }, `edit: fact token "first" is not subject_last or last`},
	} {
		q, c := base, cfg
		tc.change(&q, &c)
		_, err := edit.ROME(m, g, q, c, nil, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	// A covariance of another layer is refused.
	cov := &edit.Cov{Layer: 0, M: m.Config.DMLP}
	if _, err := edit.ROME(m, g, base, cfg, cov, nil); err == nil || !strings.Contains(err.Error(), "the covariance is of layer 0") {
		t.Errorf("covariance of another layer: %v", err)
	}
}

// TestStats: C equals the mean of k kᵀ computed directly, survives a save and load, is
// refused for another model, and a singular one is refused with the fix.
func TestStats(t *testing.T) {
	m := organism(t)
	tok := m.Tokenizer
	texts := [][]int{tok.Encode("The capital of Fizeia is Deras."), tok.Encode("In Fizeia, the capital city is Deras.")}
	cov, err := edit.Stats(context.Background(), m, 1, texts, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(texts, gpt2.RunOptions{Logits: gpt2.LogitsNone, Cache: []string{gpt2.MLPPost(1)}})
	if err != nil {
		t.Fatal(err)
	}
	M := m.Config.DMLP
	var n int
	want := make([]float64, M*M)
	for s := range texts {
		k := res.Cache[s][gpt2.MLPPost(1)].Data
		for p := 0; p < len(k)/M; p++ {
			n++
			row := k[p*M : (p+1)*M]
			for i := range M {
				for j := range M {
					want[i*M+j] += float64(row[i]) * float64(row[j])
				}
			}
		}
	}
	if cov.Count != int64(n) {
		t.Errorf("count %d, want %d", cov.Count, n)
	}
	for i := range want {
		if w := want[i] / float64(n); math.Abs(cov.Mom2[i]-w) > 1e-4*(1+math.Abs(w)) {
			t.Fatalf("C[%d] = %g, want %g", i, cov.Mom2[i], w)
		}
	}
	cov.ModelHash, cov.DataHash = m.Hash, "d"
	path := filepath.Join(t.TempDir(), "c.safetensors")
	if err := cov.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := edit.LoadCov(path, m.Hash, 1)
	if err != nil {
		t.Fatal(err)
	}
	if back.Count != cov.Count || back.DataHash != "d" || float32(back.Mom2[5]) != float32(cov.Mom2[5]) {
		t.Errorf("round trip: %d tokens, data %q, C[5] %g; want %d, d, %g", back.Count, back.DataHash, back.Mom2[5], cov.Count, cov.Mom2[5])
	}
	if _, err := edit.LoadCov(path, "other", 1); err == nil || !strings.Contains(err.Error(), "holds statistics of another model") {
		t.Errorf("another model: %v", err)
	}
	if _, err := edit.LoadCov(path, m.Hash, 0); err == nil || !strings.Contains(err.Error(), `holds statistics of layer "1", not 0`) {
		t.Errorf("another layer: %v", err)
	}
	// 17 tokens cannot span 512 dimensions.
	q := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})[0]
	_, err = edit.ROME(m, gpt2.NewModelGrad(m), q, toy.ROMEConfig(m.Config), cov, nil)
	if err == nil || !strings.Contains(err.Error(), "is singular: measure it on more text (edit stats --data) or edit without it (--no-cov)") {
		t.Errorf("singular covariance: %v", err)
	}
}

// TestMEMIT: one rank-one edit per request and layer, the model unchanged afterwards, and
// the edits applied together write the facts.
func TestMEMIT(t *testing.T) {
	m := organism(t)
	reqs := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})[:3]
	mc := toy.MEMITConfig(m.Config)
	prefixes, err := edit.Prefixes(m, mc.ROMEConfig)
	if err != nil {
		t.Fatal(err)
	}
	w := toy.NewWorld()
	var texts [][]int
	for _, l := range toy.Corpus(w, 2000, 1) {
		texts = append(texts, append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(l)...))
	}
	cov, err := edit.Stats(context.Background(), m, 1, texts, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := lastLogits(t, m, reqs[0].Text())
	edits, err := edit.MEMIT(context.Background(), m, gpt2.NewModelGrad(m), reqs, mc, map[int]*edit.Cov{1: cov}, prefixes)
	if err != nil {
		t.Fatal(err)
	}
	if len(edits) != len(reqs)*len(mc.Layers) {
		t.Fatalf("%d edits, want %d", len(edits), len(reqs)*len(mc.Layers))
	}
	after := lastLogits(t, m, reqs[0].Text())
	for i, v := range before[0] {
		if math.Float32bits(v) != math.Float32bits(after[0][i]) {
			t.Fatalf("MEMIT left the model changed: logit %d %v, was %v", i, after[0][i], v)
		}
	}
	s := edit.NewSet(m, "organism")
	if err := s.Append(m, edits...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(m); err != nil {
		t.Fatal(err)
	}
	rep, err := edit.Evaluate(context.Background(), m, reqs, edit.EvalOptions{BOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Efficacy.Success < 2.0/3 {
		t.Errorf("efficacy %g of %d facts written together", rep.Efficacy.Success, len(reqs))
	}
}

func TestReadRequests(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"subject":"A","prompt":"{} is","target_new":" x","target_true":" y"}` + "\n" + `{"subject":"B"}`, "r.jsonl:2: the prompt \"\" has no {} for the subject"},
		{`{"subject":"A","prompt":"{} is","target_new":" x"}`, "r.jsonl:1: target_new and target_true are both required"},
		{`{"subj":"A"}`, `r.jsonl:1: not a request: json: unknown field "subj"`},
		{"", "r.jsonl: no requests"},
	} {
		_, err := edit.ReadRequests(strings.NewReader(tc.in), "r.jsonl")
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestNGramEntropy(t *testing.T) {
	// "a b a b a": 2-grams {a b ×2, b a ×2} → 1 bit; 3-grams {a b a ×2, b a b} → 0.918 bits.
	want := (2.0/3*1 + 4.0/3*(-(2.0/3)*math.Log2(2.0/3)-(1.0/3)*math.Log2(1.0/3))) / 2
	if got := edit.NGramEntropy("a b a b a"); math.Abs(got-want) > 1e-12 {
		t.Errorf("entropy %g, want %g", got, want)
	}
}
