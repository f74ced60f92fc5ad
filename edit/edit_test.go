package edit_test

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/weights"
)

// The fixtures: tiny-gpt2 (F16, GPT-2's tokenizer) and tiny-gpt2-small-vocab (BF16, names
// prefixed "transformer.", an explicit lm_head, no tokenizer).
const (
	tiny       = "../testdata/tiny-gpt2"
	smallVocab = "../testdata/tiny-gpt2-small-vocab"
)

var analysis = []string{gpt2.FoldLN, gpt2.CenterWritingWeights, gpt2.CenterUnembed}

func load(t *testing.T, dir string, steps ...string) *gpt2.Model {
	t.Helper()
	return loadAs(t, dir, tensor.F32, steps...)
}

// loadAs is load with the weight matrices stored as wt.
func loadAs(t *testing.T, dir string, wt tensor.WeightType, steps ...string) *gpt2.Model {
	t.Helper()
	m, err := gpt2.LoadDirWith(context.Background(), dir, gpt2.LoadOptions{Weights: wt})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) > 0 {
		if err := m.Process(steps...); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// sameBits reports whether two models hold bitwise the same weights.
func sameBits(a, b *gpt2.Model) bool {
	_, _, da := a.Weights().Named(a.Config)
	_, _, db := b.Weights().Named(b.Config)
	if len(da) != len(db) {
		return false
	}
	for i := range da {
		if !slices.EqualFunc(da[i], db[i], func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
			return false
		}
	}
	return true
}

func vec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// randomWeightEdits draws n weight edits of every kind over m's shape.
func randomWeightEdits(r *rand.Rand, m *gpt2.Model, n int) []edit.Edit {
	c := m.Config
	var out []edit.Edit
	for i := range n {
		l := r.IntN(c.NLayers)
		switch i % 7 {
		case 0:
			out = append(out, edit.ValueVector(l, r.IntN(c.DMLP), vec(r, c.DModel), "add"))
		case 1:
			out = append(out, edit.ValueVector(l, r.IntN(c.DMLP), vec(r, c.DModel), "set"))
		case 2:
			out = append(out, edit.ScaleNeuron(l, r.IntN(c.DMLP), r.Float64()*2))
		case 3:
			out = append(out, edit.ScaleHead(l, r.IntN(c.NHeads), r.Float64()))
		case 4:
			out = append(out, edit.ProjectOutHead(l, r.IntN(c.NHeads), vec(r, c.DModel)))
		case 5:
			out = append(out, edit.ProjectOutNeurons(l, []int{r.IntN(c.DMLP), r.IntN(c.DMLP)}, vec(r, c.DModel)))
		case 6:
			mat := []string{gpt2.MatrixWOut, gpt2.MatrixWIn, gpt2.MatrixWO}[r.IntN(3)]
			p, _ := m.Matrix(l, mat)
			out = append(out, edit.RankOne(l, mat, vec(r, p.K), vec(r, p.N)))
		}
	}
	return out
}

// Also with bfloat16 weights: an edit rounds what it writes to bfloat16, and revert writes
// back the values it read, which bfloat16 holds exactly.
func TestRevertIsBitExactAfter100Edits(t *testing.T) {
	for _, wt := range []tensor.WeightType{tensor.F32, tensor.BF16} {
		for _, dir := range []string{tiny, smallVocab} {
			testRevertIsBitExact(t, dir, wt)
		}
	}
}

func testRevertIsBitExact(t *testing.T, dir string, wt tensor.WeightType) {
	m, ref := loadAs(t, dir, wt, analysis...), loadAs(t, dir, wt, analysis...)
	s := edit.NewSet(m, dir)
	if err := s.Append(m, randomWeightEdits(rand.New(rand.NewPCG(1, 2)), m, 100)...); err != nil {
		t.Fatal(err)
	}
	before := m.Version()
	a, err := s.Apply(m)
	if err != nil {
		t.Fatal(err)
	}
	if sameBits(m, ref) {
		t.Fatalf("%s %s: 100 edits changed nothing", dir, wt)
	}
	if len(m.Edits) != 100 || m.Version() == before {
		t.Fatalf("%s %s: the model records %d edits, version %d → %d", dir, wt, len(m.Edits), before, m.Version())
	}
	if err := a.Revert(); err != nil {
		t.Fatal(err)
	}
	if !sameBits(m, ref) {
		t.Fatalf("%s %s: revert did not restore the weights bit for bit", dir, wt)
	}
	if len(m.Edits) != 0 {
		t.Fatalf("%s %s: the model still records %v", dir, wt, m.Edits)
	}
	if err := a.Revert(); err == nil {
		t.Fatalf("%s %s: a second revert was accepted", dir, wt)
	}
}

func TestApplyingTwiceGivesTheSameBits(t *testing.T) {
	m1, m2 := load(t, tiny), load(t, tiny)
	s := edit.NewSet(m1, "tiny")
	if err := s.Append(m1, randomWeightEdits(rand.New(rand.NewPCG(3, 4)), m1, 21)...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "edits.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := edit.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(m1); err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Apply(m2); err != nil {
		t.Fatal(err)
	}
	if !sameBits(m1, m2) {
		t.Fatal("the set and its saved copy give different weights")
	}
}

func TestCloneSharesUntouchedMatrices(t *testing.T) {
	base := load(t, tiny)
	ref := load(t, tiny)
	ed := base.Clone()
	if _, err := edit.ApplyEdit(ed, edit.ScaleHead(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if !sameBits(base, ref) {
		t.Fatal("editing a clone changed its source")
	}
	for _, mat := range []string{gpt2.MatrixWOut, gpt2.MatrixWIn} {
		a, _ := base.Matrix(0, mat)
		b, _ := ed.Matrix(0, mat)
		if a != b {
			t.Errorf("%s of layer 0 is no longer shared after an edit of W_O", mat)
		}
	}
	a, _ := base.Matrix(0, gpt2.MatrixWO)
	b, _ := ed.Matrix(0, gpt2.MatrixWO)
	if a == b {
		t.Fatal("the edited W_O is still shared")
	}
	// The source writes its own copy too, leaving the clone as it was.
	if _, err := edit.ApplyEdit(base, edit.ScaleNeuron(1, 3, 0)); err != nil {
		t.Fatal(err)
	}
	if w, _ := ed.Matrix(1, gpt2.MatrixWOut); w.At(3, 0) == 0 {
		t.Fatal("an edit of the source reached its clone")
	}
}

func TestAnalyzerSeesEdits(t *testing.T) {
	m := load(t, tiny, analysis...)
	a := lens.New(m)
	vv, err := a.ValueVector(1, 7, 3)
	if err != nil || vv.Norm == 0 {
		t.Fatalf("norm %v, %v", vv, err)
	}
	ap, err := edit.ApplyEdit(m, edit.ScaleNeuron(1, 7, 0))
	if err != nil {
		t.Fatal(err)
	}
	if vv, _ := a.ValueVector(1, 7, 3); vv.Norm != 0 {
		t.Fatalf("after ablating neuron 1.7 the analyzer reports norm %g: stale statistics", vv.Norm)
	}
	ap.Revert()
	if vv2, _ := a.ValueVector(1, 7, 3); vv2.Norm != vv.Norm {
		t.Fatalf("after the revert, norm %g, want %g", vv2.Norm, vv.Norm)
	}
}

func TestWrongModelIsRefused(t *testing.T) {
	m, other := load(t, tiny), load(t, smallVocab)
	s := edit.NewSet(m, "tiny-gpt2")
	if err := s.Append(m, edit.ScaleNeuron(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(other)
	if err == nil || !strings.Contains(err.Error(), "tiny-gpt2") || !strings.Contains(err.Error(), other.Hash) || !strings.Contains(err.Error(), m.Hash) {
		t.Fatalf("applying to another model: %v", err)
	}
}

// logProbs runs ids and returns log-softmax of every position's logits.
func logProbs(t *testing.T, m *gpt2.Model, ids []int) [][]float64 {
	t.Helper()
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	V := m.Config.DVocab
	var out [][]float64
	for p := range ids {
		row := res.Logits[0][p*V : (p+1)*V]
		lse := tensor.LogSumExp(row)
		lp := make([]float64, V)
		for i, x := range row {
			lp[i] = float64(x) - lse
		}
		out = append(out, lp)
	}
	return out
}

func maxDiff(a, b [][]float64) float64 {
	var d float64
	for i := range a {
		for j := range a[i] {
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}

var ids = []int{464, 3139, 286, 4881, 318, 6342, 13, 383, 3290, 286}

// An edit of what components write, made under the analysis processing, gives the same
// function applied to raw weights, and the other way round.
func TestEditsCarryAcrossProcessing(t *testing.T) {
	proc := load(t, tiny, analysis...)
	c := proc.Config
	rule, err := edit.ValueVectorRule(proc, 1, 5, " A", " B", 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := edit.TokenDirection(proc, " Paris", " London")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	edits := []edit.Edit{rule, edit.ScaleNeuron(0, 9, 3), edit.ScaleHead(1, 2, 0.5), edit.ProjectOutHead(0, 3, dir),
		edit.ProjectOutNeurons(1, []int{1, 2, 3}, dir), edit.RankOne(0, gpt2.MatrixWOut, vec(r, c.DMLP), vec(r, c.DModel)),
		edit.Steer(gpt2.ResidMid(1), -1, []int{-1}, 2, dir), edit.Ablate(gpt2.Z(0), 1, "zero", nil),
		edit.Ablate(gpt2.MLPPost(1), -1, "mean", []int{2, 3})}
	for _, from := range [][]string{analysis, nil} {
		made := load(t, tiny, from...)
		s := edit.NewSet(made, "tiny")
		for _, e := range edits {
			if err := s.Append(made, e); err != nil {
				t.Fatal(err)
			}
		}
		var lps [][][]float64
		for _, steps := range [][]string{analysis, nil} {
			m := load(t, tiny, steps...)
			if _, err := s.Apply(m); err != nil {
				t.Fatalf("made under %v, applied under %v: %v", from, steps, err)
			}
			lps = append(lps, logProbs(t, m, ids))
		}
		base := logProbs(t, load(t, tiny), ids)
		if d := maxDiff(lps[0], base); d < 1e-2 {
			t.Fatalf("the edits barely change the model (%g): the test would not see a difference", d)
		}
		if d := maxDiff(lps[0], lps[1]); d > 2e-5 {
			t.Errorf("made under %v: processed and raw edited models differ by %g in log-probabilities", from, d)
		}
	}
}

func TestInexactCarryIsRefused(t *testing.T) {
	withVB := load(t, tiny, append(analysis, gpt2.FoldValueBiases)...)
	s := edit.NewSet(withVB, "tiny")
	if err := s.Append(withVB, edit.ScaleHead(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	raw := load(t, tiny)
	ref := load(t, tiny)
	_, err := s.Apply(raw)
	if err == nil || !strings.Contains(err.Error(), "fold_value_biases") {
		t.Fatalf("scale_head made under fold_value_biases applied to raw weights: %v", err)
	}
	if !sameBits(raw, ref) || len(raw.Edits) != 0 {
		t.Fatal("a refused set changed the model")
	}
	s = edit.NewSet(raw, "tiny")
	r := rand.New(rand.NewPCG(7, 8))
	if err := s.Append(raw, edit.RankOne(1, gpt2.MatrixWIn, vec(r, raw.Config.DModel), vec(r, raw.Config.DMLP))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(load(t, tiny, analysis...)); err == nil || !strings.Contains(err.Error(), "fold_ln") {
		t.Fatalf("rank_one on W_in made on raw weights applied under fold_ln: %v", err)
	}
}

// Zeroing a head's hook_z at run time and zeroing its W_O rows are the same function.
func TestAblateHeadEqualsScaleHeadZero(t *testing.T) {
	a, b := load(t, tiny), load(t, tiny)
	if _, err := edit.ApplyEdit(a, edit.Ablate(gpt2.Z(1), 2, "zero", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := edit.ApplyEdit(b, edit.ScaleHead(1, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(logProbs(t, a, ids), logProbs(t, b, ids)); d > 1e-5 {
		t.Fatalf("ablating z of L1H2 and scaling its W_O by 0 differ by %g", d)
	}
}

func TestAttentionSwapAndScale(t *testing.T) {
	m := load(t, tiny)
	pattern := func() []float32 {
		res, err := m.Run([][]int{ids}, gpt2.RunOptions{Cache: []string{gpt2.Pattern(1)}, Logits: gpt2.LogitsNone})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Release()
		T := len(ids)
		return slices.Clone(res.Cache[0][gpt2.Pattern(1)].Data[(3*T+T-1)*T : (3*T+T)*T]) // head 3, last query
	}
	before := pattern()
	ap, err := edit.ApplyEdit(m, edit.AttentionSwap(1, 3, -1, 0, 4))
	if err != nil {
		t.Fatal(err)
	}
	after := pattern()
	if after[0] != before[4] || after[4] != before[0] || after[2] != before[2] {
		t.Fatalf("swap of keys 0 and 4: %v → %v", before, after)
	}
	ap.Revert()
	if _, err := edit.ApplyEdit(m, edit.AttentionScale(1, 3, -1, []int{0}, false, 0)); err != nil {
		t.Fatal(err)
	}
	after = pattern()
	var sum float64
	for _, x := range after {
		sum += float64(x)
	}
	if after[0] != 0 || math.Abs(sum-1) > 1e-6 || math.Abs(float64(after[1])-float64(before[1])/(1-float64(before[0]))) > 1e-6 {
		t.Fatalf("scaling key 0 by 0: %v → %v (sum %g)", before, after, sum)
	}
}

func TestBadEditsAreRefusedWhole(t *testing.T) {
	m := load(t, tiny)
	ref := load(t, tiny)
	c := m.Config
	two := 2
	cases := []struct {
		e    edit.Edit
		want string
	}{
		{edit.ScaleNeuron(c.NLayers, 0, 0), "layer 2 is outside [0, 2)"},
		{edit.ScaleNeuron(0, c.DMLP, 0), "neuron 128 is outside [0, 128)"},
		{edit.ScaleHead(0, c.NHeads, 0), "head 4 is outside [0, 4)"},
		{edit.ValueVector(0, 1, make([]float32, 5), "add"), "vector has 5 values, want 32"},
		{edit.ValueVector(0, 1, make([]float32, 32), "replace"), `mode must be "set" or "add"`},
		{edit.RankOne(0, gpt2.MatrixWOut, make([]float32, 3), make([]float32, 32)), "u has 3 values, want 128"},
		{edit.RankOne(0, "mlp.W_gate", make([]float32, 3), make([]float32, 32)), "matrix must be"},
		{edit.Steer("blocks.0.hook_resid_psot", -1, nil, 1, make([]float32, 32)), `hook "blocks.0.hook_resid_psot" is not`},
		{edit.Steer(gpt2.Z(0), -1, nil, 1, make([]float32, 8)), "needs a head"},
		{edit.Edit{Kind: "scale_layer"}, `kind "scale_layer" is not known`},
		{edit.Edit{Kind: edit.KindScaleHead, Head: &two}, "factor must be a finite number"},
		{edit.ProjectOutHead(0, 1, make([]float32, 32)), "project_out: vector (the direction) is zero once centered"},
		{edit.RankOne(0, gpt2.MatrixWOut, filled(128, 1e20), filled(32, 1e20)), "rank_one: the edit takes row 0 of layer 0's mlp.W_out past float32's range"},
		{edit.ScaleHead(0, 1, 1e39), "scale_head: factor must be a finite number in float32's range"},
		{edit.ScaleNeuron(0, 1, -1e300), "scale_neuron: factor must be a finite number in float32's range"},
		{edit.Steer(gpt2.ResidPost(0), -1, nil, 1e39, make([]float32, 32)), "steer: alpha must be a finite number in float32's range"},
		{edit.Steer(gpt2.ResidPost(0), -1, nil, 3e38, filled(32, -2)), "steer: alpha times the vector passes float32's range"},
		{edit.AttentionScale(0, 1, -1, []int{0}, false, 1e39), "attention: factor must be a number ≥ 0 in float32's range"},
	}
	for _, tc := range cases {
		s := edit.NewSet(m, "tiny")
		s.Edits = append(s.Edits, edit.ScaleNeuron(0, 0, 0), tc.e) // a good edit first: nothing may be applied
		_, err := s.Apply(m)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: got %v, want one line containing %q", tc.e, err, tc.want)
		}
	}
	if _, err := edit.ValueVectorRule(m, 0, 1, " Paris France", " B", 1, 8); err == nil || !strings.Contains(err.Error(), `" Paris France" is 2 tokens, not one`) {
		t.Errorf("a two-token anchor: %v", err)
	}
	if !sameBits(m, ref) || len(m.Edits) != 0 {
		t.Fatal("a refused set changed the model")
	}
}

func TestBadFilesAreOneLineErrors(t *testing.T) {
	m := load(t, tiny)
	s := edit.NewSet(m, "tiny")
	s.Append(m, edit.ScaleNeuron(0, 1, 0.5))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	b, _ := readFile(good)
	cases := map[string]struct {
		data, want string
	}{
		"truncated": {string(b[:len(b)/2]), "not a JSON edit set"},
		"version":   {strings.Replace(string(b), `"version": 1`, `"version": 7`, 1), "version 7 is not known"},
		"noversion": {strings.Replace(string(b), `"version": 1,`, ``, 1), "version is missing"},
		"field":     {strings.Replace(string(b), `"kind"`, `"kindd": 1, "kind"`, 1), `unknown field "kindd"`},
		"type":      {strings.Replace(string(b), `"layer": 0`, `"layer": "zero"`, 1), "field edits.layer: want an integer, got a JSON string"},
		"badedit":   {strings.Replace(string(b), `"factor": 0.5`, `"factor": null`, 1), "edits[0]: scale_neuron: factor must be a finite number"},
	}
	for name, tc := range cases {
		p := filepath.Join(dir, name+".json")
		writeFile(t, p, tc.data)
		_, err := edit.Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line naming the file and containing %q", name, err, tc.want)
		}
	}
	if _, err := edit.Load(filepath.Join(dir, "nosuch.json")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

// An edited model written as a Hugging Face folder and loaded back runs as the edited model
// did (F32 export: to float32 rounding), for the F16 fixture and the BF16, prefixed one.
func TestExportEqualsEditedModel(t *testing.T) {
	for _, dir := range []string{tiny, smallVocab} {
		m := load(t, dir)
		s := edit.NewSet(m, dir)
		s.Append(m, randomWeightEdits(rand.New(rand.NewPCG(9, 10)), m, 14)...)
		if _, err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "edited")
		if err := gpt2.SaveDir(out, m, weights.DTypeF32); err != nil {
			t.Fatal(err)
		}
		back, err := gpt2.LoadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]int, 8)
		for i := range in {
			in[i] = ids[i] % m.Config.DVocab
		}
		if d := maxDiff(logProbs(t, m, in), logProbs(t, back, in)); d > 1e-5 {
			t.Errorf("%s: exported edited model differs by %g", dir, d)
		}
		if !sameBits(m, back) {
			t.Errorf("%s: the exported F32 weights are not the edited ones", dir)
		}
		// The set made on the base refuses the exported model: its weights are not the base's.
		if _, err := s.Apply(back); err == nil {
			t.Errorf("%s: the set applied a second time on its own export", dir)
		}
	}
	m := load(t, tiny)
	edit.ApplyEdit(m, edit.Ablate(gpt2.Z(0), 1, "zero", nil))
	if err := gpt2.SaveDir(t.TempDir(), m, weights.DTypeF32); err == nil || !strings.Contains(err.Error(), "run-time interventions") {
		t.Fatalf("saving a model with an intervention: %v", err)
	}
	if err := gpt2.SaveDir(t.TempDir(), load(t, tiny, analysis...), weights.DTypeF32); err == nil || !strings.Contains(err.Error(), "processed") {
		t.Fatalf("saving a processed model: %v", err)
	}
	// Over the folder it was loaded from: the user's checkpoint would be lost.
	src := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors", "vocab.json", "merges.txt"} {
		b, _ := readFile(filepath.Join(tiny, name))
		writeFile(t, filepath.Join(src, name), string(b))
	}
	before, _ := readFile(filepath.Join(src, "model.safetensors"))
	m = load(t, src)
	edit.ApplyEdit(m, edit.ScaleHead(0, 1, 0))
	want := "gpt2: save " + src + "/.: it is the folder the model was loaded from: save to another folder"
	if err := gpt2.SaveDir(src+"/.", m, weights.DTypeF32); err == nil || err.Error() != want {
		t.Errorf("saving over the source folder: %v, want %q", err, want)
	}
	if after, _ := readFile(filepath.Join(src, "model.safetensors")); !bytes.Equal(after, before) {
		t.Error("the source checkpoint was overwritten")
	}
}

// filled is a vector of n copies of x.
func filled(n int, x float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = x
	}
	return v
}

// A vector file that cannot be read says why in one line naming the file.
func TestReadVectorErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"big.json", "[1, 1e39, 2]", "vector file DIR/big.json: 1e39 is past float32's range"},
		{"words.json", `["a"]`, "vector file DIR/words.json: want a JSON array of numbers or a .safetensors file"},
		{"nan.json", "[NaN]", "vector file DIR/nan.json: want a JSON array of numbers or a .safetensors file"},
		{"empty.json", "[]", "vector file DIR/empty.json: the vector is empty"},
	} {
		p := filepath.Join(dir, tc.name)
		writeFile(t, p, tc.data)
		want := strings.ReplaceAll(tc.want, "DIR", dir)
		if _, err := edit.ReadVector(p); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", tc.name, err, want)
		}
	}
}
