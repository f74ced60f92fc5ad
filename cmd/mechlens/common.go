package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	goio "io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/gpt2/gpt2tok"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/modelspec"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/toy"
	"github.com/mechlens/mechlens/weights"
)

// embedded is the model a command runs without --model: the organism toy embeds (a variable
// so that tests can stand a smaller model in).
var embedded = toy.Organism

// randomTokenizers are what random: models borrow, by vocabulary size: the organism's (loaded
// alone, without its weights) and GPT-2's (embedded in the binary by gpt2tok).
var randomTokenizers = []func() (*gpt2.Tokenizer, error){toy.Tokenizer, gpt2tok.Tokenizer}

// modelFlags are the flags of every command that loads a model.
type modelFlags struct {
	spec    string
	seed    uint64
	threads *int
	process *[]string
	edits   *string
	weights *string
	kernel  *string
}

// analysisProcessing is what lens-style commands apply unless --process says otherwise: the
// anchored-bias paper's setting (TransformerLens's defaults without fold_value_biases).
const analysisProcessing = "fold_ln,center_writing_weights,center_unembed"

// addModelFlags adds --model, --seed, --threads, --process (default process: the weight
// processing this command applies unless told otherwise; "" means raw weights), --edits,
// --weights and --kernel.
func addModelFlags(c *cli.Command, process string) *modelFlags {
	f := &modelFlags{}
	c.Flags.StringVar(&f.spec, "model", "", "model: a local folder, a hub name (gpt2, gpt2-medium, owner/name@rev) or random:NAME (default: the embedded model)")
	c.Flags.Uint64Var(&f.seed, "seed", 0, "seed of random: models")
	f.threads = addThreadsFlag(c)
	f.process = cli.List(c.Flags, "process", process, processSteps, "weight processing, comma-separated (fold_ln, center_writing_weights, center_unembed, fold_value_biases); 'none' for raw weights")
	f.edits = cli.Text(c.Flags, "edits", "", "apply the edit set in this file (made by 'mechlens edit') before running")
	f.weights = cli.Choice(c.Flags, "weights", "f32", tensor.WeightTypes, "how the weight matrices are kept: f32, or bf16 for half the memory (activations and hooks stay float32; the avx512bf16 kernel also rounds a product's activations to bfloat16, --kernel avx512 does not)")
	f.kernel = cli.Text(c.Flags, "kernel", "", "micro-kernels for the products instead of this CPU's default ("+tensor.DefaultKernel()+"): "+strings.Join(tensor.Kernels(), ", "))
	return f
}

// processSteps are the values --process takes.
var processSteps = []string{"none", "fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases"}

// addThreadsFlag adds --threads: 0 for all cores, at most maxThreads.
func addThreadsFlag(c *cli.Command) *int {
	return cli.Int(c.Flags, "threads", 0, 0, maxThreads, "threads for matrix products (default: all cores)")
}

// maxThreads bounds --threads: far more threads than cores only costs memory and switches.
var maxThreads = max(256, 8*runtime.NumCPU())

// open loads the model, applies the processing and the edit set, and sets the thread count.
func (f *modelFlags) open(ctx context.Context, io *cli.IO) (*gpt2.Model, error) {
	m, err := f.openBase(ctx, io)
	if err != nil || *f.edits == "" {
		return m, err
	}
	s, err := edit.Load(*f.edits)
	if err != nil {
		return nil, err
	}
	if err := s.CheckModel(m, f.name()); err != nil {
		return nil, fmt.Errorf("--edits %s: %v", *f.edits, err)
	}
	if _, err := s.Apply(m); err != nil {
		return nil, fmt.Errorf("--edits %s: %v", *f.edits, err)
	}
	return m, nil
}

// openBase is open without --edits.
func (f *modelFlags) openBase(ctx context.Context, io *cli.IO) (*gpt2.Model, error) {
	tensor.SetThreads(*f.threads)
	if err := tensor.SetKernel(f.kernelName()); err != nil {
		return nil, cli.Usagef("--kernel: %v", err)
	}
	h := weights.HubFromEnv()
	if io.ErrTTY {
		h.Progress = io.Err
	}
	wt, err := tensor.ParseWeightType(*f.weights)
	if err != nil {
		return nil, err
	}
	m, err := modelspec.Open(ctx, f.spec, modelspec.Options{Seed: f.seed, Hub: h, Embedded: embedded, Tokenizers: randomTokenizers, Load: gpt2.LoadOptions{Weights: wt}})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if steps := f.steps(); len(steps) > 0 {
		if err := m.Process(steps...); err != nil {
			return nil, err
		}
	}
	return m, ctx.Err()
}

