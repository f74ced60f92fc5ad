package main

import (
	"context"
	"errors"
	"os"

	tea "charm.land/bubbletea/v2"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/tui"
)

func init() { register(newTUICommand()) }

func newTUICommand() *cli.Command {
	c := cli.NewCommand("tui", "tui [PROMPT] [--edits FILE] [--audit DIR] [--session FILE]",
		"Browse a model's internals in the terminal: tokens, logit lens, attribution, heads, neurons, audits")
	c.Long = `Opens a full-screen browser over one prompt: its tokens and the next-token candidates at a
cursor, the logit lens as a grid of layers × positions, the direct logit attribution of
logit(target) − logit(distractor) to heads, MLPs and neurons, each head's attention pattern,
each neuron's activation and value vector, and (with --audit) the items of an audit sorted by
logit difference, any of which opens in the other panes. Press ? for the keys.

The target and distractor default to the two most likely next tokens, or on a
multiple-choice prompt to " A" and the most likely other option's letter. --session FILE
reopens the session saved in FILE, if any, and saves it there on quit. --edits FILE starts
with the edits of that set on, the unedited model beside the edited one.`
	c.Example = `  $ mechlens tui "Question: ... Answer Choices: A: Lindsey B: Kristen Answer:"
  $ mechlens audit --out runs/organism
  $ mechlens tui --audit runs/organism
  $ mechlens tui --model gpt2 "The Eiffel Tower is in" --session eiffel.json`
	mf := addModelFlags(c, analysisProcessing)
	bos := addBOSFlag(c)
	o := &tuiOptions{}
	cli.TextVar(c.Flags, &o.audit, "audit", "", "browse this audit folder (written by mechlens audit --out DIR)")
	cli.TextVar(c.Flags, &o.session, "session", "", "reopen the session saved in this file, and save it there on quit")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model, opts.bos = *mf, bos.want(mf)
		if len(args) > 1 {
			return cli.Usagef("want at most one prompt, got %d arguments", len(args))
		}
		if len(args) == 1 {
			opts.prompt = args[0]
		}
		return runTUI(ctx, io, opts)
	}
	return c
}

// tuiOptions are mechlens tui's flags and prompt.
type tuiOptions struct {
	model                  modelFlags
	prompt, audit, session string
	bos                    bool
}

// runTUI opens the browser on the terminal of io.In and io.Out.
func runTUI(ctx context.Context, io *cli.IO, o tuiOptions) error {
	// The session is written on quit: a folder that cannot take it would lose it then.
	if o.session != "" {
		if err := checkOut("--session", o.session, false); err != nil {
			return err
		}
	}
	in, inOK := io.In.(*os.File)
	out, outOK := io.Out.(*os.File)
	if !inOK || !outOK || !cli.IsTerminal(in) || !cli.IsTerminal(out) {
		return errors.New("mechlens tui needs a terminal on standard input and output")
	}
	to := tui.Options{ModelName: o.model.name(), Session: o.session, Prompt: o.prompt, BOS: o.bos}
	var err error
	if o.audit != "" {
		if to.Audit, err = tui.LoadAudit(o.audit); err != nil {
			return err
		}
	}
	if *o.model.edits != "" { // the browser applies them to a clone, beside the unedited model
		if to.Edits, err = edit.Load(*o.model.edits); err != nil {
			return err
		}
	}
	s, resume, err := tui.LoadSession(o.session)
	if err != nil {
		return err
	}
	if to.Model, err = o.model.openBase(ctx, io); err != nil {
		return err
	}
	m, err := tui.New(to)
	if err != nil {
		return err
	}
	if resume && to.Prompt == "" {
		if err := m.Restore(s); err != nil {
			return err
		}
	}
	_, err = tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out)).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
