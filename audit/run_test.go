package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func runOpts(out string) RunOptions {
	return RunOptions{
		Config: Config{Model: "tiny", Data: "test", Schema: "generated", Permute: PermuteCyclic, Bootstrap: 100, Seed: 1, Format: Format{BOS: true}},
		Out:    out, Chunk: 3, NoPlots: true,
	}
}

// outputs reads the files a finished run leaves, by name.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"items.jsonl", "meta.json", "summary.json", "summary.csv", "report.md"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	if _, err := os.Stat(filepath.Join(dir, "items.jsonl.part")); err == nil {
		t.Errorf("%s: the journal is left after the run", dir)
	}
	return out
}

func sameOutputs(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s: %s differs from a single run's:\n%s\nwant\n%s", what, name, clipB(got[name]), clipB(w))
		}
	}
}

func clipB(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// interrupted runs until `after` items are done, then cancels, as a kill would.
func interrupted(t *testing.T, items []Item, dir string, after int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := runOpts(dir)
	o.Progress = func(done, total int) {
		if done >= after {
			cancel()
		}
	}
	if _, err := Run(ctx, tiny(t), items, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "items.jsonl")); err == nil {
		t.Fatalf("an interrupted run wrote items.jsonl")
	}
}

// resumeRun continues the interrupted run in dir and fails unless it picked up with done
// items already scored.
func resumeRun(t *testing.T, items []Item, dir string, done int) {
	t.Helper()
	o := runOpts(dir)
	o.Resume = true
	first := -1
	o.Progress = func(n, total int) {
		if first < 0 {
			first = n
		}
	}
	if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
		t.Fatal(err)
	}
	if first != done {
		t.Errorf("resumed at %d items done, want %d", first, done)
	}
}

func TestResume(t *testing.T) {
	items := mixedItems(20)
	single := t.TempDir()
	if _, err := Run(context.Background(), tiny(t), items, runOpts(single)); err != nil {
		t.Fatal(err)
	}
	want := outputs(t, single)

	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		interrupted(t, items, dir, 9)
		recs, err := readRecords(filepath.Join(dir, "items.jsonl.part"), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 || recs[len(recs)-1].Item != 8 {
			t.Fatalf("journal ends at item %d, want 8 (3 chunks of 3)", recs[len(recs)-1].Item)
		}
		// Without --resume the journal is not overwritten.
		if _, err := Run(context.Background(), tiny(t), items, runOpts(dir)); err == nil ||
			err.Error() != "audit: "+filepath.Join(dir, "items.jsonl.part")+": an interrupted run is there; pass --resume to continue it, or remove the file" {
			t.Errorf("error %v", err)
		}
		resumeRun(t, items, dir, 9)
		sameOutputs(t, "resumed", outputs(t, dir), want)
	})

	t.Run("cut line", func(t *testing.T) {
		dir := t.TempDir()
		interrupted(t, items, dir, 9)
		j := filepath.Join(dir, "items.jsonl.part")
		b, _ := os.ReadFile(j)
		// Cut the last record in the middle: its item (8) lost an order and is redone.
		if err := os.WriteFile(j, b[:len(b)-40], 0o644); err != nil {
			t.Fatal(err)
		}
		resumeRun(t, items, dir, 8)
		sameOutputs(t, "resumed after a cut line", outputs(t, dir), want)
	})

	t.Run("finished", func(t *testing.T) {
		o := runOpts(single)
		o.Resume = true
		if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
			t.Fatal(err)
		}
		sameOutputs(t, "resumed a finished run", outputs(t, single), want)
	})

	t.Run("other run", func(t *testing.T) {
		dir := t.TempDir()
		interrupted(t, items, dir, 3)
		o := runOpts(dir)
		o.Resume, o.Bootstrap = true, 50
		_, err := Run(context.Background(), tiny(t), items, o)
		if err == nil || err.Error() != "audit: "+filepath.Join(dir, "meta.json")+": the run there had bootstrap 100, this one 50; use another --out or remove the folder" {
			t.Errorf("error %v", err)
		}
		o = runOpts(dir)
		o.Resume = true
		_, err = Run(context.Background(), tiny(t), items[:19], o)
		if err == nil || !strings.Contains(err.Error(), "the run there had fingerprint") {
			t.Errorf("error %v", err)
		}
	})
}

