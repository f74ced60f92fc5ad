package main

import (
	"context"
	"fmt"
	"math"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
)

func init() { register(newGenerateCommand()) }

type generateOutput struct {
	Model      string        `json:"model"`
	Processing []string      `json:"processing"`
	Edits      []string      `json:"edits"` // the edits applied (--edits), one line each
	Prompt     []int         `json:"prompt_ids"`
	IDs        []int         `json:"ids"`
	Text       string        `json:"text"`
	Sampling   gpt2.Sampling `json:"sampling"`
}

func newGenerateCommand() *cli.Command {
	c := cli.NewCommand("generate", "generate PROMPT [--n N] [--temperature T --top-k K --top-p P --sample-seed S]", "Continue a prompt (greedy by default) with a KV cache")
	c.Example = `  $ mechlens generate "What is the capital of Veloria?" --n 5
  $ mechlens generate --model gpt2 "Once upon a time" --n 40 --temperature 0.8 --top-p 0.95 --sample-seed 1`
	mf := addModelFlags(c, "")
	o := &generateOptions{}
	cli.IntVar(c.Flags, &o.n, "n", 20, 1, cli.NoLimit, "how many tokens to generate (at most up to the end of the context)")
	cli.FloatVar(c.Flags, &o.sampling.Temperature, "temperature", 0, 0, math.Inf(1), "sampling temperature (0: greedy)")
	cli.IntVar(c.Flags, &o.sampling.TopK, "top-k", 0, 0, cli.NoLimit, "sample among the k most likely tokens (0: all)")
	cli.FloatVar(c.Flags, &o.sampling.TopP, "top-p", 0, 0, 1, "nucleus sampling: smallest set with this total probability (0: off)")
	c.Flags.Uint64Var(&o.sampling.Seed, "sample-seed", 0, "seed of the sampler")
	pf := addPromptFlags(c)
	c.Flags.BoolVar(&o.ignoreEOT, "ignore-eot", false, "do not stop at <|endoftext|>")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		if opts.prompt, err = pf.input(io, mf, args); err != nil {
			return err
		}
		return runGenerate(ctx, io, opts)
	}
	return c
}

// generateOptions are mechlens generate's flags and prompt.
type generateOptions struct {
	model     modelFlags
	prompt    promptInput
	n         int
	sampling  gpt2.Sampling
	ignoreEOT bool
	format    cli.Format
}

// runGenerate continues the prompt and prints the text.
func runGenerate(ctx context.Context, io *cli.IO, o generateOptions) error {
	m, seq, err := o.prompt.open(ctx, io, &o.model)
	if err != nil {
		return err
	}
	steps := o.n
	if room := m.Config.NCtx - len(seq); steps > room {
		// The context is the end of what the model can read: stop there rather than fail
		// (the embedded model's context is 128 tokens).
		if room < 1 {
			return fmt.Errorf("the prompt fills the model's context of %d tokens: no room to generate", m.Config.NCtx)
		}
		steps = room
		if io.ErrTTY {
			fmt.Fprintf(io.Err, "generating %d tokens, not %d: the model's context of %d ends there\n", steps, o.n, m.Config.NCtx)
		}
	}
	gen, err := m.GenerateContext(ctx, seq, steps, o.sampling, !o.ignoreEOT)
	if err != nil {
		return err
	}
	out := generateOutput{Model: o.model.name(), Processing: orEmpty(m.Processing), Edits: orEmpty(m.Edits), Prompt: seq, IDs: gen, Sampling: o.sampling}
	if m.Tokenizer != nil {
		out.Text = m.Tokenizer.Decode(gen)
	}
	switch o.format {
	case cli.JSON:
		return cli.WriteJSON(io.Out, out)
	case cli.CSV:
		rows := &cli.Rows{Header: []string{"pos", "id", "token"}}
		for i, id := range gen {
			rows.Add(len(seq)+i, id, tokenText(m, id))
		}
		return rows.WriteCSV(io.Out)
	}
	if m.Tokenizer == nil {
		_, err = fmt.Fprintln(io.Out, gen)
		return err
	}
	_, err = fmt.Fprintf(io.Out, "%s%s\n", m.Tokenizer.Decode(seq), out.Text)
	return err
}
