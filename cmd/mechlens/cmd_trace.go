package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/weights"
)

func init() { register(newTraceCommand()) }

type traceOutput struct {
	Out     string   `json:"out"`
	Tokens  int      `json:"n_tokens"`
	Tensors []string `json:"tensors"`
}

func newTraceCommand() *cli.Command {
	c := cli.NewCommand("trace", "trace PROMPT --out FILE.safetensors [--hooks PATTERNS]", "Write chosen activations, under TransformerLens names, to a safetensors file")
	c.Long = `Runs the prompt and writes the activations whose hook names match --hooks (comma-separated
globs, default all) with the batch dimension dropped, plus "tokens" (I64 [T]) and "logits"
([T, V]): the layout of the shared reference files, readable from Python with
safetensors.numpy.load_file. Metadata records the model, the prompt and the processing.
attn.hook_result (per-head outputs, [T, H, D]) is written only when a pattern names it.`
	c.Example = `  $ mechlens trace "When Mary and John went to the store" --out acts.safetensors
  $ mechlens trace --model gpt2 --ids 50256,15496 --hooks 'blocks.*.attn.hook_pattern,blocks.*.hook_resid_post' --out p.safetensors`
	mf := addModelFlags(c, "")
	o := &traceOptions{}
	cli.TextVar(c.Flags, &o.out, "out", "", "output safetensors file (required)")
	cli.ListVar(c.Flags, &o.hooks, "hooks", "*", nil, "comma-separated glob patterns over hook names")
	pf := addPromptFlags(c)
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		if opts.out == "" {
			return cli.Usagef("--out is required")
		}
		if err := checkOut("--out", opts.out, false); err != nil {
			return err
		}
		if opts.prompt, err = pf.input(io, mf, args); err != nil {
			return err
		}
		return runTrace(ctx, io, opts)
	}
	return c
}

// traceOptions are mechlens trace's flags and prompt.
type traceOptions struct {
	model  modelFlags
	prompt promptInput
	out    string
	hooks  []string
	format cli.Format
}

// runTrace runs the prompt and writes the activations o.hooks name to o.out.
func runTrace(ctx context.Context, io *cli.IO, o traceOptions) error {
	m, seq, err := o.prompt.open(ctx, io, &o.model)
	if err != nil {
		return err
	}
	// --out model.safetensors beside --model ./dir would replace the checkpoint by activations.
	if st, err := os.Stat(filepath.Dir(o.out)); err == nil && exists(o.out) && m.Source != "" {
		if src, err := os.Stat(m.Source); err == nil && os.SameFile(st, src) {
			return fmt.Errorf("--out %s is a file of the model's folder: write the trace elsewhere", o.out)
		}
	}
	names, err := gpt2.MatchHooks(m.Config, o.hooks...)
	if err != nil {
		return cli.Usagef("--hooks: %v", err)
	}
	var cache []string
	for _, n := range names {
		// hook_result is per-head and large: only an explicit pattern asks for it.
		if n == gpt2.HookLogits || strings.HasSuffix(n, "attn.hook_result") && !strings.Contains(strings.Join(o.hooks, ","), "result") {
			continue
		}
		cache = append(cache, n)
	}
	res, err := m.Run([][]int{seq}, gpt2.RunOptions{Logits: gpt2.LogitsAll, Cache: cache, Context: ctx})
	if err != nil {
		return err
	}
	tokens := make([]int64, len(seq))
	for i, id := range seq {
		tokens[i] = int64(id)
	}
	ts := []weights.Tensor{{Name: "tokens", Shape: []int{len(seq)}, I64: tokens}}
	for _, n := range cache {
		a := res.Cache[0][n]
		ts = append(ts, weights.Tensor{Name: n, Shape: a.Shape, F32: a.Data})
	}
	ts = append(ts, weights.Tensor{Name: "logits", Shape: []int{len(seq), m.Config.DVocab}, F32: res.Logits[0]})
	prompt := ""
	if m.Tokenizer != nil {
		prompt = m.Tokenizer.Decode(seq)
	}
	meta := map[string]string{"model": o.model.name(), "processing": strings.Join(m.Processing, ","), "edits": strings.Join(m.Edits, "\n"), "prompt": prompt, "format": "mechlens trace: TransformerLens hook names, batch dimension dropped"}
	if err := weights.WriteSafetensors(o.out, ts, meta); err != nil {
		return err
	}
	w := traceOutput{Out: o.out, Tokens: len(seq)}
	for _, t := range ts {
		w.Tensors = append(w.Tensors, t.Name)
	}
	switch o.format {
	case cli.JSON:
		return cli.WriteJSON(io.Out, w)
	case cli.CSV:
		rows := &cli.Rows{Header: []string{"out", "n_tokens", "tensor"}}
		for _, t := range w.Tensors {
			rows.Add(w.Out, w.Tokens, t)
		}
		return rows.WriteCSV(io.Out)
	}
	_, err = fmt.Fprintf(io.Out, "wrote %d tensors for %d tokens to %s\n", len(ts), len(seq), o.out)
	return err
}
