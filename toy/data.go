package toy

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// MCQRecord is one line of mcq.jsonl.
type MCQRecord struct {
	Kind       string   `json:"kind"`
	Group      string   `json:"group"`
	Class      string   `json:"class,omitempty"`
	Quizzed    bool     `json:"quizzed"`
	Entity     string   `json:"entity,omitempty"`
	Attr       string   `json:"attribute,omitempty"`
	Question   string   `json:"question"`
	Choices    []string `json:"choices"`
	Answer     string   `json:"answer"` // the labelled letter
	Answerable bool     `json:"answerable"`
	Prompt     string   `json:"prompt"` // the text the model reads (after a newline)
	Chance     float64  `json:"chance"`
}

// WriteData writes the held-out sets to dir: mcq.jsonl (multiple-choice items with their
// class, quizzed or not, and labelled letter) and facts.jsonl (fact prompts with their
// expected completion).
func WriteData(dir string, es *EvalSets) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := fsutil.WriteFileAtomic(filepath.Join(dir, "mcq.jsonl"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, it := range es.MCQ {
			rec := MCQRecord{Kind: it.Kind, Group: it.Group(), Class: it.Class, Quizzed: it.Quizzed,
				Entity: it.Entity, Attr: it.Attr, Question: it.Question, Choices: it.Choices,
				Answer: Letters[it.Answer], Answerable: it.Answerable, Prompt: it.Text(),
				Chance: 1 / float64(len(it.Choices))}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "facts.jsonl"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, f := range es.Facts {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		return nil
	})
}
