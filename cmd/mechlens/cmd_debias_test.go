package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/debias"
	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/internal/cli"
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
		{[]string{"neutralize", "--anchor", " AB", "--n", "30", "--out", filepath.Join(dir, "out")}, 2, `--anchor: tokenizer: " AB" is 2 tokens`},
		{[]string{"neutralize", "--fit", allA, "--out", filepath.Join(dir, "out")}, 2, "--fit and --eval go together"},
		{[]string{"neutralize", allA, "--out", filepath.Join(dir, "out")}, 1, "every item's answer is the anchor"},
		{[]string{"neutralize", "--n", "30", "--out", filepath.Join(dir, "out"), "--facts", allA}, 1, allA + ": line 1: want {\"prompt\", \"completion\", \"class\"}"},
		{[]string{"neutralize", "--n", "30", "--out", filepath.Join(dir, "out"), "--neutral", filepath.Join(dir, "none.txt")}, 1, "open " + filepath.Join(dir, "none.txt")},
		{[]string{"neutralize", "--n", "30", "--out", filepath.Join(dir, "out"), "--fallback", "Uq,NOPE"}, 2,
			`--fallback: no item of the fit split is in group "NOPE" (its groups: Fq, Fs, Rq, Rs, Uq, Ut)`},
		{[]string{"neutralize", allA, "--out", filepath.Join(dir, "out"), "--fallback", "Uq"}, 2, `--fallback: the items carry no group, so "Uq" cannot be a fallback group`},
	} {
		_, errOut, code := runCommand(t, "", c.argv...)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", c.argv, code, errOut, c.code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed neutralize left --out behind: %v", err)
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
	// The organism's fallback is positional: rotated options leave it on A.
	if r := got.Rotation; r == nil || r.Items != got.Fallback || r.StillAnchor < 0.9 || r.StillAnchor+r.FollowsOption > 1 {
		t.Errorf("rotation %+v over %d fallback items", r, got.Fallback)
	}
}

// neutralize writes an edit set that loads, the two splits (disjoint, all the items) and its
// report.
func TestNeutralizeWritesItsFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("searches the candidates")
	}
	dir := filepath.Join(t.TempDir(), "fix")
	out, errOut, code := runCommand(t, "", "neutralize", "--n", "200", "--out", dir, "--bootstrap", "50", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep debias.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.CyclicAfter == nil {
		t.Fatalf("--json: %v, cyclic_after %v", err, rep.CyclicAfter)
	}
	set, err := edit.Load(filepath.Join(dir, "edits.json"))
	if err != nil || len(set.Edits) == 0 {
		t.Fatalf("edits.json: %v, %d edits", err, len(set.Edits))
	}
	// The README's default, found on these 100 fit items too: the anchor and letter
	// calibrations gated by L2H2 and L2H3, the heads the gate rule picks in layer 2.
	for _, e := range set.Edits {
		if g := e.Gate; len(set.Edits) != 2 || g == nil || g.Layer != 2 || !slices.Equal(g.Heads, []int{2, 3}) || g.Lo != 0.85 || g.Hi != 1.15 {
			t.Errorf("chosen %d edits, %s%v; want 2 gated by L2 heads 2,3 in [0.85, 1.15]", len(set.Edits), e.Kind, g)
		}
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
	// The report's rotations are audit's: the same numbers as auditing the eval split
	// under cyclic orders with the edits.
	out, errOut, code = runCommand(t, "", "audit", filepath.Join(dir, "eval.jsonl"), "--edits", filepath.Join(dir, "edits.json"),
		"--bootstrap", "0", "--permute", "cyclic", "--json")
	if code != 0 {
		t.Fatalf("audit with the edits: exit %d: %s", code, errOut)
	}
	var sum audit.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Groups) == 0 || len(sum.Groups) != len(rep.CyclicAfter.Groups) {
		t.Fatalf("audit --json: %v, %d groups against %d", err, len(sum.Groups), len(rep.CyclicAfter.Groups))
	}
	for i, g := range sum.Groups {
		r := rep.CyclicAfter.Groups[i].Letters
		if g.Letters.CircularAccuracy.Value != r.CircularAccuracy.Value || g.Letters.PositionalAnchored.Value != r.PositionalAnchored.Value ||
			g.Letters.Anchored.Value != r.Anchored.Value {
			t.Errorf("group %s: audit circular %v, not by content %v, anchored %v; neutralize %v, %v, %v", g.Group,
				g.Letters.CircularAccuracy.Value, g.Letters.PositionalAnchored.Value, g.Letters.Anchored.Value,
				r.CircularAccuracy.Value, r.PositionalAnchored.Value, r.Anchored.Value)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "report.md")); err != nil || !strings.Contains(string(b), "## In every rotation of the options, eval split") {
		t.Errorf("report.md lacks the rotations' section (%v)", err)
	}
}

