package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/tensor"
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

func TestRunBench(t *testing.T) {
	o := benchOptions{model: testModelFlags("mechlens-organism", ""), seqs: []string{"1", "4"}, runs: 1, past: 2, pastGiven: true, cache: "all", format: cli.JSON}
	var b benchOutput
	decodeStrict(t, runTo(t, func(io *cli.IO) error { return runBench(context.Background(), io, o) }), &b)
	modes := []string{}
	for _, r := range b.Rows {
		modes = append(modes, fmt.Sprint(r.Tokens, r.Mode))
		if !(r.MedianMS > 0 && r.TokensPS > 0 && r.GFLOPS > 0 && r.Runs == 1) {
			t.Errorf("row %+v has a zero figure", r)
		}
	}
	if got := strings.Join(modes, ","); b.Model != "mechlens-organism" || got != "1forward,1forward+cache,4forward,4forward+cache,3decode" {
		t.Errorf("model %q, rows %s", b.Model, got)
	}
	if b.Kernel != tensor.Kernel() || b.Threads != tensor.Threads() || b.PeakCore <= 0 {
		t.Errorf("header %+v", b)
	}
	// Without pastGiven, --decode-past shrinks to fit the context as the CLI's default does.
	o.seqs, o.cache, o.past, o.pastGiven = []string{"1"}, "", 1<<20, false
	decodeStrict(t, runTo(t, func(io *cli.IO) error { return runBench(context.Background(), io, o) }), &b)
	if last := b.Rows[len(b.Rows)-1]; last.Mode != "decode" || last.Tokens >= 1<<20 {
		t.Errorf("decode row %+v", last)
	}
	o.seqs = []string{"0"}
	if err := runBench(context.Background(), &cli.IO{}, o); err == nil || err.Error() != `--seq: "0" is not a positive length` {
		t.Errorf("--seq 0: %v", err)
	}
}

// runEditEval with the options the CLI would fill prints what `edit eval` prints, and the
// ROME edit it scores works.
func TestRunEditEvalEqualsCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	all, reqs, set := filepath.Join(dir, "all.jsonl"), filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "e.json")
	mustRun(t, "toy", "requests", "--out", all, "--attrs", "capital")
	data, err := os.ReadFile(all)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(reqs, []byte(strings.SplitAfter(string(data), "\n")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "edit", "rome", "--requests", reqs, "--no-cov", "--steps", "8", "--to", set)
	o := editEvalOptions{model: testModelFlags("", analysisProcessing), requests: reqs, each: true, bos: true, format: cli.JSON}
	*o.model.edits = set
	got := runTo(t, func(io *cli.IO) error { return runEditEval(context.Background(), io, o) })
	if want := mustRun(t, "edit", "eval", "--edits", set, "--requests", reqs, "--each", "--json"); got != want {
		t.Errorf("runEditEval printed\n%s\nthe CLI\n%s", got, want)
	}
	var rep editEvalOutput
	decodeStrict(t, got, &rep)
	if rep.Requests != 1 || !rep.Each || rep.Edits != set || rep.Before.Efficacy.Success != 0 || rep.After.Efficacy.Success != 1 {
		t.Errorf("report %+v: efficacy %g before, %g after", rep, rep.Before.Efficacy.Success, rep.After.Efficacy.Success)
	}
}

