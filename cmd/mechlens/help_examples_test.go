package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/modelspec"
	"github.com/mechlens/mechlens/toy"
)

// gpt2Shaped writes a small random model with GPT-2's vocabulary, layer count, head count
// and MLP width (d_model shrunk to 48), so that help examples naming gpt2 (" Paris",
// neuron 9.1853, head 9.9) run without the network.
func gpt2Shaped(t *testing.T) string {
	t.Helper()
	tok, err := gpt2.LoadTokenizer(tiny)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gpt2.Config{NLayers: 12, DModel: 48, NHeads: 12, DHead: 4, DMLP: 3072, NCtx: 1024, DVocab: 50257, LNEps: 1e-5, Activation: "gelu_new"}
	dir := filepath.Join(t.TempDir(), "gpt2-shaped")
	if err := toy.WriteModel(dir, gpt2.RandomModel(cfg, 1, tok)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shellWords splits an example line as a shell would: quotes, and a # comment.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	quote, started := byte(0), false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, started = c, true
		case c == ' ' || c == '\t':
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		case c == '#' && !started:
			i = len(line)
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if started {
		words = append(words, cur.String())
	}
	return words
}

// Every example of every command's help runs: on the default model, or, where the example
// names one, on a stand-in of its shape (hub names and random: sizes). The lines of a
// command run in order in one folder, so that an example may read what one before it
// wrote; the folder also holds the inputs examples name: mmlu.jsonl, arc.jsonl, vectors
// v.json and d.json [d_model] and u.json [d_mlp] of the default model, and edits.json (one
// weight edit). Training examples run 1 step, audits 20 bootstrap resamples; pull needs the
// network and is skipped.
func TestHelpExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every example")
	}
	shaped := gpt2Shaped(t)
	data, _ := filepath.Abs("../../audit/testdata")
	t.Setenv("SLURM_ARRAY_TASK_ID", "0") // "--shard auto   # in a SLURM array"
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "1")
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // edit rome/memit/stats cache their statistics there
	def, err := modelspec.Default()
	if err != nil {
		t.Fatal(err)
	}
	vector := func(n int) []byte {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%7) / 7
		}
		b, _ := json.Marshal(v)
		return b
	}
	inputs := map[string][]byte{"v.json": vector(def.Config.DModel), "d.json": vector(def.Config.DModel), "u.json": vector(def.Config.DMLP)}
	for _, f := range []string{"mmlu.jsonl", "arc.jsonl"} {
		if inputs[f], err = os.ReadFile(filepath.Join(data, f)); err != nil {
			t.Fatal(err)
		}
	}
	// An edit set with one weight edit, for the examples that read one, made as a user would.
	dir := t.TempDir()
	var errOut strings.Builder
	if code := run(context.Background(), []string{"edit", "scale-neuron", "--layer", "1", "--neuron", "5", "--factor", "0", "--to", filepath.Join(dir, "edits.json")},
		&cli.IO{Out: &errOut, Err: &errOut}); code != 0 {
		t.Fatalf("making edits.json: %s", errOut.String())
	}
	if inputs["edits.json"], err = os.ReadFile(filepath.Join(dir, "edits.json")); err != nil {
		t.Fatal(err)
	}
	var all []*cli.Command
	for _, c := range commands {
		all = append(all, c)
		all = append(all, c.Sub...)
	}
	for _, c := range all {
		if c.Example == "" {
			if len(c.Sub) == 0 {
				t.Errorf("%s has no example", c.Name)
			}
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			for name, b := range inputs {
				os.WriteFile(name, b, 0o644)
			}
			for _, line := range strings.Split(c.Example, "\n") {
				line = strings.TrimSpace(line)
				cmd, ok := strings.CutPrefix(line, "$ ")
				if !ok {
					t.Errorf("example line %q does not start with $", line)
					continue
				}
				stdin := ""
				if pre, post, piped := strings.Cut(cmd, " | "); piped {
					w := shellWords(pre)
					if len(w) == 0 || w[0] != "echo" {
						t.Fatalf("%q: only echo ... | mechlens is understood", line)
					}
					stdin, cmd = strings.Join(w[1:], " ")+"\n", post
				}
				argv := shellWords(cmd)
				if len(argv) == 0 || argv[0] != "mechlens" {
					t.Errorf("example line %q does not run mechlens", line)
					continue
				}
				argv = argv[1:]
				for i := 0; i+1 < len(argv); i++ {
					if argv[i] == "--model" {
						specs := strings.Split(argv[i+1], ",")
						for j := range specs {
							specs[j] = shaped
						}
						argv[i+1] = strings.Join(specs, ",")
					}
				}
				switch {
				case argv[0] == "pull":
					continue
				case argv[0] == "tui":
					continue // needs a terminal: TestTUIInTmux runs it in one
				case argv[0] == "toy" && argv[1] == "train":
					argv = append(argv, "--steps", "1", "--eval-every", "0")
				case argv[0] == "audit" && (len(argv) == 1 || argv[1] != "merge"):
					argv = append(argv, "--bootstrap", "20") // the intervals' resamples: time, not behaviour
				}
				var out, errOut strings.Builder
				code := run(context.Background(), argv, &cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
				if code != 0 {
					t.Errorf("%s\n  exit %d: %s", line, code, errOut.String())
				}
			}
		})
	}
}