// On a GPT-2 format checkpoint (tiny-gpt2, GPT-2's tokenizer) both commands default to the
// paper's IOI items and run the whole pipeline: the trace with path patching, the scan, and
// the search with the paper's value-vector rule over its (α1, α2) sweep, each row reported.
func TestDebiasOnGPT2Format(t *testing.T) {
	out, errOut, code := runCommand(t, "", "trace-bias", "--model", tiny, "--n", "40", "--json", "--neurons", "3")
	if code != 0 {
		t.Fatalf("trace-bias: exit %d: %s", code, errOut)
	}
	var tr traceBiasOutput
	decodeStrict(t, out, &tr)
	if !strings.HasPrefix(tr.Data, "generate:ioi n=40") || tr.Items != 40 || len(tr.Components) != 4*2+2 || tr.Known == 0 || tr.Fallback == 0 || len(tr.ScanByGap) != 3 {
		t.Fatalf("data %q, %d items, %d components, %d known, %d fallback, %d by gap", tr.Data, tr.Items, len(tr.Components), tr.Known, tr.Fallback, len(tr.ScanByGap))
	}
	// Two options: rotating them swaps them, so every rotated item is answered at the
	// anchor's position or follows its option.
	if r := tr.Rotation; r == nil || r.Items != tr.Fallback || math.Abs(r.StillAnchor+r.FollowsOption-1) > 1e-12 {
		t.Errorf("rotation %+v over %d fallback items", r, tr.Fallback)
	}
	if last := tr.Components[len(tr.Components)-1]; last.PathLater == nil || math.Abs(last.PathLater.Mean) > 1e-4 || math.Abs(last.Patch.Mean-last.PathDirect.Mean) > 1e-4 {
		t.Errorf("%s: patched %+v, direct path %+v, later path %+v", last.Name, last.Patch, last.PathDirect, last.PathLater)
	}

	dir := filepath.Join(t.TempDir(), "fix")
	out, errOut, code = runCommand(t, "", "neutralize", "--model", tiny, "--n", "60", "--out", dir, "--bootstrap", "50")
	if code != 0 {
		t.Fatalf("neutralize: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "on generate:ioi n=60 seed=0, split 0.5 seed 0: chose ") || !strings.Contains(out, "\nall ") {
		t.Errorf("neutralize printed:\n%s", out)
	}
	rep, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a1 := range []string{"1", "2", "4", "8"} {
		for _, a2 := range []string{"0", "1", "4", "8"} {
			if want := "| value_vector | paper's rule on L1N88,L0N127 α1=" + a1 + " α2=" + a2 + " |"; !strings.Contains(string(rep), want) && !strings.Contains(string(rep), "| value_vector | **paper's rule on L1N88,L0N127 α1="+a1+" α2="+a2+"** |") {
				t.Errorf("report.md lacks the row %q", want)
			}
		}
	}
	for _, want := range []string{"| all | 30 |", "path: later layers", "| none | no edit |"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := edit.Load(filepath.Join(dir, "edits.json")); err != nil {
		t.Error(err)
	}
	_, errOut, code = runCommand(t, "", "audit", filepath.Join(dir, "eval.jsonl"), "--model", tiny, "--edits", filepath.Join(dir, "edits.json"), "--bootstrap", "0")
	if code != 0 {
		t.Errorf("audit with the edits: exit %d: %s", code, errOut)
	}
}

// The "also" list for audit: a data file is audited whole (not the first 200), the
// items of a JSON array get distinct ids, and items with a group get the per-group table.
func TestAuditWholeFileIDsAndGroups(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "items.json")
	var b strings.Builder
	b.WriteString("[")
	for i := range 210 {
		if i > 0 {
			b.WriteString(",")
		}
		g := []string{"Fq", "Uq"}[i%2]
		b.WriteString(`{"question": "What is the capital of Fizeia?", "choices": ["Deras", "Drebirk", "Glon"], "answer": ` + string(rune('0'+i%3)) + `, "group": "` + g + `"}`)
	}
	b.WriteString("]")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	stdout, errOut, code := runCommand(t, "", "audit", data, "--bootstrap", "0", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, "by group (letters rule)") || !strings.Contains(stdout, "\nFq ") || !strings.Contains(stdout, "\nUq ") {
		t.Errorf("no per-group table:\n%s", stdout)
	}
	lines, err := os.ReadFile(filepath.Join(out, "items.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	if len(ids) != 210 || !ids["item 1"] || !ids["item 210"] {
		t.Errorf("%d distinct ids over the trials, want 210 (item 1 … item 210)", len(ids))
	}
}

// runTraceBias and runNeutralize called with options written by hand (as the TUI or a Go
// caller would) print what the command lines do.
func TestRunDebiasEqualsCLI(t *testing.T) {
	mf := *addModelFlags(cli.NewCommand("test", "test", "test"), analysisProcessing)
	mf.spec = tiny
	data := dataOptions{letters: audit.DefaultStyle, anchor: " A", n: 20, bos: true}
	var out, errOut bytes.Buffer
	io := &cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut}
	o := traceBiasOptions{model: mf, data: data, trace: debias.TraceOptions{TopNeurons: 10, Gap: 4, Neurons: 3}, format: cli.JSON}
	if err := runTraceBias(context.Background(), io, o); err != nil {
		t.Fatal(err)
	}
	want, stderr, code := runCommand(t, "", "trace-bias", "--model", tiny, "--n", "20", "--neurons", "3", "--json")
	if code != 0 || out.String() != want {
		t.Errorf("runTraceBias printed\n%.300s\nthe CLI (exit %d, %s)\n%.300s", out.String(), code, stderr, want)
	}
	o.args = []string{"a.jsonl", "b.jsonl"}
	if err := runTraceBias(context.Background(), io, o); err == nil || err.Error() != "want at most one data file, got 2 arguments" {
		t.Errorf("two data files: %v", err)
	}
	n := neutralizeOptions{model: mf, data: data, split: 0.5, tol: 0.01, top: 10, gap: 4, format: cli.JSON}
	if err := runNeutralize(context.Background(), io, n); err == nil || err.Error() != "--out DIR is required" {
		t.Errorf("no --out: %v", err)
	}
	n.out, n.data.n = filepath.Join(t.TempDir(), "fix"), 12
	if err := runNeutralize(context.Background(), io, n); err == nil || err.Error() != "the fit split has 6 items and the eval split 6: each needs at least 10" {
		t.Errorf("12 items: %v", err)
	}
}
