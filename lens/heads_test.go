package lens

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

func TestFindOptions(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := m.Tokenizer.Encode(mcqText)
	bos := append([]int{m.Tokenizer.EOT()}, ids...)
	three := m.Tokenizer.Encode("Question: I saw A then B? Answer Choices: A: red B: blue C: green Answer:")
	for _, c := range []struct {
		name string
		ids  []int
		want []int // positions of A, B, ...
	}{
		{"mcq", ids, []int{25, 28}},
		{"mcq with <|endoftext|>", bos, []int{26, 29}},
		// " A" and " B" before the marker are not options.
		{"three options", three, []int{12, 15, 18}},
	} {
		opts, err := a.FindOptions(c.ids, DefaultMarker)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []int
		for i, o := range opts {
			got = append(got, o.Pos)
			if o.Letter != string(rune('A'+i)) || o.Token.Text != " "+o.Letter || c.ids[o.Pos] != o.Token.ID {
				t.Errorf("%s: option %d is %+v", c.name, i, o)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: options at %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct{ text, want string }{
		{"Question: A or B? Answer:", `lens: the prompt has no "Answer Choices:" before its answer options`},
		{"Answer Choices: red or blue", `lens: no option " A" after "Answer Choices:" in the prompt`},
	} {
		if _, err := a.FindOptions(m.Tokenizer.Encode(c.text), DefaultMarker); err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v, want %q", c.text, err, c.want)
		}
	}
	// Token ids alone, on a model without a vocabulary: no text to find the marker in.
	want := "lens: this model has no tokenizer to find the answer options with"
	if _, err := New(loadModel(t, smallVocabDir)).FindOptions([]int{1, 2, 3}, DefaultMarker); err == nil || err.Error() != want {
		t.Errorf("no tokenizer: error %v, want %q", err, want)
	}
}

// TestHeadsMatchReference compares option attention and one head's pattern with the stored
// attention patterns of the mcq prompt.
func TestHeadsMatchReference(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := mcqIDs(t, m)
	ref := reference(t, "mcq")
	tr := trace(t, a, ids, TraceOptions{Patterns: true})
	opts, err := a.FindOptions(ids, DefaultMarker)
	if err != nil {
		t.Fatal(err)
	}
	oa, err := a.OptionAttention(tr, opts, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	T, last := len(ids), len(ids)-1
	if oa.Query != last || len(oa.Heads) != c.NLayers*c.NHeads {
		t.Fatalf("query %d, %d heads", oa.Query, len(oa.Heads))
	}
	for _, ha := range oa.Heads {
		pat, _ := ref.Float32(gpt2.Pattern(ha.Layer))
		for i, o := range opts {
			closeTo(t, fmt.Sprintf("L%dH%d → %s", ha.Layer, ha.Head, o.Letter), ha.Weights[i], float64(pat[(ha.Head*T+last)*T+o.Pos]), 1e-5)
		}
	}
	hp, err := a.Pattern(tr, 1, 2, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(hp.Keys) != 21 {
		t.Fatalf("query 20 sees %d keys, want 21", len(hp.Keys))
	}
	pat, _ := ref.Float32(gpt2.Pattern(1))
	var sum float64
	for k, kw := range hp.Keys {
		closeTo(t, fmt.Sprintf("L1H2 20→%d", k), kw.Weight, float64(pat[(2*T+20)*T+k]), 1e-5)
		if kw.Pos != k || kw.Token.ID != ids[k] {
			t.Errorf("key %d is %+v", k, kw)
		}
		sum += kw.Weight
	}
	closeTo(t, "pattern row sum", sum, 1, 1e-5)
	for _, c := range []struct {
		l, h, q int
		want    string
	}{
		{2, 0, -1, "lens: head 2.0: the model has layers 0..1 and heads 0..3"},
		{0, 4, -1, "lens: head 0.4: the model has layers 0..1 and heads 0..3"},
		{0, 0, 33, "lens: position 33 is outside the prompt's 33 tokens"},
	} {
		if _, err := a.Pattern(tr, c.l, c.h, c.q); err == nil || err.Error() != c.want {
			t.Errorf("pattern %d.%d from %d: error %v, want %q", c.l, c.h, c.q, err, c.want)
		}
	}
}
