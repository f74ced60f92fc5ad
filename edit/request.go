package edit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Request is one fact to write and the prompts that measure the edit: a CounterFact record
// in a flat form.
type Request struct {
	Subject    string `json:"subject"`
	Prompt     string `json:"prompt"` // "{}" stands for the subject
	TargetNew  string `json:"target_new"`
	TargetTrue string `json:"target_true"`
	// Paraphrases state the same fact otherwise (the subject written in).
	Paraphrases []string `json:"paraphrases,omitempty"`
	// Neighborhood are prompts about other subjects, each with its own true answer, which
	// the edit must leave alone.
	Neighborhood []Neighbor `json:"neighborhood,omitempty"`
	// MCQ, when set, is a multiple-choice question on the fact (the organism's transfer test).
	MCQ *MCQ `json:"mcq,omitempty"`
}

// Neighbor is a prompt whose answer the edit must not change.
type Neighbor struct {
	Prompt string `json:"prompt"`
	Target string `json:"target"`
}

// MCQ is a multiple-choice prompt ending in "Answer:" and the letters of the new and the
// true value (" B").
type MCQ struct {
	Prompt string `json:"prompt"`
	New    string `json:"new"`
	True   string `json:"true"`
}

// Text is the request's prompt with the subject written in.
func (r Request) Text() string { return strings.Replace(r.Prompt, "{}", r.Subject, 1) }

// LoadRequests reads a JSONL file of requests; a line that is not one, or lacks the subject,
// a "{}" prompt or the targets, is an error naming the line.
func LoadRequests(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadRequests(f, path)
}

// ReadRequests is LoadRequests on a reader; name labels errors.
func ReadRequests(r io.Reader, name string) ([]Request, error) {
	var out []Request
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var q Request
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, fmt.Errorf("%s:%d: not a request: %v", name, n, err)
		}
		switch {
		case q.Subject == "":
			return nil, fmt.Errorf("%s:%d: no subject", name, n)
		case !strings.Contains(q.Prompt, "{}"):
			return nil, fmt.Errorf("%s:%d: the prompt %q has no {} for the subject", name, n, q.Prompt)
		case q.TargetNew == "" || q.TargetTrue == "":
			return nil, fmt.Errorf("%s:%d: target_new and target_true are both required", name, n)
		}
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no requests", name)
	}
	return out, nil
}
