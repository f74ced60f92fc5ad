package main

import (
	"context"
	"fmt"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/fsutil"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/toy"
)

func init() { register(newToyCommand()) }

func newToyCommand() *cli.Command {
	c := cli.NewCommand("toy", "toy train|data --out DIR [flags]",
		"Train the model organism (the embedded default model) or write its held-out sets")
	c.Long = `The organism is a 3-layer GPT-2 trained in Go on an invented world: 150 countries with a
capital, a language and a flag colour, stated often (F), rarely (R) or never (U). It answers
multiple-choice questions on what it knows and falls back to " A" on what it does not.`
	c.Example = `  $ mechlens toy data --out heldout`
	c.Sub = []*cli.Command{newToyTrainCommand(), newToyDataCommand(), newToyRequestsCommand()}
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		return cli.Usagef("toy: name a subcommand: train, data or requests")
	}
	return c
}

func newToyTrainCommand() *cli.Command {
	c := cli.NewCommand("train", "toy train --out DIR [--seed N] [--steps N]",
		"Train the model organism and write it as a Hugging Face folder")
	c.Long = `Trains from scratch with the organism's recipe, printing the losses and, every --eval-every
steps, the held-out metrics; then writes DIR/config.json, model.safetensors, vocab.json and
merges.txt, and prints the held-out table. The same seed gives bitwise the same weights
whatever --threads.`
	c.Example = `  $ mechlens toy train --out organism
  $ mechlens toy train --out quick --steps 300 --seed 2`
	rc := toy.DefaultRecipe()
	o := &toyTrainOptions{}
	cli.TextVar(c.Flags, &o.out, "out", "", "folder to write the model to (required)")
	c.Flags.Uint64Var(&o.seed, "seed", rc.Seed, "seed of the initialisation and of the data order")
	cli.IntVar(c.Flags, &o.steps, "steps", rc.Warmup+rc.Bridge+rc.Steps, 1, cli.NoLimit, "optimizer steps, curriculum included (the warm-up may add up to "+fmt.Sprint(rc.MaxWarmup-rc.Warmup)+")")
	cli.IntVar(c.Flags, &o.evalEvery, "eval-every", rc.EvalEvery, 0, cli.NoLimit, "steps between held-out evaluations (0: only at the end)")
	threads := addThreadsFlag(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.threads = *threads
		if len(args) > 0 {
			return cli.Usagef("toy train takes no arguments, got %q", args[0])
		}
		return runToyTrain(ctx, io, opts)
	}
	return c
}

// toyTrainOptions are mechlens toy train's flags.
type toyTrainOptions struct {
	out                       string
	seed                      uint64
	steps, evalEvery, threads int
}

// runToyTrain trains the organism with the default recipe, shrunk to o.steps, and writes it
// to o.out.
func runToyTrain(ctx context.Context, io *cli.IO, o toyTrainOptions) error {
	if o.out == "" {
		return cli.Usagef("toy train: --out DIR is required")
	}
	if err := checkOut("--out", o.out, true); err != nil {
		return err
	}
	tensor.SetThreads(o.threads)
	r := toy.DefaultRecipe()
	r.Seed, r.EvalEvery = o.seed, o.evalEvery
	// Shorter runs shrink the curriculum in proportion.
	if total := r.Warmup + r.Bridge + r.Steps; o.steps != total {
		r.Warmup = r.Warmup * o.steps / total
		r.MaxWarmup = r.MaxWarmup * o.steps / total
		r.Bridge = r.Bridge * o.steps / total
		r.Steps = o.steps - r.Warmup - r.Bridge
	}
	w := toy.NewWorld()
	tok, err := toy.TrainTokenizer(w)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(io.Out, format+"\n", a...) }
	m, err := toy.Train(ctx, r, w, tok, logf)
	if err != nil {
		return err
	}
	if err := toy.WriteModel(o.out, m); err != nil {
		return err
	}
	rep, err := toy.Evaluate(m, toy.HeldOut(w, toy.EvalVariants))
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "\nwrote %s\n\n%s", o.out, rep.Table())
	if f := rep.Failures(); len(f) > 0 {
		fmt.Fprintf(io.Out, "criteria not met: %v\n", f)
	}
	return nil
}

func newToyDataCommand() *cli.Command {
	c := cli.NewCommand("data", "toy data --out DIR",
		"Write the organism's held-out sets: mcq.jsonl and facts.jsonl")
	c.Long = `mcq.jsonl holds multiple-choice items (question, choices, labelled answer letter, the item's
class F/R/U, quizzed in training or not, group, chance level 1/k, and the prompt text the
model reads); facts.jsonl holds fact prompts in the training templates with their expected
completion. The items are fresh draws, the same in every build.`
	c.Example = `  $ mechlens toy data --out heldout
  $ mechlens audit heldout/mcq.jsonl`
	out := cli.Text(c.Flags, "out", "", "folder to write to (required)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		if len(args) > 0 {
			return cli.Usagef("toy data takes no arguments, got %q", args[0])
		}
		if *out == "" {
			return cli.Usagef("toy data: --out DIR is required")
		}
		if err := checkOut("--out", *out, true); err != nil {
			return err
		}
		es := toy.HeldOut(toy.NewWorld(), toy.EvalVariants)
		if err := fsutil.WriteDirAtomic(*out, func(dir string) error { return toy.WriteData(dir, es) }); err != nil {
			return fmt.Errorf("toy data: %w", err)
		}
		fmt.Fprintf(io.Out, "wrote %d multiple-choice items and %d fact prompts to %s\n", len(es.MCQ), len(es.Facts), *out)
		return nil
	}
	return c
}
