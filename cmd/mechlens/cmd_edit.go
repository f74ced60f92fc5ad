package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/weights"
)

func init() { register(newEditCommand()) }

// editSubcommands are the subcommands of `mechlens edit`, one constructor each, so that the
// fact-editing commands (rome, memit, stats, eval) register in their own files.
var editSubcommands = []func() *cli.Command{
	newEditValueVectorCommand, newEditScaleNeuronCommand, newEditScaleHeadCommand, newEditProjectOutCommand,
	newEditRankOneCommand, newEditSteerCommand, newEditAblateCommand, newEditAttentionCommand,
	newEditShowCommand, newEditDiffCommand, newEditExportCommand,
	newEditROMECommand, newEditMEMITCommand, newEditStatsCommand, newEditEvalCommand, // cmd_edit_rome.go
}

func newEditCommand() *cli.Command {
	c := cli.NewCommand("edit", "edit KIND ... --to edits.json | show | diff | export",
		"Change a model's weights or activations: build, inspect, compare and export edit sets")
	c.Long = `An edit set is a JSON file of ordered edits, tied to the model it was made on (its name and
a hash of its weights) and to the weight processing it was made under. Each edit command
appends one edit to the file given by --to (created if missing); --edits FILE applies the set
on every command that runs a model; revert is exact (the set keeps what it overwrites).
Weight edits (value-vector, scale-neuron, scale-head, project-out, rank-one) can be exported
as a Hugging Face checkpoint; run-time interventions (steer, ablate, attention) cannot.`
	c.Example = `  $ mechlens edit scale-head --layer 1 --head 2 --factor 0 --to edits.json
  $ mechlens run --edits edits.json "Question: What is the capital of Fizeia? Answer Choices: A: Drebirk B: Deras Answer:"`
	for _, sub := range editSubcommands {
		c.Sub = append(c.Sub, sub())
	}
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		return cli.Usagef("edit: name a subcommand (mechlens edit help)")
	}
	return c
}

// editFlags are the flags every edit-making subcommand shares: the model (analysis
// processing by default, as the anchored-bias paper edits processed weights), --to and
// --note.
type editFlags struct {
	mf   *modelFlags
	to   *string
	note *string
	c    *cli.Command
}

func addEditFlags(c *cli.Command) *editFlags {
	return &editFlags{mf: addModelFlags(c, analysisProcessing), c: c,
		to:   c.Flags.String("to", "", "edit-set file to append to (created if missing; required)"),
		note: c.Flags.String("note", "", "a note kept with the edit")}
}

// editSetOptions are the options of every edit-making command: the model, the set file the
// edit is appended to (--to) and --note.
type editSetOptions struct {
	model    modelFlags
	to, note string
}

func (ef *editFlags) options() editSetOptions {
	return editSetOptions{model: *ef.mf, to: *ef.to, note: *ef.note}
}

// check refuses arguments, and a command line without --to or one of the required flags.
func (ef *editFlags) check(args []string, required ...string) error {
	if len(args) > 0 {
		return cli.Usagef("%s takes no arguments, got %q", ef.c.Name, args[0])
	}
	return requireFlags(ef.c, append([]string{"to"}, required...)...)
}

// open checks the flags, loads the model and the set to append to.
func (ef *editFlags) open(ctx context.Context, io *cli.IO, args []string, required ...string) (*gpt2.Model, *edit.Set, error) {
	if err := ef.check(args, required...); err != nil {
		return nil, nil, err
	}
	return ef.options().open(ctx, io)
}

// save appends e to the set of this run's --to and writes it.
func (ef *editFlags) save(io *cli.IO, m *gpt2.Model, s *edit.Set, e edit.Edit) error {
	return ef.options().save(io, m, s, e)
}

// open loads the model and the set to append to (a new one when o.to does not exist).
func (o editSetOptions) open(ctx context.Context, io *cli.IO) (*gpt2.Model, *edit.Set, error) {
	if err := checkOut("--to", o.to, false); err != nil {
		return nil, nil, err
	}
	m, err := o.model.open(ctx, io)
	if err != nil {
		return nil, nil, err
	}
	s, err := edit.Load(o.to)
	switch {
	case err == nil:
		if err := s.CheckModel(m, o.model.name()); err != nil {
			return nil, nil, fmt.Errorf("--to %s: %v", o.to, err)
		}
		if strings.Join(s.Processing, ",") != strings.Join(m.Processing, ",") {
			return nil, nil, fmt.Errorf("--to %s: its edits were made under processing %q, this command runs under %q: pass --process %s",
				o.to, strings.Join(s.Processing, ","), strings.Join(m.Processing, ","), orNone(s.Processing))
		}
	case errors.Is(err, fs.ErrNotExist) || !exists(o.to):
		s = edit.NewSet(m, o.model.name())
	default:
		return nil, nil, err
	}
	return m, s, nil
}

