package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Item is one multiple-choice question.
type Item struct {
	ID       string   `json:"id"`
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	Answer   int      `json:"answer"` // index into Choices of the correct option
	// Group is the row's "group" field (e.g. the organism's F/R/U classes): metrics are
	// also reported per group.
	Group string `json:"group,omitempty"`
}

// Skip is a bad row that a read with skipBad left out.
type Skip struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// Dataset is what ReadFile found in a file.
type Dataset struct {
	Items   []Item
	Schema  string // SchemaGeneric, SchemaMMLU, SchemaARC or SchemaSentence
	Skipped []Skip // bad rows left out (only with skipBad)
}

// The schemas ReadFile recognises, named as in outputs.
const (
	SchemaGeneric  = "generic"  // {"question", "choices": [...], "answer": index or letter}
	SchemaMMLU     = "mmlu"     // generic with "subject" and an integer answer
	SchemaARC      = "arc"      // {"question": {"stem", "choices": [{"label","text"}]}, "answerKey"} (also CommonsenseQA)
	SchemaSentence = "sentence" // {"sentence": "Question: ... Answer Choices: A: x B: y Answer:", "label": "B"}
)

// maxChoices is the most options an item may have: one per letter of the alphabet.
const maxChoices = 26

// ReadFile reads a data set: a JSON Lines file (one object per line) or a JSON array of
// objects. The schema is detected from the first row and every row must follow it. A bad
// row is an error naming its line, unless skipBad, which records it in Skipped instead; an
// unknown schema is always an error.
func ReadFile(path string, skipBad bool) (*Dataset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	ds, err := Read(b, skipBad)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", filepath.Base(path), err)
	}
	return ds, nil
}

// row is one object of the input with the line it starts on.
type row struct {
	line int
	raw  json.RawMessage
	err  error // the row is not valid JSON
	// elem is the row's 1-based index in a JSON array (0 in JSON Lines): array elements
	// often share a line, so they are named by index.
	elem int
}

// Read parses a data set held in memory; errors name the line but not the file.
func Read(b []byte, skipBad bool) (*Dataset, error) {
	// Editors on Windows start UTF-8 files with a byte-order mark; it is not part of the JSON.
	rows, err := splitRows(bytes.TrimPrefix(b, []byte("\ufeff")))
	if err != nil {
		return nil, err
	}
	ds := &Dataset{}
	for _, r := range rows {
		var obj map[string]json.RawMessage
		err := r.err
		if err == nil {
			if e := json.Unmarshal(r.raw, &obj); e != nil || obj == nil {
				err = fmt.Errorf("not a JSON object")
			}
		}
		var it Item
		if err == nil {
			if ds.Schema == "" {
				if ds.Schema = detect(obj); ds.Schema == "" {
					return nil, fmt.Errorf("line %d: unknown schema (keys %s); want {question, choices, answer}, {question: {stem, choices}, answerKey} or {sentence, label}", r.line, keyList(obj))
				}
			}
			it, err = parseRow(ds.Schema, obj)
		}
		if err != nil {
			if !skipBad {
				return nil, fmt.Errorf("line %d: %w", r.line, err)
			}
			ds.Skipped = append(ds.Skipped, Skip{Line: r.line, Error: err.Error()})
			continue
		}
		if it.ID == "" {
			it.ID = "line " + strconv.Itoa(r.line)
			if r.elem > 0 {
				it.ID = "item " + strconv.Itoa(r.elem)
			}
		}
		ds.Items = append(ds.Items, it)
	}
	if len(ds.Items) == 0 {
		return nil, fmt.Errorf("no items")
	}
	return ds, nil
}