// newAnalyzer returns the analyses of m, cancelled with ctx.
func newAnalyzer(ctx context.Context, m *gpt2.Model) *lens.Analyzer {
	a := lens.New(m)
	a.Context = ctx
	return a
}

func (f *modelFlags) steps() []string {
	if slices.Contains(*f.process, "none") {
		return nil
	}
	return *f.process
}

// name is how outputs identify the model; bfloat16 weights, which change every number a
// little, are named in it, and so are bfloat16 products (avx512bf16), which change them
// a little more.
func (f *modelFlags) name() string {
	name := f.spec
	switch {
	case modelspec.IsDefault(f.spec):
		name = modelspec.DefaultName
	case strings.HasPrefix(f.spec, "random:"):
		name = fmt.Sprintf("%s (seed %d)", f.spec, f.seed)
	}
	if *f.weights != "f32" {
		name += ", " + *f.weights + " weights"
		if tensor.RoundsActivations(f.kernelName()) {
			name += " and products"
		}
	}
	return name
}

// kernelName is the kernel set the products run on: --kernel, else this CPU's default.
func (f *modelFlags) kernelName() string {
	if *f.kernel != "" {
		return *f.kernel
	}
	return tensor.DefaultKernel()
}

// promptIDs tokenizes a prompt, or parses ids "1,2,3" (the value of the flag idsFlag, ""
// for a command without one) when given; an empty prompt or one longer than the context is
// an error.
func promptIDs(m *gpt2.Model, prompt, ids, idsFlag string, bos bool) ([]int, error) {
	var out []int
	switch {
	case ids != "":
		for _, s := range strings.Split(ids, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil, cli.Usagef("%s: %q is not a token id", idsFlag, s)
			}
			out = append(out, id)
		}
	case m.Tokenizer == nil && idsFlag == "":
		return nil, fmt.Errorf("this model has no tokenizer")
	case m.Tokenizer == nil:
		return nil, fmt.Errorf("this model has no tokenizer: pass %s", idsFlag)
	default:
		out = m.Tokenizer.Encode(prompt)
	}
	if bos {
		if m.Tokenizer == nil || m.Tokenizer.EOT() < 0 {
			return nil, fmt.Errorf("--bos: this model has no <|endoftext|> token")
		}
		out = append([]int{m.Tokenizer.EOT()}, out...)
	}
	if len(out) == 0 {
		return nil, cli.Usagef("the prompt is empty")
	}
	if len(out) > m.Config.NCtx {
		return nil, fmt.Errorf("the prompt has %d tokens, more than the model's context of %d", len(out), m.Config.NCtx)
	}
	for _, id := range out {
		if id < 0 || id >= m.Config.DVocab {
			return nil, fmt.Errorf("token id %d is outside the vocabulary [0, %d)", id, m.Config.DVocab)
		}
	}
	return out, nil
}

// oneArg returns the single positional argument (or standard input's content for "-").
func oneArg(io *cli.IO, args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", cli.Usagef("want exactly one %s, got %d arguments", what, len(args))
	}
	if args[0] == "-" {
		return readStdin(io)
	}
	return args[0], nil
}

// readStdin reads standard input whole, less one trailing newline: echo and editors end
// what they write with one, and a prompt given as an argument has none (the newline would
// otherwise be a token of the prompt and change the answer).
func readStdin(io *cli.IO) (string, error) {
	b, err := goio.ReadAll(io.In)
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), err
}

// promptFlags are --ids and --bos of the commands that read one prompt.
type promptFlags struct {
	ids *string
	bos bosFlag
}

func addPromptFlags(c *cli.Command) *promptFlags {
	return &promptFlags{
		ids: cli.Text(c.Flags, "ids", "", "comma-separated token ids instead of a prompt"),
		bos: addBOSFlag(c),
	}
}

// bosFlag is --bos of every command that tokenizes a prompt, so that all of them follow one
// rule (want).
type bosFlag struct {
	on  *bool
	cmd *cli.Command // its flag set is new at every parse: read it there
}

func addBOSFlag(c *cli.Command) bosFlag {
	return bosFlag{cmd: c,
		on: c.Flags.Bool("bos", false, "prepend <|endoftext|> (the anchored-bias paper does; default on for the embedded model, which was trained that way)")}
}