// save appends e to the set and writes it.
func (o editSetOptions) save(io *cli.IO, m *gpt2.Model, s *edit.Set, e edit.Edit) error {
	e.Note = strings.TrimSpace(strings.Join([]string{e.Note, o.note}, " "))
	e.Provenance = "mechlens " + strings.Join(os.Args[1:], " ")
	if err := s.Append(m, e); err != nil {
		return err
	}
	if err := s.Save(o.to); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%s: edit %d: %s\n", o.to, len(s.Edits), e)
	return nil
}

func orNone(p []string) string {
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ",")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// intList parses "1,2,-1".
func intList(flagName, s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, cli.Usagef("--%s: %q is not an integer", flagName, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func newEditValueVectorCommand() *cli.Command {
	c := cli.NewCommand("value-vector", "value-vector --layer L --neuron I (--sub TOKEN --add TOKEN [--alpha1 1 --alpha2 8] | --vector FILE [--mode add|set]) --to FILE",
		"Change one MLP neuron's value vector W_out[i]: the anchored-bias rule, or a vector added or set")
	c.Long = `The anchored-bias paper's rule (Li and Gao 2024): W_out[i] ← W_out[i] − α1·W_U[:, sub] +
α2·W_U[:, add], with W_U of the model as processed (the paper's setting by default). The
vector added is stored in the set, with the rule as its note.`
	c.Example = `  $ mechlens edit value-vector --layer 2 --neuron 220 --sub " A" --add " B" --to edits.json
  $ mechlens edit value-vector --layer 2 --neuron 221 --vector " B- A" --mode set --to edits.json`
	ef := addEditFlags(c)
	layer := c.Flags.Int("layer", 0, "layer L")
	neuron := c.Flags.Int("neuron", 0, "neuron index i")
	sub := c.Flags.String("sub", "", "token whose unembedding is subtracted (the anchor, e.g. \" A\")")
	add := c.Flags.String("add", "", "token whose unembedding is added (e.g. \" B\")")
	a1 := cli.Float(c.Flags, "alpha1", 1, math.Inf(-1), math.Inf(1), "α1, the weight of the subtracted token")
	a2 := cli.Float(c.Flags, "alpha2", 8, math.Inf(-1), math.Inf(1), "α2, the weight of the added token")
	vecFile := c.Flags.String("vector", "", "a vector file instead of the rule: JSON array or .safetensors")
	mode := cli.Choice(c.Flags, "mode", "add", []string{"add", "set"}, "with --vector: add it to the value vector, or set the value vector to it")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		rule := *sub != "" || *add != ""
		if rule == (*vecFile != "") {
			return cli.Usagef("value-vector: give --sub and --add, or --vector")
		}
		m, s, err := ef.open(ctx, io, args, "layer", "neuron")
		if err != nil {
			return err
		}
		var e edit.Edit
		if rule {
			if *sub == "" || *add == "" {
				return cli.Usagef("value-vector: the rule needs both --sub and --add")
			}
			for _, f := range [][2]string{{"sub", *sub}, {"add", *add}} {
				if _, err := edit.TokenID(m, f[1]); err != nil {
					return fmt.Errorf("--%s: %v", f[0], err)
				}
			}
			if e, err = edit.ValueVectorRule(m, *layer, *neuron, *sub, *add, *a1, *a2); err != nil {
				return err
			}
		} else {
			v, err := readVector(m, "vector", *vecFile)
			if err != nil {
				return err
			}
			e = edit.ValueVector(*layer, *neuron, v, *mode)
		}
		return ef.save(io, m, s, e)
	}
	return c
}

func newEditScaleNeuronCommand() *cli.Command {
	return newEditScaleCommand("neuron", "neuron index i", "Scale one MLP neuron's value vector (0 ablates the neuron)",
		`  $ mechlens edit scale-neuron --layer 2 --neuron 220 --factor 0 --to edits.json`, edit.ScaleNeuron)
}

func newEditScaleHeadCommand() *cli.Command {
	return newEditScaleCommand("head", "head H", "Scale what one attention head writes: its rows of W_O (0 ablates it; b_O, shared by all heads, stays)",
		`  $ mechlens edit scale-head --layer 1 --head 2 --factor 0 --to edits.json`, edit.ScaleHead)
}

// newEditScaleCommand is scale-neuron or scale-head: --layer, --UNIT and --factor.
func newEditScaleCommand(unit, unitUsage, short, example string, mk func(layer, i int, f float64) edit.Edit) *cli.Command {
	c := cli.NewCommand("scale-"+unit, fmt.Sprintf("scale-%s --layer L --%s I --factor F --to FILE", unit, unit), short)
	c.Example = example
	ef := addEditFlags(c)
	layer := c.Flags.Int("layer", 0, "layer L")
	index := c.Flags.Int(unit, 0, unitUsage)
	factor := cli.Float(c.Flags, "factor", 0, math.Inf(-1), math.Inf(1), "the factor (0 ablates)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		m, s, err := ef.open(ctx, io, args, "layer", unit, "factor")
		if err != nil {
			return err
		}
		return ef.save(io, m, s, mk(*layer, *index, *factor))
	}
	return c
}

// readVector reads a vector flag: a vector file (edit.ReadVector: JSON, FILE.safetensors,
// FILE.safetensors:NAME, FILE.safetensors:NAME[ROW]), or TOKEN-TOKEN (W_U[:,a] − W_U[:,b],
// e.g. " B- A").
func readVector(m *gpt2.Model, flagName, spec string) ([]float32, error) {
	file, _, _ := strings.Cut(spec, ".safetensors:")
	if exists(spec) || exists(file+".safetensors") || strings.HasSuffix(spec, ".json") {
		return edit.ReadVector(spec)
	}
	i := strings.Index(spec[min(1, len(spec)):], "-")
	if i < 0 {
		return nil, cli.Usagef("--%s %q: want a vector file or TOKEN-TOKEN (e.g. \" B- A\")", flagName, spec)
	}
	i++
	v, err := edit.TokenDirection(m, spec[:i], spec[i+1:])
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %v", flagName, spec, err)
	}
	return v, nil
}

