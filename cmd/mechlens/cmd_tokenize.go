package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/gpt2/gpt2tok"
	"github.com/mechlens/mechlens/internal/cli"
)

func init() { register(newTokenizeCommand()) }

type tokenizeOutput struct {
	IDs     []int    `json:"ids"`
	Tokens  []string `json:"tokens"`
	Offsets [][2]int `json:"offsets"`
}

func newTokenizeCommand() *cli.Command {
	c := cli.NewCommand("tokenize", "tokenize TEXT | tokenize --jsonl < in.jsonl", "Token ids, token strings and byte offsets of a text")
	c.Long = `With --jsonl, standard input holds one JSON object per line with a "text" field; each is
written back unchanged with "ids" and "tokens" added.`
	c.Example = `  $ mechlens tokenize " Answer: A"
  $ echo '{"text": "Hello world", "id": 7}' | mechlens tokenize --model gpt2 --jsonl`
	mf := addModelFlags(c, "")
	o := &tokenizeOptions{}
	c.Flags.BoolVar(&o.jsonl, "jsonl", false, `read {"text": ...} lines on stdin, write them with "ids" and "tokens" added`)
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		if !opts.jsonl {
			if opts.text, err = oneArg(io, args, "text"); err != nil {
				return err
			}
		} else if len(args) > 0 {
			return cli.Usagef("--jsonl reads standard input and takes no argument")
		}
		return runTokenize(ctx, io, opts)
	}
	return c
}

// tokenizeOptions are mechlens tokenize's flags and text.
type tokenizeOptions struct {
	model  modelFlags
	text   string
	jsonl  bool // tokenize the JSON lines of io.In instead of text
	format cli.Format
}

// runTokenize prints the tokens of o.text, or adds them to each JSON line of io.In.
func runTokenize(ctx context.Context, io *cli.IO, o tokenizeOptions) error {
	tok, err := tokenizerOf(ctx, io, &o.model)
	if err != nil {
		return err
	}
	if o.jsonl {
		return tokenizeJSONL(io, tok)
	}
	ids, offs := tok.EncodeWithOffsets(o.text)
	out := tokenizeOutput{IDs: orEmptyInts(ids), Tokens: tokenTexts(tok.TokenText, ids), Offsets: offs}
	if out.Offsets == nil {
		out.Offsets = [][2]int{}
	}
	rows := &cli.Rows{Header: []string{"index", "id", "token", "start", "end"}}
	for i, id := range ids {
		rows.Add(i, id, cli.Token(out.Tokens[i]), offs[i][0], offs[i][1])
	}
	return cli.Write(io, o.format, rows, out, false)
}

// tokenizeJSONL writes each JSON line of io.In to io.Out with "ids" and "tokens" added.
func tokenizeJSONL(io *cli.IO, tok *gpt2.Tokenizer) error {
	sc := bufio.NewScanner(io.In)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	w := bufio.NewWriter(io.Out)
	defer w.Flush()
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\ufeff")) // a byte-order mark is not JSON
		}
		if len(raw) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return fmt.Errorf("stdin line %d: not a JSON object", line)
		}
		var text string
		switch t := obj["text"]; {
		case t == nil || string(t) == "null":
			return fmt.Errorf("stdin line %d: text is missing", line)
		case json.Unmarshal(t, &text) != nil:
			return fmt.Errorf("stdin line %d: text is not a string", line)
		}
		ids := tok.Encode(text)
		add, _ := json.Marshal(map[string]any{"ids": ids, "tokens": tokenTexts(tok.TokenText, ids)})
		if obj["ids"] != nil || obj["tokens"] != nil {
			raw = withoutKeys(raw, "ids", "tokens")
		}
		sep := []byte(",")
		if bytes.Equal(bytes.TrimSpace(raw[1:len(raw)-1]), nil) {
			sep = nil
		}
		// Splice the new fields in before the closing brace, so the input's own fields
		// keep their order and formatting.
		w.Write(raw[:len(raw)-1])
		w.Write(sep)
		w.Write(add[1:])
		w.WriteByte('\n')
	}
	return sc.Err()
}

// gpt2Checkpoints share GPT-2's tokenizer, which the binary carries (gpt2tok).
var gpt2Checkpoints = map[string]bool{
	"gpt2": true, "gpt2-medium": true, "gpt2-large": true, "gpt2-xl": true, "distilgpt2": true,
	"openai-community/gpt2": true, "openai-community/gpt2-medium": true, "openai-community/gpt2-large": true,
	"openai-community/gpt2-xl": true, "distilbert/distilgpt2": true,
}

// tokenizerOf loads the model's tokenizer. A GPT-2 checkpoint that cannot be loaded (no
// network and not in the cache) falls back to the tokenizer built into the binary, which is
// the same files: tokenizing needs no weights.
func tokenizerOf(ctx context.Context, io *cli.IO, mf *modelFlags) (*gpt2.Tokenizer, error) {
	m, err := mf.open(ctx, io)
	if err != nil {
		if !gpt2Checkpoints[mf.spec] || ctx.Err() != nil {
			return nil, err
		}
		tok, err2 := gpt2tok.Tokenizer()
		if err2 != nil {
			return nil, err2
		}
		if io.ErrTTY {
			fmt.Fprintf(io.Err, "mechlens: %v; using GPT-2's tokenizer built into mechlens\n", err)
		}
		return tok, nil
	}
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("this model has no tokenizer")
	}
	return m.Tokenizer, nil
}

// withoutKeys rewrites a JSON object without the given keys, the others in their order:
// a line that already has "ids" gets them replaced, not a second "ids".
func withoutKeys(obj []byte, keys ...string) []byte {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.Token() // {
	out := []byte{'{'}
	for dec.More() {
		k, _ := dec.Token()
		var v json.RawMessage
		dec.Decode(&v)
		if slices.Contains(keys, k.(string)) {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(k)
		out = append(append(append(out, kb...), ':'), v...)
	}
	return append(out, '}')
}

func tokenTexts(text func(int) string, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = text(id)
	}
	return out
}

func orEmptyInts(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}