// splitRows cuts the input into rows: the elements of a JSON array, or the non-blank lines
// of a JSON Lines file.
func splitRows(b []byte) ([]row, error) {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return arrayRows(b)
	}
	var rows []row
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		r := row{line: i + 1, raw: line}
		if !json.Valid(line) {
			r.err = fmt.Errorf("not valid JSON")
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// arrayRows reads a JSON array element by element, noting the line each one starts on. A
// syntax error ends the file: no later element can be trusted.
func arrayRows(b []byte) ([]row, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	lineAt := func(off int64) int {
		for off < int64(len(b)) && (b[off] == ' ' || b[off] == '\t' || b[off] == '\r' || b[off] == '\n' || b[off] == ',') {
			off++
		}
		return 1 + bytes.Count(b[:off], []byte("\n"))
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("line 1: %v", err)
	}
	var rows []row
	for dec.More() {
		off := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("line %d: not valid JSON: %v", lineAt(off), err)
		}
		rows = append(rows, row{line: lineAt(off), raw: raw, elem: len(rows) + 1})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("line %d: the array is not closed", lineAt(dec.InputOffset()))
	}
	return rows, nil
}

func keyList(obj map[string]json.RawMessage) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "{" + strings.Join(keys, ", ") + "}"
}

// detect names the schema of a row, or "" when none fits.
func detect(obj map[string]json.RawMessage) string {
	has := func(k string) bool { _, ok := obj[k]; return ok }
	switch {
	case has("sentence") && has("label"):
		return SchemaSentence
	case has("question") && has("answerKey") && bytes.HasPrefix(bytes.TrimSpace(obj["question"]), []byte("{")):
		return SchemaARC
	case has("question") && has("choices") && has("answer"):
		if has("subject") {
			return SchemaMMLU
		}
		return SchemaGeneric
	}
	return ""
}

func parseRow(schema string, obj map[string]json.RawMessage) (Item, error) {
	var it Item
	if raw, ok := obj["id"]; ok {
		var s string
		var n json.Number
		if json.Unmarshal(raw, &s) == nil {
			it.ID = s
		} else if json.Unmarshal(raw, &n) == nil {
			it.ID = n.String()
		}
	}
	if raw, ok := obj["group"]; ok {
		json.Unmarshal(raw, &it.Group) // a group that is not a string is no group
	}
	var err error
	switch schema {
	case SchemaSentence:
		err = parseSentenceRow(&it, obj)
	case SchemaARC:
		err = parseARCRow(&it, obj)
	default:
		err = parseGenericRow(&it, obj, schema == SchemaMMLU)
	}
	if err != nil {
		return Item{}, err
	}
	return it, it.validate()
}

// validate checks what every schema must give.
func (it *Item) validate() error {
	switch {
	case strings.TrimSpace(it.Question) == "":
		return fmt.Errorf("the question is empty")
	case len(it.Choices) < 2:
		return fmt.Errorf("%d choices, want at least 2", len(it.Choices))
	case len(it.Choices) > maxChoices:
		return fmt.Errorf("%d choices, want at most %d", len(it.Choices), maxChoices)
	case it.Answer < 0 || it.Answer >= len(it.Choices):
		return fmt.Errorf("answer %d outside the %d choices", it.Answer, len(it.Choices))
	}
	for i, c := range it.Choices {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("choice %d is empty", i)
		}
	}
	return nil
}

// present returns a field's raw value; absent and null are the same mistake (JSON null
// would otherwise decode silently as 0, the first option, or as "").
func present(obj map[string]json.RawMessage, key string) (json.RawMessage, error) {
	raw := bytes.TrimSpace(obj[key])
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("%s is missing", key)
	}
	return raw, nil
}

func field(obj map[string]json.RawMessage, key string, v any) error {
	raw, err := present(obj, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%q: %s is not %s", key, clip(raw), kind(v))
	}
	return nil
}

func kind(v any) string {
	switch v.(type) {
	case *string:
		return "a string"
	case *[]string:
		return "a list of strings"
	case *int:
		return "an integer"
	}
	return "of the expected type"
}

