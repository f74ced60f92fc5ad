package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runIDs returns the prompt ids that run --json reports for argv (after "run").
func runIDs(t *testing.T, stdin string, argv ...string) []int {
	t.Helper()
	out, errOut, code := runCommand(t, stdin, append([]string{"run", "--json", "--top", "1"}, argv...)...)
	if code != 0 {
		t.Fatalf("%q: exit %d: %s", argv, code, errOut)
	}
	var got runOutput
	decodeStrict(t, out, &got)
	return got.IDs
}

// A prompt on standard input ends with the newline echo adds; it is not part of the prompt.
func TestStdinPromptLosesOneNewline(t *testing.T) {
	arg := runIDs(t, "", "--model", tiny, "Hello world")
	for _, in := range []string{"Hello world\n", "Hello world\r\n"} {
		if got := runIDs(t, in, "--model", tiny, "-"); !slices.Equal(got, arg) {
			t.Errorf("stdin %q: ids %v, want %v as the argument gives", in, got, arg)
		}
	}
	if got := runIDs(t, "Hello world\n\n", "--model", tiny, "-"); len(got) != len(arg)+1 {
		t.Errorf("only one newline is stripped: ids %v", got)
	}
}

// --bos follows one rule in every command, and naming the embedded model is omitting --model.
func TestBOSRule(t *testing.T) {
	m, err := embedded()
	if err != nil {
		t.Fatal(err)
	}
	eot := m.Tokenizer.EOT()
	implicit := runIDs(t, "", "Hello")
	named := runIDs(t, "", "--model", "mechlens-organism", "Hello")
	if !slices.Equal(implicit, named) || implicit[0] != eot {
		t.Errorf("embedded model ids %v, named %v: both must start with <|endoftext|>", implicit, named)
	}
	if ids := runIDs(t, "", "Hello", "--bos=false"); ids[0] == eot {
		t.Errorf("--bos=false kept <|endoftext|>: %v", ids)
	}
	out, errOut, code := runCommand(t, "", "patch", "--clean-ids", "5,6", "--corrupt-ids", "5,7", "--target", " A", "--sites", "mlp", "--json")
	if code != 0 {
		t.Fatalf("patch: exit %d: %s", code, errOut)
	}
	var p jPatchOutput
	decodeStrict(t, out, &p)
	if len(p.CleanTokens) != 3 || p.CleanTokens[0].ID != eot || p.CorruptTokens[0].ID != eot {
		t.Errorf("patch on the embedded model: tokens %v, %v lack <|endoftext|>", p.CleanTokens, p.CorruptTokens)
	}
}

