package main

import (
	"context"
	"fmt"
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
	out := cli.Text(c.Flags, "out", "", "output safetensors file (required)")
	hooks := cli.List(c.Flags, "hooks", "*", nil, "comma-separated glob patterns over hook names")
	pf := addPromptFlags(c)
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		if *out == "" {
			return cli.Usagef("--out is required")
		}
		if err := checkOut("--out", *out, false); err != nil {
			return err
		}
		m, seq, err := pf.open(ctx, io, mf, args)
		if err != nil {
			return err
		}
		names, err := gpt2.MatchHooks(m.Config, *hooks...)
		if err != nil {
			return cli.Usagef("--hooks: %v", err)
		}
		var cache []string
		for _, n := range names {
			// hook_result is per-head and large: only an explicit pattern asks for it.
			if n == gpt2.HookLogits || strings.HasSuffix(n, "attn.hook_result") && !strings.Contains(strings.Join(*hooks, ","), "result") {
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
		meta := map[string]string{"model": mf.name(), "processing": strings.Join(m.Processing, ","), "edits": strings.Join(m.Edits, "\n"), "prompt": prompt, "format": "mechlens trace: TransformerLens hook names, batch dimension dropped"}
		if err := weights.WriteSafetensors(*out, ts, meta); err != nil {
			return err
		}
		o := traceOutput{Out: *out, Tokens: len(seq)}
		for _, t := range ts {
			o.Tensors = append(o.Tensors, t.Name)
		}
		switch f {
		case cli.JSON:
			return cli.WriteJSON(io.Out, o)
		case cli.CSV:
			rows := &cli.Rows{Header: []string{"out", "n_tokens", "tensor"}}
			for _, t := range o.Tensors {
				rows.Add(o.Out, o.Tokens, t)
			}
			return rows.WriteCSV(io.Out)
		}
		_, err = fmt.Fprintf(io.Out, "wrote %d tensors for %d tokens to %s\n", len(ts), len(seq), *out)
		return err
	}
	return c
}
