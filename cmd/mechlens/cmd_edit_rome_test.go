package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFactEditingCLI: toy requests, a ROME edit from them, its evaluation, and the
// one-line errors that write nothing.
func TestFactEditingCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	reqs := filepath.Join(dir, "r.jsonl")
	out, errOut, code := runCommand(t, "", "toy", "requests", "--out", reqs, "--attrs", "capital")
	if code != 0 || out != "wrote 40 requests to "+reqs+"\n" {
		t.Fatalf("toy requests: exit %d, %q %q", code, out, errOut)
	}
	data, err := os.ReadFile(reqs)
	if err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.jsonl")
	if err := os.WriteFile(one, []byte(strings.SplitAfter(string(data), "\n")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	set := filepath.Join(dir, "e.json")
	_, errOut, code = runCommand(t, "", "edit", "rome", "--requests", one, "--no-cov", "--steps", "8", "--to", set)
	if code != 0 {
		t.Fatalf("edit rome: exit %d: %s", code, errOut)
	}
	out, errOut, code = runCommand(t, "", "edit", "eval", "--edits", set, "--requests", one, "--each", "--json")
	if code != 0 {
		t.Fatalf("edit eval: exit %d: %s", code, errOut)
	}
	var rep struct {
		Before, After struct {
			Efficacy struct{ Success float64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Before.Efficacy.Success != 0 || rep.After.Efficacy.Success != 1 {
		t.Errorf("efficacy %g before, %g after; want 0 and 1", rep.Before.Efficacy.Success, rep.After.Efficacy.Success)
	}
	bad := filepath.Join(dir, "bad.json")
	for _, tc := range []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"causal-trace", "The capital of Fizeia is", "--subject", "Nowhere"}, 1, `lens: the subject "Nowhere" is not in the prompt "The capital of Fizeia is"`},
		{[]string{"causal-trace", "The capital of Fizeia is", "--subject", "Fizeia", "--kind", "heads"}, 2, `--kind`},
		{[]string{"edit", "stats", "--layer", "0", "--stats", filepath.Join(set, "sub", "s.safetensors")}, 1, "--stats " + filepath.Join(set, "sub") + ": " + set + " is a file, not a folder"},
		{[]string{"causal-trace", "The capital of Fizeia is", "--subject", "Fizeia", "--model", "../../testdata/tiny-gpt2-small-vocab"}, 1, `lens: this model has no tokenizer to find the subject "Fizeia"`},
		{[]string{"edit", "rome", "--prompt", "The capital of is", "--subject", "Fizeia", "--target", " Deras", "--to", bad}, 2, "has no {} for the subject"},
		{[]string{"edit", "rome", "--prompt", "The capital of {} is", "--subject", "Fizeia", "--target", " Deras", "--stats", filepath.Join(dir, "none.safetensors"), "--data", filepath.Join(dir, "none.txt"), "--to", bad}, 1, "no such file"},
		{[]string{"edit", "memit", "--requests", reqs, "--layers", "7", "--to", bad}, 2, "--layers: layer 7 outside 0..2"},
		{[]string{"edit", "rome", "--requests", one, "--no-cov", "--u-key", "mean", "--to", bad}, 2, `--u-key "mean": want prefixes or bare`},
		{[]string{"edit", "memit", "--requests", one, "--no-cov", "--prefix-keys", "--u-key", "bare", "--to", bad}, 2, "--prefix-keys solves u for the averaged key: it takes no --u-key bare"},
		{[]string{"edit", "eval", "--edits", set, "--requests", reqs, "--each"}, 1, "--each: " + set + " has 1 edits for 40 requests"},
	} {
		_, errOut, code := runCommand(t, "", tc.argv...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.argv, code, errOut, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a failed edit command wrote its --to file")
	}
}
