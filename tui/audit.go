package tui

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mechlens/mechlens/audit"
)

// Audit is a finished audit folder (`mechlens audit --out DIR`) as the audit pane shows it.
type Audit struct {
	Dir     string
	Summary audit.Summary
	// Records sorted by decreasing logit difference logit(A) − logit(correct): the items
	// the model pulls hardest toward A first.
	Records []audit.Record
	items   []audit.Item // the data set, to rebuild an item's prompt; nil when it cannot be read
	itemErr error
}

// LoadAudit reads summary.json and items.jsonl of dir, and the data set they were run on
// when it can be found again (a file that still exists, or a registered generator).
func LoadAudit(dir string) (*Audit, error) {
	f := audit.FilesIn(dir, 0, 0)
	b, err := os.ReadFile(f.Summary)
	if err != nil {
		return nil, fmt.Errorf("--audit: %s is not a finished audit folder: %v", dir, err)
	}
	au := &Audit{Dir: dir}
	if err := json.Unmarshal(b, &au.Summary); err != nil {
		return nil, fmt.Errorf("--audit: %s: %v", f.Summary, err)
	}
	if au.Records, err = audit.ReadRecords(f.Items); err != nil {
		return nil, fmt.Errorf("--audit: %v", err)
	}
	slices.SortStableFunc(au.Records, func(x, y audit.Record) int { return cmp.Compare(y.LogitDiff, x.LogitDiff) })
	au.items, au.itemErr = auditItems(au.Summary.Config, dir)
	return au, nil
}

// auditItems reads the data set of an audit again: "generate:NAME n=N seed=S" regenerates
// it, anything else is a file (relative paths are tried from the working directory, then
// from the audit folder).
func auditItems(c audit.Config, dir string) ([]audit.Item, error) {
	if spec, ok := strings.CutPrefix(c.Data, "generate:"); ok {
		var name string
		var n int
		var seed uint64
		if _, err := fmt.Sscanf(spec, "%s n=%d seed=%d", &name, &n, &seed); err != nil {
			return nil, fmt.Errorf("cannot read the generator of %q", c.Data)
		}
		g, err := audit.LookupGenerator(name)
		if err != nil {
			return nil, err
		}
		return g.Generate(n, seed)
	}
	path := c.Data
	if _, err := os.Stat(path); err != nil && !filepath.IsAbs(path) {
		path = filepath.Join(dir, c.Data)
	}
	ds, err := audit.ReadFile(path, len(c.Skipped) > 0)
	if err != nil {
		return nil, err
	}
	return ds.Items, nil
}

// Prompt rebuilds the prompt of record r and names its tokens " A" and the correct letter.
func (au *Audit) Prompt(r audit.Record) (prompt, anchor, correct string, bos bool, err error) {
	if au.itemErr != nil {
		return "", "", "", false, fmt.Errorf("the audit's data set cannot be read again: %v", au.itemErr)
	}
	if r.Item < 0 || r.Item >= len(au.items) {
		return "", "", "", false, fmt.Errorf("item %d is not in the audit's data set of %d items", r.Item, len(au.items))
	}
	f := au.Summary.Format
	if prompt, err = f.Prompt(au.items[r.Item], r.Order); err != nil {
		return "", "", "", false, err
	}
	labels := f.Labels
	if len(labels) == 0 {
		labels = audit.DefaultLabels()
	}
	space := ""
	if r.Variant != "bare" {
		space = " "
	}
	return prompt, space + labels[0], space + labels[r.Answer], f.BOS, nil
}