func newEditProjectOutCommand() *cli.Command {
	c := cli.NewCommand("project-out", "project-out --layer L (--head H | --neurons I,J,...) --direction (TOKEN-TOKEN | FILE) --to FILE",
		"Remove a direction from what a head or a set of neurons writes: W ← W(I − d dᵀ)")
	c.Long = `d is the direction centered (its mean over d_model removed: the next layer norm removes that
part anyway) and normalized. TOKEN-TOKEN is W_U[:, a] − W_U[:, b], e.g. " A- B".`
	c.Example = `  $ mechlens edit project-out --layer 1 --head 2 --direction " A- B" --to edits.json
  $ mechlens edit project-out --layer 2 --neurons 220,5 --direction " A- C" --to edits.json`
	ef := addEditFlags(c)
	layer := c.Flags.Int("layer", 0, "layer L")
	head := c.Flags.Int("head", -1, "head H")
	neurons := c.Flags.String("neurons", "", "comma-separated neuron indices")
	dir := c.Flags.String("direction", "", "TOKEN-TOKEN, or a vector file (JSON array or .safetensors)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		if (*head >= 0) == (*neurons != "") {
			return cli.Usagef("project-out: give --head or --neurons")
		}
		ns, err := intList("neurons", *neurons)
		if err != nil {
			return err
		}
		m, s, err := ef.open(ctx, io, args, "layer", "direction")
		if err != nil {
			return err
		}
		d, err := readVector(m, "direction", *dir)
		if err != nil {
			return err
		}
		e := edit.ProjectOutNeurons(*layer, ns, d)
		if *head >= 0 {
			e = edit.ProjectOutHead(*layer, *head, d)
		}
		e.Note = "direction " + *dir
		return ef.save(io, m, s, e)
	}
	return c
}

