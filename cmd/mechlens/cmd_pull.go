package main

import (
	"context"
	"fmt"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/weights"
)

func init() { register(newPullCommand()) }

func newPullCommand() *cli.Command {
	c := cli.NewCommand("pull", "pull MODEL", "Download a model from the Hugging Face hub into the shared cache")
	c.Long = `MODEL is gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2 or owner/name[@revision].
Files go into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
~/.cache/huggingface/hub), shared with transformers. Partial downloads resume.
HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE=1 are honoured. Prints the snapshot folder.`
	c.Example = "  $ mechlens pull gpt2\n  $ mechlens pull openai-community/gpt2-medium@main"
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		name, err := oneArg(io, args, "model name")
		if err != nil {
			return err
		}
		h := weights.HubFromEnv()
		h.Progress = nil
		if io.ErrTTY {
			h.Progress = io.Err
		}
		dir, err := h.Snapshot(ctx, name)
		if err != nil {
			return err
		}
		switch f {
		case cli.JSON:
			return cli.WriteJSON(io.Out, map[string]string{"model": name, "snapshot": dir})
		case cli.CSV:
			rows := &cli.Rows{Header: []string{"model", "snapshot"}}
			rows.Add(name, dir)
			return rows.WriteCSV(io.Out)
		}
		_, err = fmt.Fprintln(io.Out, dir)
		return err
	}
	return c
}
