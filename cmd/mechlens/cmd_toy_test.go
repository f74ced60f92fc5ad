package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestToyData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "heldout")
	out, errOut, code := runCommand(t, "", "toy", "data", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "wrote 2600 multiple-choice items and 1800 fact prompts to " + dir + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	for name, lines := range map[string]int{"mcq.jsonl": 2600, "facts.jsonl": 1800} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(data), "\n"); n != lines {
			t.Errorf("%s has %d lines, want %d", name, n, lines)
		}
	}
}

func TestToyUsage(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"toy"}, "toy: name a subcommand: train, data or requests"},
		{[]string{"toy", "train"}, "toy train: --out DIR is required"},
		{[]string{"toy", "train", "--out", "x", "--steps", "0"}, `--steps: "0" is not an integer ≥ 1`},
		{[]string{"toy", "data", "extra", "--out", "x"}, `toy data takes no arguments, got "extra"`},
	} {
		_, errOut, code := runCommand(t, "", tc.argv...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.argv, code, errOut, tc.want)
		}
	}
}
