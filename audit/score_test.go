package audit

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
)

var (
	tinyOnce  sync.Once
	tinyModel *gpt2.Model
	tinyErr   error
)

// tiny is the 2-layer random model with GPT-2's vocabulary (shared: tests only read it).
func tiny(t testing.TB) *gpt2.Model {
	tinyOnce.Do(func() { tinyModel, tinyErr = gpt2.LoadDir("../testdata/tiny-gpt2") })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyModel
}

// mixedItems has two to four options per item and answers at every position.
func mixedItems(n int) []Item {
	items := fourOption(n)
	for i := range items {
		k := 2 + i%3
		items[i].Choices = items[i].Choices[:k]
		items[i].Answer = i % k
	}
	return items
}

func TestScoreBatchedEqualsOneByOne(t *testing.T) {
	m := tiny(t)
	items := mixedItems(9)
	for _, mode := range []string{PermuteNone, PermuteCyclic, PermuteAll} {
		s, err := NewScorer(m, Format{BOS: true}, mode)
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.Score(items, 100)
		if err != nil {
			t.Fatal(err)
		}
		var one []Record
		for i := range items {
			r, err := s.Score(items[i:i+1], 100+i)
			if err != nil {
				t.Fatal(err)
			}
			one = append(one, r...)
		}
		s.Budget = 40 // several small batches
		small, err := s.Score(items, 100)
		if err != nil {
			t.Fatal(err)
		}
		s.Budget = 2048
		longest := 0
		for i, it := range items {
			for _, tr := range s.prepare(i, it).trials {
				longest = max(longest, len(tr.ids))
			}
		}
		s.KVMemory = int64(5 * longest * 32 * 2 * 2 * 4) // 5 caches: 2 prefixes a batch, 3 copies a pass
		if s.maxCaches(longest) != 5 {
			t.Fatalf("%d caches", s.maxCaches(longest))
		}
		grouped, err := s.Score(items, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(all, one) || !reflect.DeepEqual(all, small) || !reflect.DeepEqual(all, grouped) {
			t.Errorf("%s: batched records differ from one-by-one", mode)
		}
		want := 0
		for _, it := range items {
			p, _ := Permutations(len(it.Choices), mode)
			want += len(p)
		}
		if len(all) != want || all[0].Item != 100 || all[len(all)-1].Item != 108 {
			t.Errorf("%s: %d records (items %d..%d), want %d for items 100..108", mode, len(all), all[0].Item, all[len(all)-1].Item, want)
		}
	}
}

func TestSharedPrefixMatchesFullRuns(t *testing.T) {
	m := tiny(t)
	items := mixedItems(6)
	for _, mode := range []string{PermuteCyclic, PermuteAll} {
		s, err := NewScorer(m, Format{BOS: true}, mode)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := s.Score(items, 0)
		if err != nil {
			t.Fatal(err)
		}
		p := s.prepare(0, items[0])
		if p.prefix < 10 {
			t.Fatalf("%s: shared prefix of %d tokens, want the question's", mode, p.prefix)
		}
		s.Share = false
		full, err := s.Score(items, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(shared) != len(full) {
			t.Fatalf("%d records, want %d", len(shared), len(full))
		}
		for i := range full {
			a, b := shared[i], full[i]
			if a.Top != b.Top || a.Pred != b.Pred || a.PredLetters != b.PredLetters || a.Variant != b.Variant ||
				!close32(a.Logits, b.Logits, 1e-5) || !close32(a.Probs, b.Probs, 1e-5) ||
				!close32(a.Lens, b.Lens, 1e-5) || !close32([]float32{a.LogitDiff}, []float32{b.LogitDiff}, 1e-5) {
				t.Errorf("%s record %d: shared prefix %+v\nfull run %+v", mode, i, a, b)
			}
		}
	}
}

func close32(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i])-float64(b[i])) > tol {
			return false
		}
	}
	return true
}

