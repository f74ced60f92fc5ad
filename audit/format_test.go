package audit

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestPermutations(t *testing.T) {
	tests := []struct {
		n    int
		mode string
		want [][]int
	}{
		{3, PermuteNone, [][]int{{0, 1, 2}}},
		{3, PermuteCyclic, [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}}},
		{3, PermuteAll, [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}},
		{2, PermuteAll, [][]int{{0, 1}, {1, 0}}},
	}
	for _, tc := range tests {
		got, err := Permutations(tc.n, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d %s: %v, want %v", tc.n, tc.mode, got, tc.want)
		}
	}
	// Cyclic rotation r moves every option r positions later.
	cyc, _ := Permutations(4, PermuteCyclic)
	for r, order := range cyc {
		for pos, j := range order {
			if pos != (j+r)%4 {
				t.Errorf("rotation %d shows option %d at %d", r, j, pos)
			}
		}
	}
	five, _ := Permutations(5, PermuteAll)
	seen := map[string]bool{}
	for _, p := range five {
		seen[fmtInts(p)] = true
	}
	if len(five) != 120 || len(seen) != 120 {
		t.Errorf("5 options: %d orders (%d distinct), want 120", len(five), len(seen))
	}
	for _, tc := range []struct {
		n    int
		mode string
		err  string
	}{
		{6, PermuteAll, "audit: --permute all takes at most 5 options, an item has 6"},
		{3, "random", `audit: permutation mode "random": want none, cyclic or all`},
	} {
		if _, err := Permutations(tc.n, tc.mode); err == nil || err.Error() != tc.err {
			t.Errorf("error %v, want %q", err, tc.err)
		}
	}
}

func fmtInts(p []int) string {
	var b strings.Builder
	b.WriteString("[")
	for i, x := range p {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteByte(byte('0' + x))
	}
	b.WriteString("]")
	return b.String()
}

func TestPromptFormats(t *testing.T) {
	it := Item{ID: "x", Question: "Who?", Choices: []string{"Ann", "Bob", "Cid"}, Answer: 1}
	tmpl, err := ReadTemplate("testdata/paren.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f     Format
		order []int
		want  string
	}{
		{Format{}, nil, "Question: Who? Answer Choices: A: Ann B: Bob C: Cid Answer:"},
		{Format{}, []int{2, 0, 1}, "Question: Who? Answer Choices: A: Cid B: Ann C: Bob Answer:"},
		{Format{Style: "(A)"}, nil, "Question: Who? Answer Choices: (A) Ann (B) Bob (C) Cid Answer:"},
		{Format{Style: "dot"}, nil, "Question: Who? Answer Choices: A. Ann B. Bob C. Cid Answer:"},
		{Format{Labels: []string{"1", "2", "3"}}, nil, "Question: Who? Answer Choices: 1: Ann 2: Bob 3: Cid Answer:"},
		{Format{Template: tmpl, Style: "paren"}, []int{1, 2, 0}, "Who?\n(A) Bob\n(B) Cid\n(C) Ann\nAnswer:"},
		{Format{Template: "{{.N}} {{range .Options}}{{.Label}}={{.Index}} {{end}}"}, []int{1, 2, 0}, "3 A=1 B=2 C=0 "},
	}
	for _, tc := range tests {
		got, err := tc.f.Prompt(it, tc.order)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
	errs := []struct {
		f   Format
		err string
	}{
		{Format{Style: "B:"}, `audit: letter style "B:" must contain the letter A exactly once (A:, (A), A.)`},
		{Format{Labels: []string{"A", "A", "C"}}, `audit: labels ["A" "A" "C"]: each must be non-empty, distinct and without spaces`},
		{Format{Labels: []string{"A", "B"}}, "audit: item x: 3 options but only 2 labels"},
		{Format{Template: "{{.Nope}}"}, `audit: item x: template: template: prompt:1:2: executing "prompt" at <.Nope>: can't evaluate field Nope (a template has .Question, .Options[].Label/.Marker/.Text/.Index and .N)`},
		{Format{Template: "{{.Question"}, "audit: template: template: prompt:1: unclosed action"},
	}
	for _, tc := range errs {
		if _, err := tc.f.Prompt(it, nil); err == nil || err.Error() != tc.err {
			t.Errorf("%+v: error %v, want %q", tc.f, err, tc.err)
		}
	}
}

// paperPrompt is the shape of every sentence in the paper's IOI file.
var paperPrompt = regexp.MustCompile(`^Question: [A-Z][^?]* ([A-Z][a-z]+)[ ,.][^?]* to\? Answer Choices: A: ([A-Z][a-z]+) B: ([A-Z][a-z]+) Answer:$`)

func TestIOIGenerator(t *testing.T) {
	a, err := IOI{}.Generate(300, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := IOI{}.Generate(300, 7)
	c, _ := IOI{}.Generate(300, 8)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different items")
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("different seeds, same items")
	}
	shapes := map[string]bool{}
	for i, it := range a {
		p, err := Format{}.Prompt(it, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := paperPrompt.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("item %d does not look like the paper's: %q", i, p)
		}
		s, io := it.Choices[0], it.Choices[1]
		// The subject (option A) is named twice in the question, the indirect object once,
		// and the answer is B.
		if strings.Count(it.Question, s) != 2 || strings.Count(it.Question, io) != 1 || s == io || it.Answer != 1 {
			t.Errorf("item %d: %q with A=%s B=%s answer %d", i, it.Question, s, io, it.Answer)
		}
		shapes[strings.NewReplacer(s, "S", io, "IO").Replace(it.Question)[:12]] = true
	}
	if len(shapes) < 10 {
		t.Errorf("only %d sentence openings in 300 items", len(shapes))
	}
	if _, err := (IOI{}).Generate(0, 1); err == nil || err.Error() != "audit: ioi: want at least 1 item, got 0" {
		t.Errorf("error %v", err)
	}
}

type fakeGen struct{ name string }

func (g fakeGen) Name() string     { return g.name }
func (g fakeGen) Describe() string { return "test" }
func (g fakeGen) Generate(n int, seed uint64) ([]Item, error) {
	return []Item{{ID: "f", Question: "q", Choices: []string{"a", "b"}}}, nil
}

func TestGeneratorRegistry(t *testing.T) {
	Register(fakeGen{"fake-test"})
	g, err := LookupGenerator("fake-test")
	if err != nil || g.Name() != "fake-test" {
		t.Fatalf("lookup: %v %v", g, err)
	}
	var names []string
	for _, g := range Generators() {
		names = append(names, g.Name())
	}
	if !reflect.DeepEqual(names, []string{"fake-test", "ioi"}) {
		t.Errorf("generators %v", names)
	}
	if _, err := LookupGenerator("nope"); err == nil || err.Error() != `audit: no generator "nope" (have fake-test, ioi)` {
		t.Errorf("error %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("registering a name twice must panic")
			}
		}()
		Register(fakeGen{"fake-test"})
	}()
}