func newEditRankOneCommand() *cli.Command {
	c := cli.NewCommand("rank-one", "rank-one --layer L --matrix mlp.W_out --u FILE --v FILE --to FILE",
		"Add a rank-one matrix u·vᵀ to a block's W_out, W_in or W_O (the form ROME writes)")
	c.Example = `  $ mechlens trace "The capital of Fizeia is" --hooks blocks.1.mlp.hook_post,blocks.2.hook_resid_pre --out t.safetensors
  $ mechlens edit rank-one --layer 1 --u "t.safetensors:blocks.1.mlp.hook_post[-1]" --v "t.safetensors:blocks.2.hook_resid_pre[-1]" --to edits.json`
	ef := addEditFlags(c)
	layer := c.Flags.Int("layer", 0, "layer L")
	matrix := c.Flags.String("matrix", gpt2.MatrixWOut, "mlp.W_out [d_mlp, d_model], mlp.W_in [d_model, d_mlp] or attn.W_O [d_model, d_model]")
	uf := c.Flags.String("u", "", "u, the left vector (rows): a vector file")
	vf := c.Flags.String("v", "", "v, the right vector (columns): a vector file")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		m, s, err := ef.open(ctx, io, args, "layer", "u", "v")
		if err != nil {
			return err
		}
		u, err := readVector(m, "u", *uf)
		if err != nil {
			return err
		}
		v, err := readVector(m, "v", *vf)
		if err != nil {
			return err
		}
		return ef.save(io, m, s, edit.RankOne(*layer, *matrix, u, v))
	}
	return c
}

func newEditSteerCommand() *cli.Command {
	c := cli.NewCommand("steer", "steer --hook NAME --vector FILE --alpha A [--head H] [--pos P,...] --to FILE",
		"Add α·vector to an activation at every run (a run-time intervention)")
	c.Example = `  $ mechlens edit steer --hook blocks.1.hook_resid_post --vector " B- A" --alpha 4 --pos -1 --to edits.json`
	ef := addEditFlags(c)
	hook := c.Flags.String("hook", "", "hook point (TransformerLens name)")
	vecFile := c.Flags.String("vector", "", "the vector file (its size is the hook's last dimension)")
	alpha := cli.Float(c.Flags, "alpha", 1, math.Inf(-1), math.Inf(1), "α")
	head := c.Flags.Int("head", -1, "head, for hook points with a head dimension")
	pos := c.Flags.String("pos", "", "positions (negative from the end; default all)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		ps, err := intList("pos", *pos)
		if err != nil {
			return err
		}
		m, s, err := ef.open(ctx, io, args, "hook", "vector")
		if err != nil {
			return err
		}
		v, err := readVector(m, "vector", *vecFile)
		if err != nil {
			return err
		}
		return ef.save(io, m, s, edit.Steer(*hook, *head, ps, *alpha, v))
	}
	return c
}

func newEditAblateCommand() *cli.Command {
	c := cli.NewCommand("ablate", "ablate --hook NAME [--head H] [--mode zero|mean] [--pos P,...] --to FILE",
		"Zero or mean-ablate an activation (or one head's part of it) at every run")
	c.Long = `Mean ablation replaces each chosen position's vector by the mean over the sequence's
positions of the same run.`
	c.Example = `  $ mechlens edit ablate --hook blocks.1.attn.hook_z --head 2 --pos -1 --to edits.json`
	ef := addEditFlags(c)
	hook := c.Flags.String("hook", "", "hook point (TransformerLens name)")
	head := c.Flags.Int("head", -1, "head, for hook points with a head dimension")
	mode := cli.Choice(c.Flags, "mode", "zero", []string{"zero", "mean"}, "zero, or the mean over the sequence's positions")
	pos := c.Flags.String("pos", "", "positions (negative from the end; default all)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		ps, err := intList("pos", *pos)
		if err != nil {
			return err
		}
		m, s, err := ef.open(ctx, io, args, "hook")
		if err != nil {
			return err
		}
		return ef.save(io, m, s, edit.Ablate(*hook, *head, *mode, ps))
	}
	return c
}

