package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/weights"
)

const tiny = "../../testdata/tiny-gpt2"

// runCommand runs argv in-process and returns stdout, stderr and the exit code.
func runCommand(t *testing.T, stdin string, argv ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), argv, &cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), code
}

// decodeStrict decodes JSON, refusing fields the struct does not document.
func decodeStrict(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not the documented JSON: %v\n%s", err, s)
	}
}

func TestRunTopTokens(t *testing.T) {
	out, errOut, code := runCommand(t, "", "run", "--model", tiny, "Hello world", "--top", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got runOutput
	decodeStrict(t, out, &got)
	m, err := gpt2.LoadDir(tiny)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run([][]int{{15496, 995}}, gpt2.RunOptions{Logits: gpt2.LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	best := 0
	for i, v := range res.Logits[0] {
		if v > res.Logits[0][best] {
			best = i
		}
	}
	if len(got.Positions) != 1 || len(got.Positions[0].Top) != 3 {
		t.Fatalf("want one position with 3 tokens, got %+v", got.Positions)
	}
	top := got.Positions[0].Top[0]
	if top.ID != best || top.Logit != res.Logits[0][best] || top.Token != m.Tokenizer.TokenText(best) {
		t.Errorf("top token %+v, want id %d logit %g", top, best, res.Logits[0][best])
	}
	if got.Positions[0].Top[1].Prob > top.Prob {
		t.Error("tokens are not sorted by probability")
	}
	table, _, _ := runCommand(t, "", "run", "--model", tiny, "--ids", "15496,995", "--top", "1")
	if !strings.Contains(table, `"`+m.Tokenizer.TokenText(best)+`"`) || !strings.HasPrefix(table, "pos  input") {
		t.Errorf("table output:\n%s", table)
	}
}

func TestTokenizeJSONL(t *testing.T) {
	in := `{"id": 7, "text": "Hello world"}` + "\n" + `{"text":""}` + "\n"
	out, errOut, code := runCommand(t, in, "tokenize", "--model", tiny, "--jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `{"id": 7, "text": "Hello world","ids":[15496,995],"tokens":["Hello"," world"]}` + "\n" +
		`{"text":"","ids":[],"tokens":[]}` + "\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	for in, want := range map[string]string{
		"{\"txt\": 1}\n":              "mechlens: stdin line 1: text is missing\n",
		"{\"text\": 5}\n":             "mechlens: stdin line 1: text is not a string\n",
		"[1]\n":                       "mechlens: stdin line 1: not a JSON object\n",
		"{\"text\": \"a\"}\n{\"x\"\n": "mechlens: stdin line 2: not a JSON object\n",
	} {
		if _, errOut, code = runCommand(t, in, "tokenize", "--model", tiny, "--jsonl"); code != 1 || errOut != want {
			t.Errorf("%q: exit %d, stderr %q, want %q", in, code, errOut, want)
		}
	}
	if out, errOut, _ := runCommand(t, "\ufeff{\"text\": \"Hello\"}\n", "tokenize", "--model", tiny, "--jsonl"); out != `{"text": "Hello","ids":[15496],"tokens":["Hello"]}`+"\n" {
		t.Errorf("a byte-order mark: %q %s", out, errOut)
	}
	// A line that has ids already gets them replaced, not a second "ids" key.
	out, _, _ = runCommand(t, `{"ids": [1], "text": "Hello", "n": 2, "tokens": ["x"]}`+"\n", "tokenize", "--model", tiny, "--jsonl")
	if want := `{"text":"Hello","n":2,"ids":[15496],"tokens":["Hello"]}` + "\n"; out != want {
		t.Errorf("replacing ids: %s, want %s", out, want)
	}
}

// trace writes what the shared reference files hold, under the same names.
func TestTraceMatchesReference(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hello.safetensors")
	_, errOut, code := runCommand(t, "", "trace", "--model", tiny, "Hello world", "--out", out, "--hooks", "blocks.*,hook_*,ln_final.*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, err := weights.OpenSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	ref, err := weights.OpenSafetensors(filepath.Join(tiny, "reference", "hello.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	n := 0
	for _, name := range ref.Names() {
		if !strings.HasPrefix(name, "blocks.") && !strings.HasPrefix(name, "hook_") && !strings.HasPrefix(name, "ln_final") {
			continue
		}
		want, _ := ref.Float32(name)
		g, err := got.Float32(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for i := range want {
			if d := g[i] - want[i]; d > 1e-4 || d < -1e-4 {
				t.Errorf("%s[%d] = %g, want %g", name, i, g[i], want[i])
				break
			}
		}
		n++
	}
	if n < 30 {
		t.Errorf("compared only %d tensors", n)
	}
	if _, ok := got.Info("blocks.0.attn.hook_result"); ok {
		t.Error("hook_result written though no pattern named it")
	}
	toks, _ := got.Int64("tokens")
	if len(toks) != 2 || toks[0] != 15496 || toks[1] != 995 {
		t.Errorf("tokens = %v", toks)
	}
}

func TestGenerateGreedyIsDeterministic(t *testing.T) {
	a, errOut, code := runCommand(t, "", "generate", "--model", tiny, "Hello", "--n", "5", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var g generateOutput
	decodeStrict(t, a, &g)
	if len(g.IDs) == 0 || len(g.IDs) > 5 || g.Prompt[0] != 15496 {
		t.Errorf("generate: %+v", g)
	}
	b, _, _ := runCommand(t, "", "generate", "--model", tiny, "Hello", "--n", "5", "--json")
	if a != b {
		t.Error("greedy generation differs between runs")
	}
}

// Bad input gets one line on stderr and a non-zero exit, never a panic.
func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "vocab.json", "merges.txt"} {
		data, _ := os.ReadFile(filepath.Join(tiny, f))
		os.WriteFile(filepath.Join(broken, f), data, 0o644)
	}
	full, _ := os.ReadFile(filepath.Join(tiny, "model.safetensors"))
	os.WriteFile(filepath.Join(broken, "model.safetensors"), full[:len(full)/2], 0o644)

	long := strings.TrimSpace(strings.Repeat("word ", 200))
	for _, tc := range []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"run", "--model", tiny, long}, 1, "mechlens: the prompt has 200 tokens, more than the model's context of 128\n"},
		{[]string{"run", "--model", tiny, "--ids", "1,99999"}, 1, "mechlens: token id 99999 is outside the vocabulary [0, 50257)\n"},
		{[]string{"run", "--model", tiny, "--ids", "1,x"}, 2, "mechlens: --ids: \"x\" is not a token id (see 'mechlens run --help')\n"},
		{[]string{"run", "--model", tiny, "--frobnicate", "x"}, 2, "mechlens: unknown flag --frobnicate (see 'mechlens run --help')\n"},
		{[]string{"run", "--model", "./nope", "x"}, 1, "mechlens: model folder ./nope does not exist\n"},
		{[]string{"run", "--model", broken, "x"}, 1, `model.safetensors: tensor "wte.weight": span [190216,3406664) outside data area of 1702012 bytes: the file is truncated`},
		{[]string{"run", "--model", "random:gpt3", "x"}, 1, "mechlens: random:gpt3: unknown size"},
		{[]string{"trace", "--model", tiny, "x"}, 2, "mechlens: --out is required"},
		{[]string{"trace", "--model", tiny, "x", "--out", filepath.Join(dir, "o.st"), "--hooks", "blocks.7.*"}, 2, `matches no hook point`},
		{[]string{"frobnicate"}, 2, "mechlens: unknown command \"frobnicate\" (run 'mechlens help')\n"},
		{[]string{"run", "--model", tiny, "x", "--json", "--csv"}, 2, "--json and --csv exclude each other"},
	} {
		_, errOut, code := runCommand(t, "", tc.argv...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.argv, code, errOut, tc.code, tc.want)
		}
	}
}

