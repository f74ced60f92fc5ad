package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/fsutil"
	"github.com/mechlens/mechlens/toy"
)

func newToyRequestsCommand() *cli.Command {
	c := cli.NewCommand("requests", "toy requests --out FILE [--attrs capital,language,colour]",
		"Write fact-editing requests on the organism's world (for edit rome, memit and eval)")
	c.Long = `One JSONL request per attribute for each of 40 often-stated entities: rewrite the value to
another of these entities'; the prompt is the attribute's first training template with {} for
the entity, the paraphrases the other three templates, the neighbourhood five of the ten other
often-stated entities (never edited) with their own values, and mcq a two-choice question on
the fact with the new value's letter. The default gives 120 requests: 40 on capitals, then 40
on languages, then 40 on colours (the README's 50 ROME edits are the first 50, its 100 MEMIT
facts the first 100).`
	c.Example = `  $ mechlens toy requests --out requests.jsonl
  $ mechlens toy requests --attrs capital --out capitals.jsonl`
	out := c.Flags.String("out", "", "file to write (required)")
	attrs := c.Flags.String("attrs", "capital,language,colour", "attributes: capital, language, colour")
	c.Run = func(ctx context.Context, cio *cli.IO, args []string) error {
		if len(args) > 0 {
			return cli.Usagef("toy requests takes no arguments, got %q", args[0])
		}
		if *out == "" {
			return cli.Usagef("toy requests: --out FILE is required")
		}
		var as []toy.Attr
		for _, s := range strings.Split(*attrs, ",") {
			a, ok := toy.ParseAttr(strings.TrimSpace(s))
			if !ok {
				return cli.Usagef("--attrs: %q is not capital, language or colour", s)
			}
			as = append(as, a)
		}
		if err := checkOut("--out", *out, false); err != nil {
			return err
		}
		reqs := toy.Requests(toy.NewWorld(), as)
		err := fsutil.WriteFileAtomic(*out, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			for _, r := range reqs {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(cio.Out, "wrote %d requests to %s\n", len(reqs), *out)
		return nil
	}
	return c
}
