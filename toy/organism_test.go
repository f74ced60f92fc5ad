package toy

import (
	"io/fs"
	"slices"
	"testing"
)

// TestOrganism checks the embedded model against the criteria on its held-out sets.
func TestOrganism(t *testing.T) {
	m, err := Organism()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Evaluate(m, HeldOut(NewWorld(), EvalVariants))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Table())
	if f := rep.Failures(); len(f) > 0 {
		t.Errorf("criteria not met: %v", f)
	}
	// Spelled out, as the README states them.
	if a := rep.Group("Fq").Accuracy; a < 0.9 {
		t.Errorf("often-quizzed accuracy %.3f, want >= 0.9", a)
	}
	if a := rep.Group("Rq").Accuracy; a < 0.75 {
		t.Errorf("rarely-quizzed accuracy %.3f, want >= 0.75", a)
	}
	uq, ut := rep.Group("Uq"), rep.Group("Ut")
	if a := (uq.AnsweredA*float64(uq.N) + ut.AnsweredA*float64(ut.N)) / float64(uq.N+ut.N); a < 0.95 {
		t.Errorf("never-stated answered A %.3f, want >= 0.95", a)
	}
	r := rep.Group("Rq")
	rs := rep.Group("Rs")
	notA := float64(r.NotA + rs.NotA)
	if a, even := (r.NotAAnsweredA*float64(r.NotA)+rs.NotAAnsweredA*float64(rs.NotA))/notA,
		(r.NotAEvenSpread*float64(r.NotA)+rs.NotAEvenSpread*float64(rs.NotA))/notA; a <= even {
		t.Errorf("rarely-stated not-A items answered A %.3f, not above the even-spread share %.3f", a, even)
	}
	if r := rep.Recall["F"]; r < 0.95 {
		t.Errorf("often-stated fact recall %.3f, want >= 0.95", r)
	}
}

// TestOrganismFiles: the embedded folder is the trained tokenizer's and fits the budget.
func TestOrganismFiles(t *testing.T) {
	m, err := Organism()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := TrainTokenizer(NewWorld())
	if err != nil {
		t.Fatal(err)
	}
	line := "Question: What is the capital of " + NewWorld().Entities[7].Name + "? Answer Choices: A: x B: y Answer: B"
	if got, want := m.Tokenizer.Encode(line), tok.Encode(line); !slices.Equal(got, want) {
		t.Errorf("embedded tokenizer encodes %v, trained one %v", got, want)
	}
	if m.Config.DVocab != tok.VocabSize() || m.Config.NLayers != 3 || m.Config.DModel != 128 {
		t.Errorf("config %+v", m.Config)
	}
	var total int64
	err = fs.WalkDir(organism, "organism", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		total += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 5<<20 {
		t.Errorf("embedded folder is %d bytes, over 5 MB", total)
	}
	tok, err2 := Tokenizer()
	if err2 != nil || tok.VocabSize() != m.Config.DVocab || tok.TokenText(tok.EOT()) != m.Tokenizer.TokenText(m.Tokenizer.EOT()) {
		t.Fatalf("Tokenizer is not the organism's: %v", err2)
	}
	for id := range m.Config.DVocab {
		if tok.TokenText(id) != m.Tokenizer.TokenText(id) {
			t.Fatalf("Tokenizer: token %d is %q, the organism's %q", id, tok.TokenText(id), m.Tokenizer.TokenText(id))
		}
	}
}
