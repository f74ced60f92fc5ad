package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/modelspec"
)

// The end-to-end audit of the model organism (finding its planted bias) belongs here once
// the organism is the embedded model: `mechlens audit --generate <its task>`.

func TestAuditJSONEqualsLibrary(t *testing.T) {
	out, errOut, code := runCommand(t, "", "audit", "--model", tiny, "--n", "8", "--bootstrap", "50", "--permute", "cyclic", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got audit.Summary
	decodeStrict(t, out, &got)
	m, err := gpt2.LoadDir(tiny)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Process(strings.Split(analysisProcessing, ",")...); err != nil {
		t.Fatal(err)
	}
	items, _ := audit.IOI{}.Generate(8, 0)
	want, err := audit.Run(context.Background(), m, items, audit.RunOptions{Config: audit.Config{
		Model: tiny, Data: "generate:ioi n=8 seed=0", Schema: "generated", Permute: "cyclic", Bootstrap: 50,
		Format: audit.Format{Style: "A:", BOS: true}}})
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(&got)
	if !bytes.Equal(gb, wb) {
		t.Errorf("CLI summary differs from the library's:\n%s\nwant\n%s", gb, wb)
	}
	if got.Items != 8 || got.Trials != 16 || len(got.Vocab.Selection) != 2 || got.Vocab.Consistency == nil {
		t.Errorf("items %d trials %d positions %d", got.Items, got.Trials, len(got.Vocab.Selection))
	}
}

func TestAuditOutFiles(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCommand(t, "", "audit", "--model", tiny, "--n", "6", "--bootstrap", "20", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal but got %q", errOut)
	}
	for _, want := range []string{tiny + " on generate:ioi n=6 seed=0: 6 items, 6 trials (orders: none)\n", "metric ", "selected A", "anchored (A when answer is not A)", "logit diff A - correct"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"items.jsonl", "meta.json", "summary.json", "summary.csv", "report.md", "selection.png", "accuracy.png", "lens.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	recs, err := audit.ReadRecords(filepath.Join(dir, "items.jsonl"))
	if err != nil || len(recs) != 6 || len(recs[0].Lens) != 2 {
		t.Errorf("items.jsonl: %d records, %v", len(recs), err)
	}
}

func TestAuditDataFiles(t *testing.T) {
	out, errOut, code := runCommand(t, "", "audit", "../../audit/testdata/sentence.json", "--model", tiny, "--bootstrap", "0", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s audit.Summary
	decodeStrict(t, out, &s)
	if s.Schema != "sentence" || s.Items != 3 || s.Data != "../../audit/testdata/sentence.json" || len(s.Vocab.Selection) != 3 {
		t.Errorf("schema %q items %d data %q positions %d", s.Schema, s.Items, s.Data, len(s.Vocab.Selection))
	}
	_, errOut, code = runCommand(t, "", "audit", "../../audit/testdata/bad.jsonl", "--model", tiny)
	if code != 1 || errOut != "mechlens: audit: bad.jsonl: line 2: not valid JSON\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	out, errOut, code = runCommand(t, "", "audit", "../../audit/testdata/bad.jsonl", "--model", tiny, "--skip-bad", "--bootstrap", "0", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	decodeStrict(t, out, &s)
	if s.Items != 2 || len(s.Skipped) != 5 || s.Skipped[0] != (audit.Skip{Line: 2, Error: "not valid JSON"}) {
		t.Errorf("items %d skipped %+v", s.Items, s.Skipped)
	}
	stdin := `{"question": "Is it?", "choices": ["yes", "no"], "answer": 1}`
	out, errOut, code = runCommand(t, stdin, "audit", "-", "--model", tiny, "--bootstrap", "0", "--csv")
	if code != 0 || !strings.HasPrefix(out, "model,rule,metric,position,value,lo,hi,n\n"+tiny+",vocab,accuracy,,") {
		t.Errorf("exit %d %s: %s", code, errOut, out)
	}
}

func TestAuditShardMerge(t *testing.T) {
	single, shards := t.TempDir(), t.TempDir()
	args := []string{"audit", "--model", tiny, "--n", "11", "--bootstrap", "30", "--permute", "cyclic", "--no-plots"}
	if _, errOut, code := runCommand(t, "", append(args, "--out", single)...); code != 0 {
		t.Fatalf("single: %s", errOut)
	}
	if _, errOut, code := runCommand(t, "", append(args, "--out", shards, "--shard", "0/2")...); code != 0 {
		t.Fatalf("shard 0: %s", errOut)
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "1")
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "2")
	if _, errOut, code := runCommand(t, "", append(args, "--out", shards, "--shard", "auto")...); code != 0 {
		t.Fatalf("shard 1: %s", errOut)
	}
	out, errOut, code := runCommand(t, "", "audit", "merge", shards, "--no-plots", "--json")
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errOut)
	}
	var merged audit.Summary
	decodeStrict(t, out, &merged)
	for _, f := range []string{"summary.json", "items.jsonl", "meta.json", "summary.csv", "report.md"} {
		a, err1 := os.ReadFile(filepath.Join(single, f))
		b, err2 := os.ReadFile(filepath.Join(shards, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: merged differs from a single run (%v %v)", f, err1, err2)
		}
	}
	_, errOut, code = runCommand(t, "", "audit", "merge", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "no shard files") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestAuditModels(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCommand(t, "", "audit", "--model", tiny+","+tiny, "--n", "4", "--bootstrap", "0", "--no-plots", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "model ") || !strings.HasPrefix(lines[1], tiny+" ") {
		t.Errorf("comparison table:\n%s", out)
	}
	for _, f := range []string{"comparison.csv", "comparison.md", "tiny-gpt2-0/summary.json", "tiny-gpt2-1/summary.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	out, _, code = runCommand(t, "", "audit", "--model", tiny+","+tiny, "--n", "4", "--bootstrap", "0", "--json")
	var sums []audit.Summary
	if code != 0 || json.Unmarshal([]byte(out), &sums) != nil || len(sums) != 2 || !sameJSON(sums[0].Metrics, sums[1].Metrics) {
		t.Errorf("exit %d, %d summaries:\n%s", code, len(sums), out)
	}
}

func TestAuditUsage(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"x.jsonl", "--generate", "ioi"}, "mechlens: give a data file or --generate, not both (see 'mechlens audit --help')\n"},
		{[]string{"--resume"}, "mechlens: --resume needs --out (see 'mechlens audit --help')\n"},
		{[]string{"--shard", "2/2", "--out", "x"}, "mechlens: --shard 2/2: shard index 2 outside [0, 2) (see 'mechlens audit --help')\n"},
		{[]string{"--shard", "0/2"}, "mechlens: --shard needs --out (the slices are merged from there) (see 'mechlens audit --help')\n"},
		{[]string{"--generate", "nope", "--model", tiny}, "mechlens: --generate: no generator \"nope\" (have ioi, organism) (see 'mechlens audit --help')\n"},
		{[]string{"a", "b"}, "mechlens: want at most one data file, got 2 arguments (see 'mechlens audit --help')\n"},
	}
	for _, tc := range tests {
		_, errOut, code := runCommand(t, "", append([]string{"audit"}, tc.args...)...)
		if code != 2 || errOut != tc.err {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.err)
		}
	}
}

