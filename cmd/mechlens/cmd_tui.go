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
	auditDir := cli.Text(c.Flags, "audit", "", "browse this audit folder (written by mechlens audit --out DIR)")
	session := cli.Text(c.Flags, "session", "", "reopen the session saved in this file, and save it there on quit")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		if len(args) > 1 {
			return cli.Usagef("want at most one prompt, got %d arguments", len(args))
		}
		in, inOK := io.In.(*os.File)
		out, outOK := io.Out.(*os.File)
		if !inOK || !outOK || !cli.IsTerminal(in) || !cli.IsTerminal(out) {
			return errors.New("mechlens tui needs a terminal on standard input and output")
		}
		o := tui.Options{ModelName: mf.name(), Session: *session}
		if len(args) == 1 {
			o.Prompt = args[0]
		}
		var err error
		if *auditDir != "" {
			if o.Audit, err = tui.LoadAudit(*auditDir); err != nil {
				return err
			}
		}
		if *mf.edits != "" { // the browser applies them to a clone, beside the unedited model
			if o.Edits, err = edit.Load(*mf.edits); err != nil {
				return err
			}
		}
		s, resume, err := tui.LoadSession(*session)
		if err != nil {
			return err
		}
		if o.Model, err = mf.openBase(ctx, io); err != nil {
			return err
		}
		o.BOS = bos.want(mf)
		m, err := tui.New(o)
		if err != nil {
			return err
		}
		if resume && o.Prompt == "" {
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
	return c
}