func newEditAttentionCommand() *cli.Command {
	c := cli.NewCommand("attention", "attention --layer L --head H (--keys K,... | --letters) (--scale F | --swap) [--query Q] --to FILE",
		"Recalibrate one head's attention at the query position: scale or swap the weights on keys, then renormalize")
	c.Long = `--letters picks the answer options' letter tokens (" A", " B", … after --marker), as 'heads'
finds them; --keys gives key positions (negative from the end). --swap exchanges the first
two keys' weights. The row is renormalized to sum to one.`
	c.Example = `  $ mechlens edit attention --layer 2 --head 0 --letters --scale 0 --to edits.json
  $ mechlens edit attention --layer 2 --head 0 --keys 3,5 --swap --to edits.json`
	ef := addEditFlags(c)
	layer := c.Flags.Int("layer", 0, "layer L")
	head := c.Flags.Int("head", 0, "head H")
	keys := cli.Text(c.Flags, "keys", "", "key positions")
	letters := c.Flags.Bool("letters", false, "act on the option letters")
	marker := c.Flags.String("marker", "", "text before the options (default \"Answer Choices:\")")
	scale := cli.Float(c.Flags, "scale", 1, 0, math.Inf(1), "multiply the keys' weights by this")
	swap := c.Flags.Bool("swap", false, "swap the first two keys' weights")
	query := c.Flags.Int("query", -1, "query position (negative from the end)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		ks, err := intList("keys", *keys)
		if err != nil {
			return err
		}
		if *swap == flagSet(c.Flags, "scale") {
			return cli.Usagef("attention: give --scale F or --swap")
		}
		if (len(ks) > 0) == *letters {
			return cli.Usagef("attention: give --keys or --letters")
		}
		m, s, err := ef.open(ctx, io, args, "layer", "head")
		if err != nil {
			return err
		}
		var e edit.Edit
		if *swap {
			if len(ks) != 2 && !*letters {
				return cli.Usagef("attention --swap: give two --keys")
			}
			e = edit.AttentionScale(*layer, *head, *query, ks, *letters, 1)
			e.Mode, e.Factor = "swap", nil
		} else {
			e = edit.AttentionScale(*layer, *head, *query, ks, *letters, *scale)
		}
		e.Marker = *marker
		return ef.save(io, m, s, e)
	}
	return c
}

// givenFlags records which of --model and --process a command line gave: a command that
// reads an edit set takes the others from the set.
type givenFlags struct{ model, process bool }

func givenModelFlags(c *cli.Command) givenFlags {
	return givenFlags{model: flagSet(c.Flags, "model"), process: flagSet(c.Flags, "process")}
}

// setSource is where a command that reads an edit set starts: its model flags (the set is
// model.edits) and which of them the command line gave.
type setSource struct {
	model modelFlags
	given givenFlags
}

// load loads the set and the model named by --model (or, when not given, the set's own
// model) under --process, else the set's processing (raw weights when raw). It sets
// src.model to what it loaded.
func (src *setSource) load(ctx context.Context, io *cli.IO, raw bool) (*gpt2.Model, *edit.Set, error) {
	mf, given, path := &src.model, src.given, *src.model.edits
	s, err := edit.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if !given.model && !strings.HasPrefix(s.Model.Name, "random:") {
		mf.spec = s.Model.Name
	}
	var process []string
	switch {
	case raw:
		process = []string{"none"}
	case !given.process:
		process = strings.Split(orNone(s.Processing), ",")
	}
	if process != nil {
		mf.process = &process
	}
	m, err := mf.openBase(ctx, io)
	if err != nil {
		return nil, nil, err
	}
	if err := s.CheckModel(m, mf.name()); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, s, nil
}

type editShowRow struct {
	Index   int     `json:"index"`
	Kind    string  `json:"kind"`
	Edit    string  `json:"edit"`
	Runtime bool    `json:"runtime"`
	Rows    int     `json:"rows"`        // weight rows changed (0 for run-time interventions)
	Norm    float64 `json:"change_norm"` // ‖ΔW‖_F of a weight edit; α‖v‖ of a steer
}

func newEditShowCommand() *cli.Command {
	c := cli.NewCommand("show", "show --edits FILE", "List an edit set: each edit with the size of its change")
	c.Example = `  $ mechlens edit scale-head --layer 1 --head 2 --factor 0 --to edits.json
  $ mechlens edit show --edits edits.json --json`
	mf := addModelFlags(c, "")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		o := editShowOptions{setSource: setSource{*mf, givenModelFlags(c)}}
		var err error
		if o.format, err = format(); err != nil {
			return err
		}
		if err := requireFlags(c, "edits"); err != nil {
			return err
		}
		return runEditShow(ctx, io, o)
	}
	return c
}

// editShowOptions are mechlens edit show's flags: the edit set is model.edits.
type editShowOptions struct {
	setSource
	format cli.Format
}