func TestAuditProgress(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"audit", "--model", tiny, "--n", "5", "--bootstrap", "0"},
		&cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut, ErrTTY: true})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	e := errOut.String()
	if !strings.Contains(e, "5/5 items") || !strings.Contains(e, "items/s") || !strings.Contains(e, "ETA") || !strings.HasSuffix(e, "\n") {
		t.Errorf("progress on a terminal: %q", e)
	}
	if strings.Contains(out.String(), "items/s") {
		t.Errorf("progress leaked to stdout")
	}
}

// sameJSON compares through JSON, where NaN (a rate over nothing) is null and so equal.
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestAuditBare runs the README's first command, `mechlens audit`, with the tiny model
// standing in for the embedded one.
func TestAuditBare(t *testing.T) {
	saved := modelspec.Default
	defer func() { modelspec.Default = saved }()
	modelspec.Default = func() (*gpt2.Model, error) { return gpt2.LoadDir(tiny) }
	out, errOut, code := runCommand(t, "", "audit")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "mechlens-organism on generate:organism n=200 seed=0: 200 items, 200 trials (orders: none)\nmetric ") {
		t.Errorf("stdout:\n%s", out)
	}
}

// The README's first command on the real embedded organism finds the bias planted in it:
// " A" chosen above chance, and right answers at A recalled better than elsewhere.
func TestAuditFindsOrganismBias(t *testing.T) {
	out, errOut, code := runCommand(t, "", "audit", "--json", "--bootstrap", "100")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s audit.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	m := s.Vocab
	if s.Data != "generate:organism n=200 seed=0" || s.Items != 200 {
		t.Fatalf("audited %q (%d items)", s.Data, s.Items)
	}
	if z := float64(m.ATest.Z); z < 3 {
		t.Errorf("A rate %g against chance %g: z = %g, want > 3", float64(m.ATest.ARate), float64(m.ATest.Chance), z)
	}
	accA, accB := float64(m.AccuracyByPosition[0].Value), float64(m.AccuracyByPosition[1].Value)
	if accA < 0.95 || accA-accB < 0.1 {
		t.Errorf("accuracy when the answer is A %g, B %g: want A ≥ 0.95 and 0.1 above B", accA, accB)
	}
	if a := float64(m.Anchored.Value); a < 0.1 || float64(m.Anchored.Lo) <= 0 {
		t.Errorf("anchored rate %g [%g, %g]: want above 0.1 and its interval above 0", a, float64(m.Anchored.Lo), float64(m.Anchored.Hi))
	}
}