// info reports tied embeddings as the checkpoint has them: tied in tiny-gpt2 and in the
// small-vocabulary fixture (whose explicit lm_head equals wte), untied after processing.
func TestInfoTiedEmbeddings(t *testing.T) {
	for _, c := range []struct {
		model, process string
		tied           bool
	}{
		{tiny, "none", true},
		{"../../testdata/tiny-gpt2-small-vocab", "none", true},
		{tiny, "fold_ln", false},
	} {
		out, errOut, code := runCommand(t, "", "info", "--model", c.model, "--process", c.process, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.model, code, errOut)
		}
		var got infoOutput
		decodeStrict(t, out, &got)
		if got.TiedEmbed != c.tied || got.Params <= 0 {
			t.Errorf("%s --process %s: tied_embeddings %v, n_params %d; want tied %v", c.model, c.process, got.TiedEmbed, got.Params, c.tied)
		}
	}
}

// info names how the weights are held, so a bf16 run is never mistaken for an exact one.
func TestInfoWeights(t *testing.T) {
	for _, w := range []string{"f32", "bf16"} {
		out, errOut, code := runCommand(t, "", "info", "--model", tiny, "--weights", w, "--json")
		if code != 0 {
			t.Fatalf("--weights %s: exit %d: %s", w, code, errOut)
		}
		var got infoOutput
		decodeStrict(t, out, &got)
		if got.Weights != w {
			t.Errorf("--weights %s: info reports %q", w, got.Weights)
		}
	}
}
