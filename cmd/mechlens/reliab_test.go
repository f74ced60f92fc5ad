package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/internal/modelspec"
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
	m, err := modelspec.Default()
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
	} {
		wantExit(t, 2, tc.want, tc.argv...)
	}
}

// generate stops at the end of the context instead of failing, and --csv writes CSV.
func TestGenerateUpToContext(t *testing.T) {
	m, err := modelspec.Default()
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
	} {
		wantExit(t, 1, tc.want, tc.argv...)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the file was changed: %q", b)
	}
}
