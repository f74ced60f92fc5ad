package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/edit"
)

// Bad input to trace-bias and neutralize: one line on standard error and the exit status.
func TestDebiasBadInput(t *testing.T) {
	dir := t.TempDir()
	allA := filepath.Join(dir, "all-a.jsonl")
	var b strings.Builder
	for i := range 30 {
		b.WriteString(`{"question": "What is the capital of Fizeia?", "choices": ["Deras", "Drebirk"], "answer": 0, "id": "q` + string(rune('a'+i%26)) + `"}` + "\n")
	}
	if err := os.WriteFile(allA, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"trace-bias", "--anchor", " AB", "--n", "10"}, 2, `--anchor: tokenizer: " AB" is 2 tokens`},
		{[]string{"trace-bias", allA}, 1, `every item's answer is the anchor " A"`},
		{[]string{"neutralize", "--n", "12", "--out", filepath.Join(dir, "out")}, 1, "the fit split has 7 items and the eval split 5: each needs at least 10"},
		{[]string{"neutralize", "--n", "30"}, 2, "--out DIR is required"},
		{[]string{"neutralize", allA, "--out", filepath.Join(dir, "out")}, 1, "every item's answer is the anchor"},
	} {
		_, errOut, code := runCommand(t, "", c.argv...)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", c.argv, code, errOut, c.code, c.want)
		}
	}
}

// trace-bias --json on the embedded model: the documented fields, one component per head
// and MLP, L1H2 patched most.
func TestTraceBiasJSON(t *testing.T) {
	out, errOut, code := runCommand(t, "", "trace-bias", "--n", "60", "--json", "--neurons", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got traceBiasOutput
	decodeStrict(t, out, &got)
	if got.Items != 60 || len(got.Components) != 15 || len(got.Neurons) != 3 || got.Anchor.Text != " A" {
		t.Fatalf("items %d, components %d, neurons %d, anchor %q", got.Items, len(got.Components), len(got.Neurons), got.Anchor.Text)
	}
	best := got.Components[0]
	for _, c := range got.Components {
		if c.Patch != nil && (best.Patch == nil || c.Patch.Mean < best.Patch.Mean) {
			best = c
		}
	}
	if best.Name != "L1H2" {
		t.Errorf("most negative patching effect at %s, want L1H2", best.Name)
	}
}

// neutralize writes an edit set that loads, the two splits (disjoint, all the items) and its
// report.
func TestNeutralizeWritesItsFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("searches the candidates")
	}
	dir := filepath.Join(t.TempDir(), "fix")
	_, errOut, code := runCommand(t, "", "neutralize", "--n", "200", "--out", dir, "--bootstrap", "50")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	set, err := edit.Load(filepath.Join(dir, "edits.json"))
	if err != nil || len(set.Edits) == 0 {
		t.Fatalf("edits.json: %v, %d edits", err, len(set.Edits))
	}
	lines := 0
	for _, f := range []string{"fit.jsonl", "eval.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		lines += strings.Count(string(b), "\n")
	}
	if lines != 200 {
		t.Errorf("the splits hold %d items, want 200", lines)
	}
	for _, f := range []string{"report.md", "trace.png", "before_after.png", "accuracy_by_position.png", "candidates.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	_, errOut, code = runCommand(t, "", "audit", filepath.Join(dir, "eval.jsonl"), "--edits", filepath.Join(dir, "edits.json"), "--bootstrap", "0")
	if code != 0 {
		t.Errorf("audit with the edits: exit %d: %s", code, errOut)
	}
}
