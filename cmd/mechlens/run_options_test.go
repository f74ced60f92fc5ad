package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/internal/cli"
)

// Each command is its flags bound to an options struct and a run function; these tests call
// the run functions as the TUI or a Go caller would, with options written by hand.

// testModelFlags are the model flags of a command line giving only --model spec (the
// defaults of every other model flag, processing process).
func testModelFlags(spec, process string) modelFlags {
	mf := addModelFlags(cli.NewCommand("test", "test", "test"), process)
	mf.spec = spec
	return *mf
}

// runTo calls a run function with a fresh IO and returns what it printed.
func runTo(t *testing.T, run func(io *cli.IO) error) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(&cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut}); err != nil {
		t.Fatalf("%v (stderr %q)", err, errOut.String())
	}
	return out.String()
}

func TestRunAuditEqualsCLI(t *testing.T) {
	o := auditOptions{model: testModelFlags("", analysisProcessing), n: 6, bootstrap: 20,
		permute: audit.PermuteCyclic, letters: audit.DefaultStyle, bos: true, format: cli.JSON}
	got := runTo(t, func(io *cli.IO) error { return runAudit(context.Background(), io, o) })
	want, errOut, code := runCommand(t, "", "audit", "--n", "6", "--bootstrap", "20", "--permute", "cyclic", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got != want {
		t.Errorf("runAudit printed\n%s\nthe CLI\n%s", got, want)
	}
	var s audit.Summary
	decodeStrict(t, got, &s)
	if s.Model != "mechlens-organism" || s.Items != 6 || s.Trials < 12 || !strings.HasPrefix(s.Data, "generate:") {
		t.Errorf("model %q data %q: %d items, %d trials", s.Model, s.Data, s.Items, s.Trials)
	}
	o.resume = true
	if err := runAudit(context.Background(), &cli.IO{}, o); err == nil || err.Error() != "--resume needs --out" {
		t.Errorf("--resume without --out: %v", err)
	}
}