func clip(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

func parseGenericRow(it *Item, obj map[string]json.RawMessage, intAnswer bool) error {
	if err := field(obj, "question", &it.Question); err != nil {
		return err
	}
	if err := field(obj, "choices", &it.Choices); err != nil {
		return err
	}
	raw, err := present(obj, "answer")
	if err != nil {
		return err
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		it.Answer = n
		return nil
	}
	var s string
	if intAnswer || json.Unmarshal(raw, &s) != nil {
		return fmt.Errorf("%q: %s is not an index", "answer", clip(raw))
	}
	idx, ok := letterIndex(s)
	if !ok {
		return fmt.Errorf("%q: %q is neither an index nor a letter", "answer", s)
	}
	if idx >= len(it.Choices) {
		return fmt.Errorf("%q: %q is not the letter of one of the %d choices", "answer", s, len(it.Choices))
	}
	it.Answer = idx
	return nil
}

// letterIndex maps "A".."Z" (or lower case) to 0..25.
func letterIndex(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 1 {
		return 0, false
	}
	c := s[0]
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A'), true
	case c >= 'a' && c <= 'z':
		return int(c - 'a'), true
	}
	return 0, false
}

func parseARCRow(it *Item, obj map[string]json.RawMessage) error {
	var q struct {
		Stem    *string `json:"stem"`
		Choices []struct {
			Label string `json:"label"`
			Text  string `json:"text"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(obj["question"], &q); err != nil {
		return fmt.Errorf("%q: not an object with stem and choices", "question")
	}
	if q.Stem == nil {
		return fmt.Errorf("question.stem is missing")
	}
	var key string
	if err := field(obj, "answerKey", &key); err != nil {
		return err
	}
	it.Question = *q.Stem
	it.Answer = -1
	for i, c := range q.Choices {
		it.Choices = append(it.Choices, c.Text)
		if c.Label == key {
			it.Answer = i
		}
	}
	if it.Answer < 0 && len(q.Choices) > 0 {
		return fmt.Errorf("answerKey %q is not the label of a choice", key)
	}
	return nil
}

func parseSentenceRow(it *Item, obj map[string]json.RawMessage) error {
	var s, label string
	if err := field(obj, "sentence", &s); err != nil {
		return err
	}
	if err := field(obj, "label", &label); err != nil {
		return err
	}
	q, choices, err := ParseSentence(s)
	if err != nil {
		return err
	}
	idx, ok := letterIndex(label)
	if !ok {
		return fmt.Errorf("%q: %q is not a letter", "label", label)
	}
	if idx >= len(choices) {
		return fmt.Errorf("%q: %q is not the letter of one of the %d choices", "label", label, len(choices))
	}
	it.Question, it.Choices, it.Answer = q, choices, idx
	return nil
}

// ParseSentence recovers the question and options from a prompt in the paper's format,
// "Question: {q} Answer Choices: A: {c1} B: {c2} ... Answer:", so that an item stored as a
// formatted prompt can be permuted and reformatted. Formatting the result with the default
// template gives the sentence back.
func ParseSentence(s string) (question string, choices []string, err error) {
	const head, mid, tail = "Question: ", " Answer Choices: ", " Answer:"
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, head) {
		return "", nil, fmt.Errorf("sentence does not start with %q", head)
	}
	i := strings.Index(s, mid)
	if i < 0 {
		return "", nil, fmt.Errorf("sentence has no %q", strings.TrimSpace(mid))
	}
	if !strings.HasSuffix(s, tail) {
		return "", nil, fmt.Errorf("sentence does not end with %q", strings.TrimSpace(tail))
	}
	question = s[len(head):i]
	rest := s[i+len(mid) : len(s)-len(tail)]
	if !strings.HasPrefix(rest, "A: ") {
		return "", nil, fmt.Errorf("answer choices do not start with %q", "A:")
	}
	rest = rest[len("A: "):]
	for k := 1; ; k++ {
		marker := " " + string(rune('A'+k)) + ": "
		j := strings.Index(rest, marker)
		if k >= maxChoices || j < 0 {
			choices = append(choices, rest)
			break
		}
		choices = append(choices, rest[:j])
		rest = rest[j+len(marker):]
	}
	return question, choices, nil
}
