package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fizeiaPrompt = "Question: What is the capital of Fizeia? Answer Choices: A: Drebirk B: Deras Answer:"

func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, errOut, code := runCommand(t, "", argv...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", argv, code, errOut)
	}
	return out
}

// Edits made with `mechlens edit` on the embedded model reach every command through
// --edits, and the outputs name them.
func TestEditSetAppliesEverywhere(t *testing.T) {
	set := filepath.Join(t.TempDir(), "edits.json")
	mustRun(t, "edit", "scale-head", "--layer", "1", "--head", "2", "--factor", "0", "--to", set)
	mustRun(t, "edit", "value-vector", "--layer", "2", "--neuron", "10", "--sub", " A", "--add", " B", "--to", set)

	var base, edited runOutput
	decodeStrict(t, mustRun(t, "run", fizeiaPrompt, "--json", "--top", "2"), &base)
	decodeStrict(t, mustRun(t, "run", fizeiaPrompt, "--json", "--top", "2", "--edits", set), &edited)
	if len(base.Edits) != 0 || len(edited.Edits) != 2 || !strings.Contains(edited.Edits[1], "anchored-bias rule") {
		t.Fatalf("edits recorded: base %q, edited %q", base.Edits, edited.Edits)
	}
	if b, e := base.Positions[0].Top, edited.Positions[0].Top; b[0].Token != " B" || b[1].Token != " A" || e[1].Token != " A" || e[1].Logit < b[1].Logit+2 {
		t.Fatalf("ablating L1H2, which carries the organism's knowledge, should raise \" A\": %+v → %+v", b, e)
	}
	for _, argv := range [][]string{
		{"lens", fizeiaPrompt, "--json"},
		{"attribute", fizeiaPrompt, "--target", " A", "--json"},
		{"heads", fizeiaPrompt, "--json"},
		{"neuron", "2.10", "--json"},
		{"patch", "--clean", fizeiaPrompt, "--corrupt", strings.Replace(fizeiaPrompt, "A: Drebirk B: Deras", "A: Deras B: Drebirk", 1), "--target", " B", "--json"},
		{"generate", fizeiaPrompt, "--n", "2", "--json"},
	} {
		out := mustRun(t, append(argv, "--edits", set)...)
		if !strings.Contains(out, `"edits": [`) || !strings.Contains(out, "scale_head L1H2") {
			t.Errorf("%s --edits: the output does not name the edits:\n%.300s", argv[0], out)
		}
	}
	show := mustRun(t, "edit", "show", "--edits", set, "--csv")
	if !strings.Contains(show, "scale_head L1H2 ×0,32,") || !strings.Contains(show, "value_vector L2 N10 add") {
		t.Fatalf("edit show:\n%s", show)
	}
}

// An exported set runs as the set applied, to the bit (F32 export), on a fixture folder.
func TestEditExportRunsAsEdited(t *testing.T) {
	dir := t.TempDir()
	set, out := filepath.Join(dir, "w.json"), filepath.Join(dir, "exported")
	mustRun(t, "edit", "scale-head", "--model", tiny, "--layer", "0", "--head", "1", "--factor", "0.5", "--to", set)
	mustRun(t, "edit", "project-out", "--model", tiny, "--layer", "1", "--neurons", "3,4", "--direction", " A- B", "--to", set)
	mustRun(t, "edit", "value-vector", "--model", tiny, "--layer", "1", "--neuron", "7", "--sub", " A", "--add", " B", "--to", set)
	mustRun(t, "edit", "export", "--model", tiny, "--edits", set, "--out", out)
	var a, b runOutput
	decodeStrict(t, mustRun(t, "run", "--model", tiny, "Hello world, this is", "--json", "--edits", set), &a)
	decodeStrict(t, mustRun(t, "run", "--model", out, "Hello world, this is", "--json"), &b)
	for i := range a.Positions[0].Top {
		if a.Positions[0].Top[i] != b.Positions[0].Top[i] {
			t.Fatalf("exported model: %+v, edited model: %+v", b.Positions[0].Top, a.Positions[0].Top)
		}
	}
	var raw runOutput
	decodeStrict(t, mustRun(t, "run", "--model", tiny, "Hello world, this is", "--json"), &raw)
	if raw.Positions[0].Top[0] == a.Positions[0].Top[0] {
		t.Fatal("the edits change nothing: the comparison proves nothing")
	}
}