// Every flag type refuses bad values the same way: exit 2, one line naming the flag.
func TestFlagValidation(t *testing.T) {
	for _, tc := range []struct {
		want string
		argv []string
	}{
		{`--threads: "-1" is not an integer in [0, `, []string{"run", "--model", tiny, "x", "--threads", "-1"}},
		{`--threads: "99999999" is not an integer in [0, `, []string{"run", "--model", tiny, "x", "--threads", "99999999"}},
		{`--temperature: "NaN" is not a finite number ≥ 0`, []string{"generate", "--model", tiny, "x", "--temperature", "NaN"}},
		{`--top-p: "1.5" is not a number in [0, 1]`, []string{"generate", "--model", tiny, "x", "--top-p", "1.5"}},
		{`--gap: "NaN" is not a finite number`, []string{"neurons", "--model", tiny, "x", "--correct", " B", "--gap", "NaN"}},
		{`--eval-every: "-1" is not an integer ≥ 0`, []string{"toy", "train", "--out", "x", "--eval-every", "-1"}},
		{`--top: "0" is not an integer ≥ 1`, []string{"run", "--model", tiny, "x", "--top", "0"}},
		{`--top: "0" is not an integer ≥ 1`, []string{"lens", "--model", tiny, "x", "--top", "0"}},
		{`--top: "0" is not an integer ≥ 1`, []string{"attribute", "--model", tiny, "x", "--target", " A", "--top", "0"}},
		{`--target: "" is empty`, []string{"lens", "--model", tiny, "x", "--target", ""}},
		{`--hooks: "" has an empty item`, []string{"trace", "--model", tiny, "x", "--out", "x.safetensors", "--hooks", ""}},
		{`--permute: "sometimes" is not none, cyclic or all`, []string{"audit", "--model", tiny, "--permute", "sometimes"}},
		{`letter style "xyz" must contain the letter A exactly once`, []string{"audit", "--model", tiny, "--letters", "xyz"}},
		{`--labels: "A,,B" has an empty item`, []string{"audit", "--model", tiny, "--labels", "A,,B"}},
		{`--process: "fold_everything" is not none, fold_ln,`, []string{"lens", "--model", tiny, "x", "--process", "fold_everything"}},
		{`--color: "sometimes" is not auto, always or never`, []string{"lens", "--model", tiny, "x", "--color", "sometimes"}},
		{`--runs: "0" is not an integer ≥ 1`, []string{"bench", "--runs", "0"}},
		{`--n 1000001: --generate makes at most 1000000 items`, []string{"audit", "--n", "1000001"}},
		{`--n 999999999: --generate makes at most 1000000 items`, []string{"trace-bias", "--n", "999999999"}},
		{`--n 999999999: --generate makes at most 1000000 items`, []string{"neutralize", "--n", "999999999", "--out", "x"}},
		{`--model: "` + tiny + `," has an empty item`, []string{"audit", "--model", tiny + ",", "--n", "4"}},
		{`--model: "mechlens-organism, ,` + tiny + `" has an empty item`, []string{"audit", "--model", "mechlens-organism, ," + tiny, "--n", "4"}},
		{`--bootstrap: "999999999" is not an integer in [0, 100000]`, []string{"audit", "--n", "4", "--bootstrap", "999999999"}},
		{`--bootstrap: "100001" is not an integer in [0, 100000]`, []string{"neutralize", "--out", "x", "--bootstrap", "100001"}},
		{`--noise "NaN": want a positive number`, []string{"causal-trace", "The capital of Fizeia is", "--subject", "Fizeia", "--noise", "NaN"}},
		{`--ids: "1.5" is not a token id`, []string{"run", "--model", tiny, "--ids", "1.5"}},
		{`--ids: "5x" is not a token id`, []string{"run", "--model", tiny, "--ids", "3,5x"}},
		{`--ids: "1 2" is not a token id`, []string{"run", "--model", tiny, "--ids", "1 2"}},
		{`clean prompt: --clean-ids: "0x1" is not a token id`, []string{"patch", "--model", tiny, "--clean-ids", "0x1", "--corrupt-ids", "1", "--target", " A"}},
		{`corrupted prompt: --corrupt-ids: "y" is not a token id`, []string{"patch", "--model", tiny, "--clean-ids", "1", "--corrupt-ids", "1,y", "--target", " A"}},
	} {
		wantExit(t, 2, tc.want, tc.argv...)
	}
}

// generate stops at the end of the context instead of failing, and --csv writes CSV.
func TestGenerateUpToContext(t *testing.T) {
	m, err := embedded()
	if err != nil {
		t.Fatal(err)
	}
	prompt := make([]string, m.Config.NCtx-3)
	for i := range prompt {
		prompt[i] = "5"
	}
	ids := strings.Join(prompt, ",")
	out, errOut, code := runCommand(t, "", "generate", "--ids", ids, "--bos=false", "--ignore-eot", "--csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != "pos,id,token" || rows[1][0] != fmt.Sprint(m.Config.NCtx-3) {
		t.Errorf("generate --csv near the end of the context: %v %q", err, out)
	}
	wantExit(t, 1, "the prompt fills the model's context of", "generate", "--ids", ids+",5,5,5", "--bos=false")
}

// Output paths are checked before any long work: a file where a folder goes, a folder where
// a file goes, a missing folder.
func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	for _, tc := range []struct {
		want string
		argv []string
	}{
		{"--out " + file + " is a file, not a folder", []string{"toy", "train", "--out", file}},
		{"--out " + file + " is a file, not a folder", []string{"toy", "data", "--out", file}},
		{"--out " + file + " is a file, not a folder", []string{"audit", "--model", tiny, "--out", file}},
		{"--out " + filepath.Join(file, "x") + ": " + file + " is a file, not a folder", []string{"audit", "--model", tiny, "--out", filepath.Join(file, "x")}},
		{"--out " + dir + " is a folder, not a file", []string{"trace", "--model", tiny, "x", "--out", dir}},
		{"--out " + filepath.Join(dir, "no", "t.safetensors") + ": folder " + filepath.Join(dir, "no") + " does not exist", []string{"trace", "--model", tiny, "x", "--out", filepath.Join(dir, "no", "t.safetensors")}},
		{"--to " + dir + " is a folder, not a file", []string{"edit", "scale-head", "--layer", "0", "--head", "0", "--factor", "0", "--to", dir}},
		{"--to " + filepath.Join(dir, "no", "e.json") + ": folder " + filepath.Join(dir, "no") + " does not exist", []string{"edit", "rome", "--prompt", "The capital of {} is", "--subject", "Fizeia", "--target", " Nogax", "--to", filepath.Join(dir, "no", "e.json")}},
		{"--out " + filepath.Join(file, "x") + ": " + file + " is a file, not a folder", []string{"edit", "export", "--edits", file, "--out", filepath.Join(file, "x")}},
		{"--out " + dir + " is a folder, not a file", []string{"toy", "requests", "--out", dir}},
		{"folder " + file + " is a file, not a folder", []string{"audit", "merge", file}},
		{"--png " + dir + " is a folder, not a file", []string{"causal-trace", "The capital of Fizeia is", "--subject", "Fizeia", "--png", dir}},
		{"--png " + filepath.Join(dir, "no", "t.png") + ": folder " + filepath.Join(dir, "no") + " does not exist", []string{"causal-trace", "The capital of Fizeia is", "--subject", "Fizeia", "--png", filepath.Join(dir, "no", "t.png")}},
		{"--session " + filepath.Join(dir, "no", "s.json") + ": folder " + filepath.Join(dir, "no") + " does not exist", []string{"tui", "--session", filepath.Join(dir, "no", "s.json")}},
	} {
		wantExit(t, 1, tc.want, tc.argv...)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the file was changed: %q", b)
	}
	// Linux's /proc exists and refuses new files with "no such file": not a missing folder.
	if st, err := os.Stat("/proc/self"); err == nil && st.IsDir() {
		wantExit(t, 1, "--out /proc/t.safetensors: cannot write in /proc", "trace", "--model", tiny, "x", "--out", "/proc/t.safetensors")
	}
}

