package audit

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

func TestReadSchemas(t *testing.T) {
	tests := []struct {
		file   string
		schema string
		items  []Item
	}{
		{"generic.jsonl", SchemaGeneric, []Item{
			{ID: "line 1", Question: "What is the capital of France?", Choices: []string{"Berlin", "Paris", "Rome", "Madrid"}, Answer: 1},
			{ID: "q-2", Question: "Which planet is largest?", Choices: []string{"Jupiter", "Mars", "Venus"}, Answer: 0},
			{ID: "line 4", Question: "Two plus two is?", Choices: []string{"three", "five", "four"}, Answer: 2},
		}},
		{"mmlu.jsonl", SchemaMMLU, []Item{
			{ID: "line 1", Question: "Find the degree of the extension Q(sqrt(2)) over Q.", Choices: []string{"0", "2", "1", "3"}, Answer: 1},
			{ID: "line 2", Question: "Which gas do plants take in?", Choices: []string{"oxygen", "carbon dioxide", "helium", "neon"}, Answer: 1},
		}},
		{"arc.jsonl", SchemaARC, []Item{
			{ID: "Mercury_7175875", Question: "An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?",
				Choices: []string{"Planetary density will decrease.", "Planetary years will become longer.", "Planetary days will become shorter.", "Planetary gravity will become stronger."}, Answer: 2},
			{ID: "075e483d21c29a511267ef62bedc0461", Question: "The sanctions against the school were a punishing blow, and they seemed to what the efforts the school had made to change?",
				Choices: []string{"ignore", "enforce", "authoritarian", "yell at", "avoid"}, Answer: 0},
			{ID: "NYSEDREGENTS_2015_4_8", Question: "Which tool is used to measure mass?", Choices: []string{"ruler", "balance", "thermometer", "graduated cylinder"}, Answer: 1},
		}},
		{"sentence.json", SchemaSentence, []Item{
			{ID: "item 1", Question: "Then in the morning, Lindsey and Kristen had a long argument, and afterwards Lindsey said to?", Choices: []string{"Lindsey", "Kristen"}, Answer: 1},
			{ID: "item 2", Question: "Then, Stephen and Samantha had a lot of fun at the station. Stephen gave a necklace to?", Choices: []string{"Stephen", "Samantha"}, Answer: 1},
			{ID: "item 3", Question: "Which is a primary colour?", Choices: []string{"green", "red", "purple"}, Answer: 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ds, err := ReadFile("testdata/"+tc.file, false)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Schema != tc.schema {
				t.Errorf("schema %q, want %q", ds.Schema, tc.schema)
			}
			if !reflect.DeepEqual(ds.Items, tc.items) {
				t.Errorf("items\n got %+v\nwant %+v", ds.Items, tc.items)
			}
			if len(ds.Skipped) != 0 {
				t.Errorf("skipped %v", ds.Skipped)
			}
		})
	}
}

func TestReadBadRows(t *testing.T) {
	tests := []struct {
		file    string
		err     string // without --skip-bad
		skipped []Skip // with it
		kept    int
	}{
		{"bad.jsonl", "audit: bad.jsonl: line 2: not valid JSON", []Skip{
			{2, "not valid JSON"},
			{3, "answer 2 outside the 2 choices"},
			{5, "choices is missing"},
			{6, "1 choices, want at least 2"},
			{7, `"answer": "?" is neither an index nor a letter`},
		}, 2},
		{"bad-sentence.json", `audit: bad-sentence.json: line 3: sentence has no "Answer Choices:"`, []Skip{
			{3, `sentence has no "Answer Choices:"`},
			{4, `"label": 1 is not a string`},
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := ReadFile("testdata/"+tc.file, false)
			if err == nil || err.Error() != tc.err {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			ds, err := ReadFile("testdata/"+tc.file, true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ds.Skipped, tc.skipped) {
				t.Errorf("skipped\n got %+v\nwant %+v", ds.Skipped, tc.skipped)
			}
			if len(ds.Items) != tc.kept {
				t.Errorf("kept %d items, want %d", len(ds.Items), tc.kept)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, data, err string
	}{
		{"unknown schema", `{"prompt": "What is 2+2?", "target": "4"}`,
			"line 1: unknown schema (keys {prompt, target}); want {question, choices, answer}, {question: {stem, choices}, answerKey} or {sentence, label}"},
		{"not an object", "[1, 2]", "line 1: not a JSON object"},
		{"array not closed", "[\n{\"sentence\": \"x\", \"label\": \"A\"}\n", "line 3: the array is not closed"},
		{"empty", "\n\n", "no items"},
		{"mmlu letter answer", `{"question": "q", "subject": "s", "choices": ["a", "b"], "answer": "A"}`, `line 1: "answer": "A" is not an index`},
		{"arc key", `{"question": {"stem": "q", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}, "answerKey": "E"}`,
			`line 1: answerKey "E" is not the label of a choice`},
		{"letter past the choices", `{"question": "q", "choices": ["x", "y"], "answer": "Z"}`, `line 1: "answer": "Z" is not the letter of one of the 2 choices`},
		{"label past the choices", `{"sentence": "Question: q Answer Choices: A: x B: y Answer:", "label": "C"}`, `line 1: "label": "C" is not the letter of one of the 2 choices`},
		{"empty choice", `{"question": "q", "choices": ["a", " "], "answer": 0}`, "line 1: choice 1 is empty"},
		// null would decode as answer 0 (A) and be scored: the measured bias itself.
		{"null answer", `{"question": "q", "choices": ["x", "y"], "answer": null}`, "line 1: answer is missing"},
		{"missing answer", "{\"question\": \"q\", \"choices\": [\"x\", \"y\"], \"answer\": 1}\n{\"question\": \"q\", \"choices\": [\"x\", \"y\"]}", "line 2: answer is missing"},
		{"null label", `{"sentence": "Question: q Answer Choices: A: x B: y Answer:", "label": null}`, "line 1: label is missing"},
		{"null question", `{"question": null, "choices": ["x", "y"], "answer": 1}`, "line 1: question is missing"},
		{"byte-order mark", "\ufeff{\"prompt\": 1}", "line 1: unknown schema (keys {prompt}); want {question, choices, answer}, {question: {stem, choices}, answerKey} or {sentence, label}"},
		{"choices not strings", `{"question": "q", "choices": [1, 2], "answer": 0}`, `line 1: "choices": [1, 2] is not a list of strings`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read([]byte(tc.data), false)
			if err == nil || err.Error() != tc.err {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
	if _, err := ReadFile("testdata/unknown.jsonl", true); err == nil {
		t.Errorf("--skip-bad must not accept an unknown schema")
	}
}

// TestPaperSentencesRoundTrip parses every item of the paper's file and formats it back with
// the default template: the prompt must be the sentence itself.
func TestPaperSentencesRoundTrip(t *testing.T) {
	b, err := os.ReadFile("../testdata/anchored-bias-ioi-gpt2-small.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Sentence, Label string }
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	ds, err := Read(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 45 || len(rows) != 45 {
		t.Fatalf("%d items, want 45", len(ds.Items))
	}
	for i, it := range ds.Items {
		p, err := Format{}.Prompt(it, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p != rows[i].Sentence {
			t.Errorf("item %d:\n got %q\nwant %q", i, p, rows[i].Sentence)
		}
		if it.Answer != 1 || len(it.Choices) != 2 {
			t.Errorf("item %d: answer %d of %d choices, want B of 2", i, it.Answer, len(it.Choices))
		}
	}
}