// TestRecordAgainstDirectRun recomputes one record from a plain forward pass that caches
// the residual stream, with the lens done in float64 here.
func TestRecordAgainstDirectRun(t *testing.T) {
	m := tiny(t)
	it := Item{ID: "x", Question: "Friends Mary and John found a ring at the school. Mary gave it to?", Choices: []string{"Mary", "John", "Ann"}, Answer: 1}
	s, err := NewScorer(m, Format{BOS: true}, PermuteCyclic)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Score([]Item{it}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := recs[2] // rotation 2: order [1 2 0], the answer (John) at A
	if !reflect.DeepEqual(r.Order, []int{1, 2, 0}) || r.Answer != 0 || r.Perm != 2 {
		t.Fatalf("record %+v", r)
	}
	r = recs[1] // rotation 1: order [2 0 1], John at C
	prompt, _ := Format{}.Prompt(it, r.Order)
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(prompt)...)
	L, D, V := m.Config.NLayers, m.Config.DModel, m.Config.DVocab
	var names []string
	for l := 0; l < L; l++ {
		names = append(names, gpt2.ResidPost(l))
	}
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsAll, Cache: names})
	if err != nil {
		t.Fatal(err)
	}
	T := len(ids)
	logits := res.Logits[0][(T-1)*V : T*V]
	top := 0
	for v := range logits {
		if logits[v] > logits[top] {
			top = v
		}
	}
	tok := func(s string) int { id, _ := m.Tokenizer.TokenID(s); return id }
	var z float64
	for _, x := range logits {
		z += math.Exp(float64(x))
	}
	prob := func(id int) float64 { return math.Exp(float64(logits[id])) / z }
	space := prob(tok(" A")) + prob(tok(" B")) + prob(tok(" C"))
	bare := prob(tok("A")) + prob(tok("B")) + prob(tok("C"))
	variant, pre := "space", " "
	if bare > space {
		variant, pre = "bare", ""
	}
	letters := []int{tok(pre + "A"), tok(pre + "B"), tok(pre + "C")}
	if r.Tokens != T || r.Top != top || r.TopText != m.Tokenizer.TokenText(top) || r.Variant != variant || r.Answer != 2 {
		t.Errorf("tokens %d top %d %q variant %s answer %d; want %d %d %s 2", r.Tokens, r.Top, r.TopText, r.Variant, r.Answer, T, top, variant)
	}
	best := 0
	for k, id := range letters {
		if r.Logits[k] != logits[id] || math.Abs(float64(r.Probs[k])-prob(id)) > 1e-6 {
			t.Errorf("letter %d: logit %v prob %v, want %v %v", k, r.Logits[k], r.Probs[k], logits[id], prob(id))
		}
		if logits[id] > logits[letters[best]] {
			best = k
		}
	}
	if r.PredLetters != best || r.CorrectLetters != (best == 2) || r.LogitDiff != logits[letters[0]]-logits[letters[2]] {
		t.Errorf("pred_letters %d diff %v, want %d %v", r.PredLetters, r.LogitDiff, best, logits[letters[0]]-logits[letters[2]])
	}
	// The lens: ln_final with the vector's own statistics, then W_U, per layer.
	wu := m.Weights().Unembed()
	for l := 0; l < L; l++ {
		x := res.Cache[0][gpt2.ResidPost(l)].Data[(T-1)*D : T*D]
		var mean, vr float64
		for _, v := range x {
			mean += float64(v) / float64(D)
		}
		for _, v := range x {
			vr += (float64(v) - mean) * (float64(v) - mean) / float64(D)
		}
		var diff float64
		for j, v := range x {
			y := (float64(v)-mean)/math.Sqrt(vr+float64(m.Config.LNEps))*float64(m.Params.LnFW[j]) + float64(m.Params.LnFB[j])
			diff += y * (float64(wu[letters[0]*D+j]) - float64(wu[letters[2]*D+j]))
		}
		if math.Abs(float64(r.Lens[l])-diff) > 1e-4 {
			t.Errorf("lens layer %d: %v, want %v", l, r.Lens[l], diff)
		}
	}
	// After the last block the lens is the logit difference itself.
	if math.Abs(float64(r.Lens[L-1]-r.LogitDiff)) > 1e-4 {
		t.Errorf("last lens %v, logit diff %v", r.Lens[L-1], r.LogitDiff)
	}
}

func TestScorerErrors(t *testing.T) {
	m := tiny(t)
	noTok := *m
	noTok.Tokenizer = nil
	if _, err := NewScorer(&noTok, Format{}, PermuteNone); err == nil || err.Error() != "audit: the model has no tokenizer" {
		t.Errorf("error %v", err)
	}
	if _, err := NewScorer(m, Format{}, "shuffle"); err == nil || err.Error() != `audit: permutation mode "shuffle": want none, cyclic or all` {
		t.Errorf("error %v", err)
	}
	s, err := NewScorer(m, Format{BOS: true}, PermuteNone)
	if err != nil {
		t.Fatal(err)
	}
	long := Item{ID: "long", Question: strings.Repeat("word ", 200), Choices: []string{"a", "b"}}
	if _, err := s.Score([]Item{long}, 0); err == nil || err.Error() != "audit: item long: the prompt has 216 tokens, more than the model's context of 128" {
		t.Errorf("error %v", err)
	}
	six := Item{ID: "six", Question: "q", Choices: []string{"a", "b", "c", "d", "e", "f"}}
	all, _ := NewScorer(m, Format{}, PermuteAll)
	if _, err := all.Score([]Item{six}, 0); err == nil || err.Error() != "audit: item six: --permute all takes at most 5 options, an item has 6" {
		t.Errorf("error %v", err)
	}
}

// TestLensMatchesLogitLens: a record's lens is, bit for bit, the difference of the two target
// logits that lens.LogitLens (`mechlens lens --target`) reports at each block's output,
// although the audit reads the residual stream from a batched run that continues shared
// prefixes from a KV cache and the lens from a run of the prompt alone.
func TestLensMatchesLogitLens(t *testing.T) {
	m := tiny(t)
	items := mixedItems(5)
	s, err := NewScorer(m, Format{BOS: true}, PermuteCyclic)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Score(items, 0)
	if err != nil {
		t.Fatal(err)
	}
	an := lens.New(m)
	L := m.Config.NLayers
	checked := 0
	for _, r := range recs {
		if r.Answer == 0 {
			continue
		}
		ids := s.prepare(r.Item, items[r.Item]).trials[r.Perm].ids
		a, b := s.space[0], s.space[r.Answer]
		if r.Variant == "bare" {
			a, b = s.bare[0], s.bare[r.Answer]
		}
		tr, err := an.Trace(ids, lens.TraceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ll, err := an.LogitLens(tr, lens.LensOptions{Targets: []int{a, b}, Positions: []int{-1}})
		if err != nil {
			t.Fatal(err)
		}
		// Points: resid_pre of blocks 0..L-1, then the final residual; block l's output is
		// point l+1.
		for l := range L {
			row := ll.Rows[l+1]
			want := float32(row.Targets[0].Logit - row.Targets[1].Logit)
			if r.Lens[l] != want {
				t.Fatalf("item %d perm %d layer %d: audit lens %v, logit lens %v (%s)", r.Item, r.Perm, l, r.Lens[l], want, row.Point)
			}
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("checked %d records", checked)
	}
}