// audit and neutralize write report.md and plots into their --out folder: each refuses a
// folder whose files another command wrote, and reruns into its own.
func TestOutputFolderOfAnotherCommand(t *testing.T) {
	dir := t.TempDir()
	byAudit, byNeutralize, byUser := filepath.Join(dir, "audit"), filepath.Join(dir, "fix"), filepath.Join(dir, "notes")
	for _, d := range []string{byNeutralize, byUser} {
		os.MkdirAll(d, 0o755)
	}
	// What neutralize leaves (its report and its fit split), and a user's own report.
	os.WriteFile(filepath.Join(byNeutralize, "fit.jsonl"), nil, 0o644)
	os.WriteFile(filepath.Join(byNeutralize, "report.md"), []byte("neutralize"), 0o644)
	os.WriteFile(filepath.Join(byUser, "report.md"), []byte("mine"), 0o644)
	for range 2 {
		if _, errOut, code := runCommand(t, "", "audit", "--n", "12", "--no-plots", "--bootstrap", "0", "--out", byAudit); code != 0 {
			t.Fatalf("audit into its own folder: exit %d: %s", code, errOut)
		}
	}
	for _, tc := range []struct{ at, file string }{{byNeutralize, "report.md"}, {byUser, "report.md"}} {
		wantExit(t, 1, "--out "+tc.at+" already holds "+tc.file+", which another command wrote", "audit", "--n", "12", "--out", tc.at)
	}
	wantExit(t, 1, "--out "+byAudit+" already holds report.md, which another command wrote", "neutralize", "--n", "30", "--out", byAudit)
	wantExit(t, 1, "--out "+byUser+" already holds report.md, which another command wrote", "neutralize", "--n", "30", "--out", byUser)
	for d, want := range map[string]string{byNeutralize: "neutralize", byUser: "mine"} {
		if b, _ := os.ReadFile(filepath.Join(d, "report.md")); string(b) != want {
			t.Errorf("%s/report.md became %q", d, b)
		}
	}
}

