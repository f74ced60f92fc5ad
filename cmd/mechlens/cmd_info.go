package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/weights"
)

func init() { register(newInfoCommand()) }

type fileInfo struct {
	Name   string         `json:"name"`
	Bytes  int64          `json:"bytes"`
	DTypes map[string]int `json:"dtypes,omitempty"` // tensor count per dtype (safetensors only)
}

type infoOutput struct {
	Model      string      `json:"model"`
	Config     gpt2.Config `json:"config"`
	Params     int         `json:"n_params"`
	TiedEmbed  bool        `json:"tied_embeddings"`
	Tokenizer  bool        `json:"tokenizer"`
	Processing []string    `json:"processing"`
	Weights    string      `json:"weights"` // how the weight matrices are held in memory: "f32" or "bf16" (--weights)
	Edits      []string    `json:"edits"`   // the edits applied (--edits), one line each
	Folder     string      `json:"folder,omitempty"`
	Files      []fileInfo  `json:"files"`
}

// dtypeCounts reads "148 F32, 2 F16": the tensors of a file by dtype, most first.
func dtypeCounts(m map[string]int) string {
	var ds []string
	for d := range m {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return m[ds[i]] > m[ds[j]] || m[ds[i]] == m[ds[j]] && ds[i] < ds[j] })
	for i, d := range ds {
		ds[i] = fmt.Sprintf("%d %s", m[d], d)
	}
	return strings.Join(ds, ", ")
}

func newInfoCommand() *cli.Command {
	c := cli.NewCommand("info", "info [--model MODEL]", "Config, parameter count, dtypes and files of a model")
	c.Example = "  $ mechlens info\n  $ mechlens info --model gpt2 --json"
	mf := addModelFlags(c, "")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		o := infoOptions{model: *mf}
		var err error
		if o.format, err = format(); err != nil {
			return err
		}
		if len(args) > 0 {
			return cli.Usagef("info takes no argument (use --model)")
		}
		return runInfo(ctx, io, o)
	}
	return c
}

// infoOptions are mechlens info's flags.
type infoOptions struct {
	model  modelFlags
	format cli.Format
}

// runInfo prints the model's config, parameter count and files.
func runInfo(ctx context.Context, io *cli.IO, o infoOptions) error {
	m, err := o.model.open(ctx, io)
	if err != nil {
		return err
	}
	out := infoOutput{Model: o.model.name(), Config: m.Config, Params: m.Config.NParams(), TiedEmbed: m.TiedEmbeddings(),
		Tokenizer: m.Tokenizer != nil, Processing: orEmpty(m.Processing), Weights: m.WeightType().String(), Edits: orEmpty(m.Edits), Folder: m.Source, Files: []fileInfo{}}
	if !out.TiedEmbed {
		out.Params += m.Config.DVocab * m.Config.DModel
	}
	if m.Source != "" {
		entries, err := os.ReadDir(m.Source)
		if err != nil {
			return err
		}
		for _, e := range entries {
			st, err := os.Stat(filepath.Join(m.Source, e.Name()))
			if err != nil || st.IsDir() {
				continue
			}
			fi := fileInfo{Name: e.Name(), Bytes: st.Size()}
			if filepath.Ext(e.Name()) == ".safetensors" {
				if sf, err := weights.OpenSafetensors(filepath.Join(m.Source, e.Name())); err == nil {
					fi.DTypes = map[string]int{}
					for _, n := range sf.Names() {
						info, _ := sf.Info(n)
						fi.DTypes[string(info.DType)]++
					}
					sf.Close()
				}
			}
			out.Files = append(out.Files, fi)
		}
	}
	if o.format == cli.JSON {
		return cli.WriteJSON(io.Out, out)
	}
	rows := &cli.Rows{Header: []string{"field", "value"}}
	c := m.Config
	for _, kv := range [][2]any{
		{"model", out.Model}, {"n_layers", c.NLayers}, {"d_model", c.DModel}, {"n_heads", c.NHeads},
		{"d_head", c.DHead}, {"d_mlp", c.DMLP}, {"n_ctx", c.NCtx}, {"d_vocab", c.DVocab},
		{"act_fn", c.Activation}, {"eps", c.LNEps}, {"n_params", out.Params}, {"tied_embeddings", out.TiedEmbed},
		{"tokenizer", out.Tokenizer}, {"processing", fmt.Sprint(out.Processing)}, {"weights", out.Weights}, {"folder", out.Folder},
	} {
		rows.Add(kv[0], kv[1])
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Name < out.Files[j].Name })
	for _, fi := range out.Files {
		rows.Add("file "+fi.Name, fmt.Sprintf("%d bytes", fi.Bytes))
		if fi.DTypes != nil {
			rows.Add("tensors "+fi.Name, dtypeCounts(fi.DTypes))
		}
	}
	if o.format == cli.CSV {
		return rows.WriteCSV(io.Out)
	}
	return rows.WriteTable(io.Out, false)
}
