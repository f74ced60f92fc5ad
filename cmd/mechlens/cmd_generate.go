package main

import (
	"context"
	"fmt"

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
	n := c.Flags.Int("n", 20, "how many tokens to generate")
	var s gpt2.Sampling
	c.Flags.Float64Var(&s.Temperature, "temperature", 0, "sampling temperature (0: greedy)")
	c.Flags.IntVar(&s.TopK, "top-k", 0, "sample among the k most likely tokens (0: all)")
	c.Flags.Float64Var(&s.TopP, "top-p", 0, "nucleus sampling: smallest set with this total probability (0: off)")
	c.Flags.Uint64Var(&s.Seed, "sample-seed", 0, "seed of the sampler")
	pf := addPromptFlags(c)
	keepGoing := c.Flags.Bool("ignore-eot", false, "do not stop at <|endoftext|>")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		if *n < 1 {
			return cli.Usagef("--n must be at least 1")
		}
		if s.Temperature < 0 || s.TopK < 0 || s.TopP < 0 || s.TopP > 1 {
			return cli.Usagef("--temperature and --top-k must be ≥ 0, --top-p in [0, 1]")
		}
		m, seq, err := pf.open(ctx, io, mf, args)
		if err != nil {
			return err
		}
		gen, err := m.Generate(seq, *n, s, !*keepGoing)
		if err != nil {
			return err
		}
		out := generateOutput{Model: mf.name(), Processing: orEmpty(m.Processing), Edits: orEmpty(m.Edits), Prompt: seq, IDs: gen, Sampling: s}
		if m.Tokenizer != nil {
			out.Text = m.Tokenizer.Decode(gen)
		}
		if f == cli.JSON {
			return cli.WriteJSON(io.Out, out)
		}
		if m.Tokenizer == nil {
			_, err = fmt.Fprintln(io.Out, gen)
			return err
		}
		_, err = fmt.Fprintf(io.Out, "%s%s\n", m.Tokenizer.Decode(seq), out.Text)
		return err
	}
	return c
}