// edit show, export and stats as run functions print what their command lines do, and the
// export writes the same bytes.
func TestRunEditSetCommandsEqualCLI(t *testing.T) {
	ctx, dir := context.Background(), t.TempDir()
	set := filepath.Join(dir, "e.json")
	mustRun(t, "edit", "scale-head", "--model", tiny, "--layer", "0", "--head", "1", "--factor", "0.5", "--to", set)
	withSet := func() modelFlags {
		mf := testModelFlags("", "")
		*mf.edits = set
		return mf
	}

	show := editShowOptions{setSource: setSource{model: withSet()}, format: cli.JSON}
	got := runTo(t, func(io *cli.IO) error { return runEditShow(ctx, io, show) })
	if want := mustRun(t, "edit", "show", "--edits", set, "--json"); got != want || !strings.Contains(got, "scale_head L0H1") {
		t.Errorf("runEditShow printed\n%s\nthe CLI\n%s", got, want)
	}

	viaRun, viaCLI := filepath.Join(dir, "run"), filepath.Join(dir, "cli")
	export := editExportOptions{setSource: setSource{model: withSet()}, out: viaRun, dtype: "F32"}
	got = runTo(t, func(io *cli.IO) error { return runEditExport(ctx, io, export) })
	want := mustRun(t, "edit", "export", "--edits", set, "--out", viaCLI)
	if strings.ReplaceAll(got, viaRun, viaCLI) != want || !strings.Contains(got, "1 edits applied") {
		t.Errorf("runEditExport printed %q, the CLI %q", got, want)
	}
	a, errA := os.ReadFile(filepath.Join(viaRun, "model.safetensors"))
	b, errB := os.ReadFile(filepath.Join(viaCLI, "model.safetensors"))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("the exported checkpoints differ (%v, %v; %d and %d bytes)", errA, errB, len(a), len(b))
	}

	corpus := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(corpus, []byte("The capital of France is Paris.\nHello world, this is a test.\nThe cat sat on the mat.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := editStatsOptions{model: testModelFlags(tiny, ""), layer: 1, format: cli.JSON,
		stats: statsOptions{data: corpus, samples: 20, stats: filepath.Join(dir, "run.safetensors")}}
	got = runTo(t, func(io *cli.IO) error { return runEditStats(ctx, io, stats) })
	want = mustRun(t, "edit", "stats", "--model", tiny, "--layer", "1", "--data", corpus,
		"--samples", "20", "--stats", filepath.Join(dir, "cli.safetensors"), "--json")
	if got != want || !strings.Contains(got, `"layer": 1`) {
		t.Errorf("runEditStats printed\n%s\nthe CLI\n%s", got, want)
	}
	stats.layer = 9
	if err := runEditStats(ctx, &cli.IO{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, stats); err == nil || !strings.Contains(err.Error(), "--layer 9: the model has layers 0..") {
		t.Errorf("layer 9: %v", err)
	}
}

// The run functions check their options with the usage errors the command line gets, before
// loading anything.
func TestRunOptionErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		run  func(io *cli.IO) error
		want string
	}{
		{func(io *cli.IO) error {
			return runAudit(ctx, io, auditOptions{data: "items.jsonl", generate: "ioi", letters: audit.DefaultStyle})
		}, "give a data file or --generate, not both"},
		{func(io *cli.IO) error { return runPatch(ctx, io, patchOptions{corrupt: "b", target: " A"}) },
			"give --clean or --clean-ids, and --corrupt or --corrupt-ids"},
		{func(io *cli.IO) error { return runNeurons(ctx, io, neuronsOptions{promote: " A", correct: " B"}) },
			"--promote and --correct are two different searches: give one"},
		{func(io *cli.IO) error { return runNeurons(ctx, io, neuronsOptions{}) }, "give --promote TOKEN, or a prompt and --correct TOKEN"},
		{func(io *cli.IO) error { return runCausalTrace(ctx, io, causalTraceOptions{subject: "x", noise: "3x"}) },
			`--noise "3x": want a positive number, or Ns for N × the std of the token embeddings`},
		{func(io *cli.IO) error {
			return runEditMEMIT(ctx, io, editMEMITOptions{requests: "r.jsonl", lambdaGiven: true})
		},
			"--lambda 0: want a positive number"},
		{func(io *cli.IO) error { return runToyTrain(ctx, io, toyTrainOptions{}) }, "toy train: --out DIR is required"},
		{func(io *cli.IO) error {
			return runEditROME(ctx, io, editROMEOptions{prompt: "The capital of X is", subject: "X", target: " Y"})
		},
			`--prompt "The capital of X is" has no {} for the subject`},
	} {
		err := tc.run(&cli.IO{})
		var ue *cli.UsageError
		if !errors.As(err, &ue) || err.Error() != tc.want {
			t.Errorf("got %v, want the usage error %q", err, tc.want)
		}
	}
}

// A prompt's options: the text and --bos as the command line decides it for the embedded
// model (on).
func TestRunLensEqualsCLI(t *testing.T) {
	o := lensOptions{model: testModelFlags("", analysisProcessing), prompt: promptInput{text: fizeiaPrompt, bos: true},
		targets: []string{" A", " B"}, norm: "own", pos: "last", top: 3, mid: true, format: cli.JSON}
	got := runTo(t, func(io *cli.IO) error { return runLens(context.Background(), io, o) })
	if want := mustRun(t, "lens", fizeiaPrompt, "--target", " A", "--target", " B", "--top", "3", "--json"); got != want {
		t.Errorf("runLens printed\n%s\nthe CLI\n%s", got, want)
	}
	var out lensOutput
	decodeStrict(t, got, &out)
	if out.Tokens[0].Text != "<|endoftext|>" || len(out.Rows) == 0 || len(out.Rows[0].Targets) != 2 {
		t.Errorf("tokens %v, %d rows", out.Tokens[:1], len(out.Rows))
	}
}