// runEditShow prints each edit of the set with the size of its change on the model.
func runEditShow(ctx context.Context, io *cli.IO, o editShowOptions) error {
	m, s, err := o.load(ctx, io, false)
	if err != nil {
		return err
	}
	sizes, err := s.Sizes(m)
	if err != nil {
		return fmt.Errorf("--edits %s: %v", *o.model.edits, err)
	}
	out := struct {
		Model      edit.ModelRef `json:"model"`
		Processing []string      `json:"processing"`
		Edits      []editShowRow `json:"edits"`
	}{s.Model, orEmpty(s.Processing), []editShowRow{}}
	rows := &cli.Rows{Header: []string{"#", "kind", "edit", "rows", "change_norm"}}
	for i, e := range s.Edits {
		r := editShowRow{i + 1, e.Kind, e.String(), e.IsRuntime(), sizes[i].Rows, sizes[i].Norm}
		out.Edits = append(out.Edits, r)
		rows.Add(r.Index, r.Kind, r.Edit, r.Rows, r.Norm)
	}
	return cli.Write(io, o.format, rows, out, false)
}

type editDiffPrompt struct {
	Prompt   string      `json:"prompt"`
	Base     []tokenProb `json:"base"`
	Edited   []tokenProb `json:"edited"`
	KL       float64     `json:"kl"` // KL(base ‖ edited) of the next-token distribution
	BaseDiff *float64    `json:"base_logit_diff,omitempty"`
	EditDiff *float64    `json:"edited_logit_diff,omitempty"`
}

func newEditDiffCommand() *cli.Command {
	c := cli.NewCommand("diff", "diff --edits FILE PROMPT... [--top K] [--pair TARGET,DISTRACTOR]",
		"Compare the base and the edited model on prompts: top-k next tokens, KL, a logit difference")
	c.Example = `  $ mechlens edit scale-head --layer 1 --head 2 --factor 0 --to edits.json
  $ mechlens edit diff --edits edits.json "Question: What is the capital of Fizeia? Answer Choices: A: Drebirk B: Deras Answer:" --pair " B"," A"`
	mf := addModelFlags(c, "")
	o := &editDiffOptions{}
	cli.IntVar(c.Flags, &o.top, "top", 5, 1, 1000, "tokens shown per model")
	c.Flags.StringVar(&o.pair, "pair", "", "two tokens, comma-separated: report logit(first) − logit(second)")
	bos := addBOSFlag(c)
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.setSource, opts.bos, opts.prompts = setSource{*mf, givenModelFlags(c)}, bos.choice(), args
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		if err := requireFlags(c, "edits"); err != nil {
			return err
		}
		if len(args) == 0 {
			return cli.Usagef("diff: give at least one prompt")
		}
		return runEditDiff(ctx, io, opts)
	}
	return c
}

// editDiffOptions are mechlens edit diff's flags and prompts; the edit set is model.edits.
type editDiffOptions struct {
	setSource
	prompts []string
	pair    string
	top     int
	bos     bosChoice // decided for the model the set names when --model is not given
	format  cli.Format
}

// runEditDiff runs each prompt on the base and the edited model and prints both top-k
// lists, their KL and the --pair logit difference.
func runEditDiff(ctx context.Context, io *cli.IO, o editDiffOptions) error {
	base, s, err := o.load(ctx, io, false)
	if err != nil {
		return err
	}
	mf := &o.model // as loaded
	ed := base.Clone()
	if _, err := s.Apply(ed); err != nil {
		return fmt.Errorf("--edits %s: %v", *mf.edits, err)
	}
	var pairIDs []int
	if o.pair != "" {
		a, b, ok := strings.Cut(o.pair, ",")
		if !ok {
			return cli.Usagef("--pair %q: want TARGET,DISTRACTOR", o.pair)
		}
		for _, t := range []string{a, b} {
			id, err := edit.TokenID(base, t)
			if err != nil {
				return cli.Usagef("--pair: %v", err)
			}
			pairIDs = append(pairIDs, id)
		}
	}
	out := struct {
		Model      string           `json:"model"`
		Processing []string         `json:"processing"`
		Edits      []string         `json:"edits"`
		Prompts    []editDiffPrompt `json:"prompts"`
	}{mf.name(), orEmpty(base.Processing), ed.Edits, nil}
	rows := &cli.Rows{Header: []string{"prompt", "rank", "base", "base_prob", "edited", "edited_prob", "kl"}}
	for i, p := range o.prompts {
		ids, err := promptIDs(base, p, "", "", o.bos.want(mf.spec))
		if err != nil && len(o.prompts) > 1 {
			return fmt.Errorf("prompt %d: %w", i+1, err)
		}
		if err != nil {
			return err
		}
		var logits [2][]float32
		for i, m := range []*gpt2.Model{base, ed} {
			res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast})
			if err != nil {
				return err
			}
			logits[i] = append([]float32(nil), res.Logits[0]...)
			res.Release()
		}
		d := editDiffPrompt{Prompt: p, Base: topK(base, logits[0], o.top), Edited: topK(ed, logits[1], o.top), KL: kl(logits[0], logits[1])}
		if pairIDs != nil {
			b := float64(logits[0][pairIDs[0]] - logits[0][pairIDs[1]])
			e := float64(logits[1][pairIDs[0]] - logits[1][pairIDs[1]])
			d.BaseDiff, d.EditDiff = &b, &e
		}
		out.Prompts = append(out.Prompts, d)
		for r := range d.Base {
			rows.Add(p, r+1, quote(d.Base[r].Token), d.Base[r].Prob, quote(d.Edited[r].Token), d.Edited[r].Prob, d.KL)
		}
		if pairIDs != nil {
			rows.Add(p, "diff", o.pair, *d.BaseDiff, o.pair, *d.EditDiff, d.KL)
		}
	}
	return cli.Write(io, o.format, rows, out, false)
}