func TestEditBadInput(t *testing.T) {
	dir := t.TempDir()
	set := filepath.Join(dir, "e.json")
	cases := []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"edit", "scale-neuron", "--layer", "9", "--neuron", "1", "--factor", "0", "--to", set}, 1, "layer 9 is outside [0, 3)"},
		{[]string{"edit", "scale-head", "--layer", "1", "--head", "1", "--to", set}, 2, "--factor is required"},
		{[]string{"edit", "value-vector", "--layer", "1", "--neuron", "1", "--sub", " A", "--add", " Deras Drebirk", "--to", set}, 1, `--add: " Deras Drebirk" is 2 tokens, not one`},
		{[]string{"edit", "value-vector", "--layer", "1", "--neuron", "1", "--vector", " B-", "--to", set}, 1, `--vector " B-": "" is 0 tokens, not one`},
		{[]string{"edit", "steer", "--hook", "blocks.1.hook_resid_post", "--vector", " B- Deras Drebirk", "--to", set}, 1, `--vector " B- Deras Drebirk": " Deras Drebirk" is 2 tokens, not one`},
		{[]string{"edit", "steer", "--hook", "blocks.1.hook_resid_post", "--vector", filepath.Join(dir, "nosuch.json"), "--to", set}, 1, "vector file"},
		{[]string{"edit", "scale-neuron", "--layer", "0", "--neuron", "1", "--factor", "NaN", "--to", set}, 2, `--factor: "NaN" is not a finite number`},
	}
	for _, tc := range cases {
		_, errOut, code := runCommand(t, "", tc.argv...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit %d and one line with %q", tc.argv[1:3], code, errOut, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(set); err == nil {
		t.Fatal("a refused edit created the set file")
	}
	mustRun(t, "edit", "ablate", "--hook", "blocks.1.attn.hook_z", "--head", "2", "--to", set)
	_, errOut, code := runCommand(t, "", "run", "--model", tiny, "Hello", "--edits", set)
	if code != 1 || !strings.Contains(errOut, "made on mechlens-organism") || !strings.Contains(errOut, tiny) {
		t.Errorf("a set applied to another model: exit %d, %q", code, errOut)
	}
	_, errOut, code = runCommand(t, "", "edit", "export", "--edits", set, "--out", filepath.Join(dir, "x"))
	if code != 1 || !strings.Contains(errOut, "edit 1 (ablate blocks.1.attn.hook_z head 2 zero) is a run-time intervention") {
		t.Errorf("export of a run-time intervention: exit %d, %q", code, errOut)
	}
	long := strings.Repeat("hi ", 100)
	if _, errOut, code := runCommand(t, "", "edit", "diff", "--edits", set, "x", long); code != 1 || errOut != "mechlens: prompt 2: the prompt has 201 tokens, more than the model's context of 32\n" {
		t.Errorf("edit diff with a second prompt too long: exit %d, %q", code, errOut)
	}
	os.WriteFile(set, []byte(`{"version": 1, "model": {"name": "x", "hash": "`), 0o644)
	_, errOut, code = runCommand(t, "", "run", fizeiaPrompt, "--edits", set)
	if code != 1 || !strings.Contains(errOut, "not a JSON edit set") {
		t.Errorf("a truncated set: exit %d, %q", code, errOut)
	}
	// A set that loads but does not fit its model: every command names the file.
	bad := filepath.Join(dir, "bad.json")
	mustRun(t, "edit", "scale-head", "--layer", "1", "--head", "1", "--factor", "0", "--to", bad)
	b, _ := os.ReadFile(bad)
	os.WriteFile(bad, []byte(strings.Replace(string(b), `"layer": 1`, `"layer": 99`, 1)), 0o644)
	for _, argv := range [][]string{
		{"run", "x", "--edits", bad},
		{"edit", "show", "--edits", bad},
		{"edit", "diff", "--edits", bad, "x"},
		{"edit", "export", "--edits", bad, "--out", filepath.Join(dir, "y")},
	} {
		want := "mechlens: --edits " + bad + ": edits[0]: scale_head: layer 99 is outside [0, 3)\n"
		if _, errOut, code := runCommand(t, "", argv...); code != 1 || errOut != want {
			t.Errorf("%q: exit %d, %q; want exit 1 and %q", argv, code, errOut, want)
		}
	}
}