func TestShardMerge(t *testing.T) {
	items := mixedItems(17) // 17 does not split evenly in 3
	single := t.TempDir()
	o := runOpts(single)
	o.NoPlots = false
	if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
		t.Fatal(err)
	}
	want := outputs(t, single)

	shared := t.TempDir()
	apart := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for k := 0; k < 3; k++ {
		for _, dir := range []string{shared, apart[k]} {
			o := runOpts(dir)
			o.Shard, o.Shards = k, 3
			if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(shared, "summary.json")); err == nil {
		t.Errorf("a shard wrote summary.json")
	}
	for _, tc := range []struct {
		name string
		dirs []string
	}{{"one folder", []string{shared}}, {"three folders", apart}} {
		out := t.TempDir()
		if _, err := Merge(tc.dirs, out, true); err != nil {
			t.Fatal(err)
		}
		sameOutputs(t, "merged from "+tc.name, outputs(t, out), want)
		for _, p := range []string{"selection.png", "accuracy.png", "lens.png"} {
			f, err := os.Open(filepath.Join(out, p))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil || img.Bounds().Dx() != 576 || img.Bounds().Dy() != 384 {
				t.Errorf("%s: %v %v", p, err, img.Bounds())
			}
		}
	}

	// A missing shard, an unfinished one, and shards of different runs.
	missing := []string{apart[0], apart[2]}
	if _, err := Merge(missing, t.TempDir(), false); err == nil ||
		err.Error() != fmt.Sprintf("audit: shard 1 of 3 is missing (no meta-shard-1-of-3.json in %q)", missing) {
		t.Errorf("error %v", err)
	}
	unfinished := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	o = runOpts(unfinished)
	o.Shard, o.Shards = 1, 3
	o.Progress = func(done, total int) {
		if done >= 3 {
			cancel()
		}
	}
	if _, err := Run(ctx, tiny(t), items, o); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, err := Merge([]string{apart[0], unfinished, apart[2]}, t.TempDir(), false); err == nil ||
		err.Error() != "audit: shard 1 of 3 is unfinished (no "+filepath.Join(unfinished, "items-shard-1-of-3.jsonl")+"); finish it with --resume" {
		t.Errorf("error %v", err)
	}
	other := t.TempDir()
	o = runOpts(other)
	o.Shard, o.Shards, o.Seed = 1, 3, 2
	if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge([]string{apart[0], other, apart[2]}, t.TempDir(), false); err == nil ||
		!strings.Contains(err.Error(), "are not shards of one run") || !strings.HasSuffix(err.Error(), "are not shards of one run: seed 1 and 2") {
		t.Errorf("error %v", err)
	}
}

func TestParseShard(t *testing.T) {
	tests := []struct {
		arg  string
		env  map[string]string
		k, n int
		err  string
	}{
		{"0/4", nil, 0, 4, ""},
		{"3/4", nil, 3, 4, ""},
		{"4/4", nil, 0, 0, "--shard 4/4: shard index 4 outside [0, 4)"},
		{"-1/4", nil, 0, 0, "--shard -1/4: shard index -1 outside [0, 4)"},
		{"1/0", nil, 0, 0, `--shard 1/0: the count "0" is not a positive integer`},
		{"x/2", nil, 0, 0, `--shard x/2: the index "x" is not an integer`},
		{"2", nil, 0, 0, "--shard 2: want K/N (0 ≤ K < N), auto or auto/N"},
		{"auto", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "5"}, 2, 5, ""},
		{"auto", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, 2, 4, ""},
		{"auto/8", map[string]string{"JOB_COMPLETION_INDEX": "7"}, 7, 8, ""},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "7"}, 0, 0, "--shard auto: JOB_COMPLETION_INDEX gives the index only: pass the count as --shard auto/N"},
		{"auto", nil, 0, 0, "--shard auto: neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set"},
		{"auto", map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, 0, 0, "--shard auto: SLURM_ARRAY_TASK_COUNT is not set: pass the count as --shard auto/N"},
		{"auto", map[string]string{"SLURM_ARRAY_TASK_ID": "one"}, 0, 0, `--shard auto: SLURM_ARRAY_TASK_ID="one" is not an integer`},
	}
	for _, tc := range tests {
		k, n, err := ParseShard(tc.arg, func(s string) string { return tc.env[s] })
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s %v: error %v, want %q", tc.arg, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || k != tc.k || n != tc.n {
			t.Errorf("%s %v: %d/%d %v, want %d/%d", tc.arg, tc.env, k, n, err, tc.k, tc.n)
		}
	}
	// The shards cover every item once, in order.
	for _, total := range []int{0, 1, 7, 17, 100} {
		next := 0
		for k := 0; k < 3; k++ {
			b, e := ShardRange(total, k, 3)
			if b != next || e < b {
				t.Errorf("%d items: shard %d is [%d, %d), want to start at %d", total, k, b, e, next)
			}
			next = e
		}
		if next != total {
			t.Errorf("%d items: shards end at %d", total, next)
		}
	}
}

// A run that fails before its first item leaves nothing, so that later runs in the folder,
// with or without --resume, start cleanly; so do the meta.json and empty journal that older
// versions left.
func TestFailedRunLeavesNothing(t *testing.T) {
	items := mixedItems(6)
	long := slices.Clone(items)
	long[0].Question = strings.Repeat("very ", 200) + "long?"
	dir := t.TempDir()
	if _, err := Run(context.Background(), tiny(t), long, runOpts(dir)); err == nil {
		t.Fatal("a prompt longer than the context was scored")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a failed run left %v", left)
	}
	// Nor the folders it made for --out (an audit of several models makes DIR/<model>/).
	if _, err := Run(context.Background(), tiny(t), long, runOpts(filepath.Join(dir, "new", "model"))); err == nil {
		t.Fatal("a prompt longer than the context was scored")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a failed run left %v", left)
	}
	o := runOpts(dir)
	o.Resume = true
	if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
		t.Fatalf("--resume after a failed run: %v", err)
	}
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, "meta.json"), []byte(`{"version": 1, "model": "another"}`), 0o644)
	os.WriteFile(filepath.Join(old, "items.jsonl.part"), nil, 0o644)
	for _, resume := range []bool{false, true} {
		o := runOpts(old)
		o.Resume = resume
		if _, err := Run(context.Background(), tiny(t), items, o); err != nil {
			t.Errorf("resume=%v over an old failed run: %v", resume, err)
		}
	}
}