// kl is KL(softmax(p) ‖ softmax(q)).
func kl(p, q []float32) float64 {
	lp, lq := tensor.LogSumExp(p), tensor.LogSumExp(q)
	var s float64
	for i := range p {
		a, b := float64(p[i])-lp, float64(q[i])-lq
		s += math.Exp(a) * (a - b)
	}
	return math.Max(s, 0)
}

func newEditExportCommand() *cli.Command {
	c := cli.NewCommand("export", "export --edits FILE --out DIR [--dtype F32|source|F16|BF16]",
		"Write the edited model as a Hugging Face folder (raw weights; loadable by transformers and --model DIR)")
	c.Long = `The set is applied to the model's raw weights (edits made under processing carry over exactly
where they can, and are refused where they cannot), and the folder gets config.json,
model.safetensors and the tokenizer files. F32 by default, so that the exported model runs
as the edited one; --dtype source keeps the checkpoint's own dtype (edited rows rounded to
it). Run-time interventions cannot be exported: a set holding one is refused by name.`
	c.Example = `  $ mechlens edit scale-head --layer 1 --head 2 --factor 0.5 --to edits.json
  $ mechlens edit export --edits edits.json --out edited-model
  $ mechlens run --model ./edited-model --bos "Question: What is the capital of Fizeia? Answer Choices: A: Drebirk B: Deras Answer:"`
	mf := addModelFlags(c, "")
	o := &editExportOptions{}
	c.Flags.StringVar(&o.out, "out", "", "folder to write (required)")
	cli.ChoiceVar(c.Flags, &o.dtype, "dtype", "F32", []string{"F32", "F16", "BF16", "source"}, "dtype of the written weights; source: the loaded checkpoint's")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.setSource = setSource{*mf, givenModelFlags(c)}
		if err := requireFlags(c, "edits", "out"); err != nil {
			return err
		}
		return runEditExport(ctx, io, opts)
	}
	return c
}

// editExportOptions are mechlens edit export's flags: the edit set is model.edits.
type editExportOptions struct {
	setSource
	out, dtype string
}

// runEditExport applies the set to the model's raw weights and writes them as a Hugging
// Face folder.
func runEditExport(ctx context.Context, io *cli.IO, o editExportOptions) error {
	mf := &o.model
	if err := checkOut("--out", o.out, true); err != nil {
		return err
	}
	s, err := edit.Load(*mf.edits)
	if err != nil {
		return err
	}
	for i, e := range s.Edits {
		if e.IsRuntime() {
			return fmt.Errorf("edit %d (%s) is a run-time intervention, which a checkpoint cannot hold: apply the set with --edits instead, or remove it", i+1, e)
		}
	}
	m, s, err := o.load(ctx, io, true)
	if err != nil {
		return err
	}
	if _, err := s.Apply(m); err != nil {
		return fmt.Errorf("--edits %s: %v", *mf.edits, err)
	}
	dt := weights.DType(o.dtype)
	if dt == "source" {
		dt = gpt2.SourceDType(m)
	}
	if err := gpt2.SaveDir(o.out, m, dt); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "wrote %s: %d edits applied to %s, %s weights\n", o.out, len(s.Edits), s.Model.Name, dt)
	return nil
}