// Every --csv is RFC 4180 with one header of unique names, the same number of cells in
// every row, tokens as they are (not Go-quoted), neuron ids a reader keeps apart, and every
// digit of the numbers.
func TestCSVEverywhere(t *testing.T) {
	dir := t.TempDir()
	for _, argv := range [][]string{
		{"run", "--model", tiny, "Hello world", "--all"},
		{"generate", "--model", tiny, "Hello world", "--n", "3"},
		{"tokenize", "--model", tiny, "Hello\nworld"},
		{"lens", "--model", tiny, mcqPrompt, "--pos", "all", "--target", " A", "--target", " B"},
		{"attribute", "--model", tiny, mcqPrompt, "--target", " A"},
		{"attribute", "--model", tiny, mcqPrompt, "--target", " A", "--neurons", "all"},
		{"neuron", "--model", tiny, "1.5"},
		{"neurons", "--model", tiny, "--promote", " A"},
		{"neurons", "--model", tiny, mcqPrompt, "--correct", " B", "--gap", "0"},
		{"heads", "--model", tiny, mcqPrompt},
		{"patch", "--model", tiny, "--clean-ids", "1,2,3", "--corrupt-ids", "1,5,3", "--target", " A"},
		{"info", "--model", tiny},
		{"trace", "--model", tiny, "Hello", "--out", filepath.Join(dir, "t.safetensors"), "--hooks", "hook_embed"},
		{"audit", "--model", tiny, "--generate", "ioi", "--n", "4", "--bootstrap", "10"},
	} {
		out, errOut, code := runCommand(t, "", append(argv, "--csv")...)
		if code != 0 {
			t.Errorf("%q: exit %d: %s", argv, code, errOut)
			continue
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Errorf("%q: not CSV with rows: %v\n%s", argv, err, out)
			continue
		}
		seen := map[string]bool{}
		for _, h := range rows[0] {
			if seen[h] {
				t.Errorf("%q: column %q twice in %q", argv, h, rows[0])
			}
			seen[h] = true
		}
		for _, row := range rows[1:] {
			for _, cell := range row {
				if len(cell) > 1 && cell[0] == '"' && cell[len(cell)-1] == '"' {
					t.Errorf("%q: Go-quoted cell %s", argv, cell)
				}
			}
		}
	}
	// Full precision: the CSV probability is the JSON one, digit for digit.
	csvOut, _, _ := runCommand(t, "", "run", "--model", tiny, "Hello world", "--top", "1", "--csv")
	jsonOut, _, _ := runCommand(t, "", "run", "--model", tiny, "Hello world", "--top", "1", "--json")
	rows, _ := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	var got runOutput
	decodeStrict(t, jsonOut, &got)
	if want := fmt.Sprint(got.Positions[0].Top[0].Prob); rows[1][6] != want || rows[1][3] != got.Positions[0].Top[0].Token {
		t.Errorf("csv row %q, want prob %s and token %q", rows[1], want, got.Positions[0].Top[0].Token)
	}
	// Neuron ids: L2N220 and L2N22 stay apart where 2.220 and 2.22 would not.
	promo, _, _ := runCommand(t, "", "neurons", "--model", tiny, "--promote", " A", "--csv")
	if rows, _ := csv.NewReader(strings.NewReader(promo)).ReadAll(); !strings.HasPrefix(rows[1][1], "L") || !strings.Contains(rows[1][1], "N") {
		t.Errorf("neuron id in CSV: %q", rows[1])
	}
}

// bench's default --decode-past shrinks to fit a short context; a value given is kept.
func TestBenchDecodePastFitsTheContext(t *testing.T) {
	out, errOut, code := runCommand(t, "", "bench", "--model", "mechlens-organism", "--seq", "4", "--runs", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got benchOutput
	decodeStrict(t, out, &got)
	if last := got.Rows[len(got.Rows)-1]; last.Mode != "decode" || last.Tokens != 31 {
		t.Errorf("decode row %+v, want the step at position 31 of the context of 32", last)
	}
	wantExit(t, 1, "--decode-past 128 leaves no room", "bench", "--model", "mechlens-organism", "--seq", "4", "--runs", "1", "--decode-past", "128")
}

// A --top past the vocabulary lists the whole vocabulary; it is not an allocation size.
func TestRunTopPastTheVocabulary(t *testing.T) {
	out, errOut, code := runCommand(t, "", "run", "--model", tiny, "Hello", "--top", fmt.Sprint(1<<50), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got runOutput
	decodeStrict(t, out, &got)
	if n := len(got.Positions[0].Top); n != 50257 {
		t.Errorf("%d tokens listed, want the vocabulary's 50257", n)
	}
}

// With several models, an audit that fails names the model it failed on.
func TestAuditSeveralModelsNamesTheOneThatFails(t *testing.T) {
	wantExit(t, 1, "mechlens: mechlens-organism: audit: item ioi-0: the prompt has 69 tokens, more than the model's context of 32",
		"audit", "--model", "mechlens-organism,"+tiny, "--n", "4", "--bootstrap", "0")
}

// Every model of an audit is checked before the first is audited.
func TestAuditChecksEveryModelFirst(t *testing.T) {
	dir := t.TempDir()
	wantExit(t, 1, "mechlens: model folder ./nope does not exist", "audit", "--model", tiny+",./nope", "--n", "4", "--bootstrap", "0", "--out", dir)
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the first model was audited: %v", left)
	}
}

// An output never replaces a file the model was loaded from.
func TestTraceKeepsTheCheckpoint(t *testing.T) {
	src := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors", "vocab.json", "merges.txt"} {
		b, err := os.ReadFile(filepath.Join(tiny, name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	before, _ := os.ReadFile(filepath.Join(src, "model.safetensors"))
	out := filepath.Join(src, "model.safetensors")
	wantExit(t, 1, "mechlens: --out "+out+" is a file of the model's folder: write the trace elsewhere", "trace", "--model", src, "x", "--out", out)
	if after, _ := os.ReadFile(out); !slices.Equal(after, before) {
		t.Error("the checkpoint was replaced by the trace")
	}
}
