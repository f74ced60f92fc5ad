package main

import (
	"math"
	"strings"
	"testing"
)

type jPatchOutput struct {
	Model         string   `json:"model"`
	Processing    []string `json:"processing"`
	Edits         []string `json:"edits"`
	CleanTokens   []jToken `json:"clean_tokens"`
	CorruptTokens []jToken `json:"corrupt_tokens"`
	Target        jToken   `json:"target"`
	Baseline      *jToken  `json:"baseline"`
	Clean         float64  `json:"clean"`
	Corrupt       float64  `json:"corrupt"`
	Sites         []struct {
		Site      string  `json:"site"`
		Layer     int     `json:"layer"`
		Pos       int     `json:"pos"`
		Head      int     `json:"head"`
		Patched   float64 `json:"patched"`
		Recovered float64 `json:"recovered"`
	} `json:"sites"`
}

func TestPatchCommand(t *testing.T) {
	corrupt := strings.Replace(mcqPrompt, "A: Lindsey", "A: Kristen", 1)
	out, errOut, code := runCommand(t, "", "patch", "--model", tiny, "--clean", mcqPrompt, "--corrupt", corrupt,
		"--target", " A", "--baseline", " B", "--sites", "resid,mlp", "--pos", "26,27", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got jPatchOutput
	decodeStrict(t, out, &got)
	if got.Target.Text != " A" || got.Baseline == nil || got.Baseline.Text != " B" || len(got.Processing) != 3 ||
		got.CleanTokens[27].Text != " Lindsey" || got.CorruptTokens[27].Text != " Kristen" || got.Clean == got.Corrupt {
		t.Fatalf("header %+v", got)
	}
	want := []string{"resid_pre/0/26", "resid_pre/0/27", "mlp/0/-1", "resid_pre/1/26", "resid_pre/1/27", "mlp/1/-1"}
	if len(got.Sites) != len(want) {
		t.Fatalf("%d sites, want %d", len(got.Sites), len(want))
	}
	for i, s := range got.Sites {
		if id := s.Site + "/" + itoa(s.Layer) + "/" + itoa(s.Pos); id != want[i] {
			t.Errorf("site %d is %s, want %s", i, id, want[i])
		}
	}
	// Patching the one corrupted token at block 0 restores the clean run; the position
	// before it changes nothing.
	if s := got.Sites[1]; math.Abs(s.Recovered-1) > 1e-9 || math.Abs(s.Patched-got.Clean) > 1e-9 {
		t.Errorf("patching the corrupted token: %+v, clean %g", s, got.Clean)
	}
	if s := got.Sites[0]; s.Recovered != 0 {
		t.Errorf("patching an unchanged position: %+v", s)
	}
	table, errOut, code := runCommand(t, "", "patch", "--model", tiny, "--clean", mcqPrompt, "--corrupt", corrupt, "--target", " A", "--sites", "heads")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 1+8+1 || !strings.HasPrefix(lines[0], "site  layer  pos  clean token  corrupt token  head") || !strings.HasPrefix(lines[1], "head") ||
		!strings.HasPrefix(lines[9], "metric at the last position: clean ") {
		t.Errorf("table:\n%s", table)
	}
	wantExit(t, 1, "lens: the clean prompt has 33 tokens and the corrupted one 2: patching needs the same number",
		"patch", "--model", tiny, "--clean", mcqPrompt, "--corrupt", "Hello world", "--target", " A")
	wantExit(t, 2, "give --clean or --clean-ids, and --corrupt or --corrupt-ids", "patch", "--model", tiny, "--clean", "x", "--target", " A")
	wantExit(t, 2, "--target is required", "patch", "--model", tiny, "--clean", "x", "--corrupt", "y")
	wantExit(t, 2, `--sites: "attn" is not resid, heads or mlp`, "patch", "--model", tiny, "--clean", "x", "--corrupt", "y", "--target", " A", "--sites", "attn")
	wantExit(t, 2, `--target: tokenizer: " A B" is 2 tokens`, "patch", "--model", tiny, "--clean", "x", "--corrupt", "y", "--target", " A B")
	wantExit(t, 1, "mechlens: corrupted prompt: the prompt has 200 tokens, more than the model's context of 128",
		"patch", "--model", tiny, "--clean", "x", "--corrupt", strings.TrimSpace(strings.Repeat("word ", 200)), "--target", " A")
	wantExit(t, 1, "lens: the clean and corrupted prompts give the same metric",
		"patch", "--model", tiny, "--clean-ids", "1,2", "--corrupt-ids", "1,2", "--target", " A", "--baseline", " B")
}