// want is --bos when given; otherwise on for the embedded organism, which saw
// <|endoftext|> at the start of every training row, and off for other models (as Hugging
// Face's GPT-2 tokenizer does).
func (b bosFlag) want(mf *modelFlags) bool { return b.choice().want(mf.spec) }

// bosChoice is --bos as the command line gave it, for the options of a command that learns
// its model late (edit diff reads it from the edit set).
type bosChoice struct{ given, on bool }

func (b bosFlag) choice() bosChoice { return bosChoice{given: flagSet(b.cmd.Flags, "bos"), on: *b.on} }

// want follows bosFlag.want's rule for the model spec.
func (c bosChoice) want(spec string) bool {
	if c.given {
		return c.on
	}
	return modelspec.IsDefault(spec)
}

// flagSet reports whether the command line gave flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// open reads the prompt (one argument, "-" for standard input, or --ids), loads the model
// and tokenizes the prompt, refusing one longer than the context.
func (p *promptFlags) open(ctx context.Context, io *cli.IO, mf *modelFlags, args []string) (*gpt2.Model, []int, error) {
	in, err := p.input(io, mf, args)
	if err != nil {
		return nil, nil, err
	}
	return in.open(ctx, io, mf)
}

// promptInput is the prompt in a command's options: its text or --ids, and --bos as want
// decided it.
type promptInput struct {
	text, ids string
	bos       bool
}

// input reads the prompt off the command line: one argument ("-" for standard input) or
// --ids, not both.
func (p *promptFlags) input(io *cli.IO, mf *modelFlags, args []string) (promptInput, error) {
	in := promptInput{ids: *p.ids, bos: p.bos.want(mf)}
	if in.ids != "" && len(args) > 0 {
		return in, cli.Usagef("give a prompt or --ids, not both")
	}
	var err error
	if in.ids == "" {
		in.text, err = oneArg(io, args, "prompt")
	}
	return in, err
}

// open loads the model and tokenizes the prompt, refusing one longer than the context.
func (in promptInput) open(ctx context.Context, io *cli.IO, mf *modelFlags) (*gpt2.Model, []int, error) {
	m, err := mf.open(ctx, io)
	if err != nil {
		return nil, nil, err
	}
	ids, err := promptIDs(m, in.text, in.ids, "--ids", in.bos)
	return m, ids, err
}

// checkOwnFolder refuses an output folder that holds one of files (the names the command
// writes there) but none of its markers (globs of files only the command writes): those
// files are another command's outputs, which the run would replace.
func checkOwnFolder(flagName, dir string, markers []string, files ...string) error {
	for _, m := range markers {
		if found, _ := filepath.Glob(filepath.Join(dir, m)); len(found) > 0 {
			return nil
		}
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%s %s already holds %s, which another command wrote and this one would replace: choose another folder", flagName, dir, f)
		}
	}
	return nil
}

// checkOut refuses, before any long work, an output path that cannot be written: a file
// where a folder goes (dir) or a folder where a file goes, a file whose folder is missing,
// or a folder not writable. Every command with an output path calls it before loading a
// model, so that a mistake costs nothing (toy train would fail after training).
func checkOut(flagName, path string, dir bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && dir && !st.IsDir():
		return fmt.Errorf("%s %s is a file, not a folder", flagName, path)
	case err == nil && !dir && st.IsDir():
		return fmt.Errorf("%s %s is a folder, not a file", flagName, path)
	case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s: %w", flagName, err)
	}
	// Writes go to a temp file in the target's folder: that folder, or for a folder yet to be
	// made, its nearest existing ancestor, must take a new file.
	at := filepath.Dir(path)
	if dir && err == nil {
		at = path
	}
	for dir {
		st, err := os.Stat(at)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s %s: %s is a file, not a folder", flagName, path, at)
			}
			break
		}
		if up := filepath.Dir(at); up != at {
			at = up
			continue
		}
		break
	}
	f, err := os.CreateTemp(at, ".mechlens-probe-*")
	if err != nil {
		// A folder that exists can refuse new files with ENOENT too (/proc).
		if _, serr := os.Stat(at); errors.Is(err, fs.ErrNotExist) && serr != nil {
			return fmt.Errorf("%s %s: folder %s does not exist", flagName, path, at)
		}
		return fmt.Errorf("%s %s: cannot write in %s: %v", flagName, path, at, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// requireFlags refuses a command line that lacks one of the named flags.
func requireFlags(c *cli.Command, names ...string) error {
	set := map[string]bool{}
	c.Flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return cli.Usagef("%s: --%s is required", c.Name, n)
		}
	}
	return nil
}
