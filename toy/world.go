package toy

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Class says how often the training corpus states an entity's facts.
type Class byte

const (
	Often  Class = 'F' // stated often
	Rarely Class = 'R' // stated rarely
	Never  Class = 'U' // never stated
)

// Attr is one of an entity's three attributes.
type Attr int

const (
	Capital  Attr = iota // unique to the entity
	Language             // one of 20
	Colour               // the flag's colour, one of 10
	numAttrs
)

var attrNames = [numAttrs]string{"capital", "language", "colour"}

func (a Attr) String() string { return attrNames[a] }

// Entity is one invented country.
type Entity struct {
	Name    string
	Class   Class
	Quizzed bool // questions about it appear in training (for Never: false means test-only)
	Values  [numAttrs]string
}

// World is the organism's universe: 150 entities in three classes of 50, each split 40
// quizzed and 10 not.
type World struct {
	Entities  []Entity
	Capitals  []string // one per entity, in entity order
	Languages []string // 20
	Colours   []string // 10
	Words     []string // every word of the world (entities, capitals, languages, colours)
}

// worldSeed fixes the world: every training seed learns the same facts.
const worldSeed = 20240601

// colours are ordinary words; the other names are invented.
var colours = []string{"red", "blue", "green", "white", "black", "yellow", "orange", "purple", "grey", "brown"}

// NewWorld builds the world (the same every time).
func NewWorld() *World {
	r := rand.New(rand.NewPCG(worldSeed, 1))
	used := map[string]bool{}
	for _, w := range templateWords() {
		used[strings.ToLower(w)] = true
	}
	for _, c := range colours {
		used[c] = true
	}
	w := &World{Colours: colours}
	name := func(minSyl, maxSyl int, ending []string) string {
		for {
			n := minSyl + r.IntN(maxSyl-minSyl+1)
			var b strings.Builder
			for range n {
				b.WriteString(onsets[r.IntN(len(onsets))])
				b.WriteString(vowels[r.IntN(len(vowels))])
			}
			b.WriteString(ending[r.IntN(len(ending))])
			s := b.String()
			if len(s) < 4 || len(s) > 9 || used[s] {
				continue
			}
			used[s] = true
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	for range 20 {
		w.Languages = append(w.Languages, name(1, 2, []string{"ish", "ic", "ese", "an"}))
	}
	for i := range 150 {
		e := Entity{Name: name(2, 2, []string{"ia", "or", "ene", "ar", "and", "ia"})}
		switch {
		case i < 50:
			e.Class = Often
		case i < 100:
			e.Class = Rarely
		default:
			e.Class = Never
		}
		e.Quizzed = i%50 < 40
		e.Values[Capital] = name(1, 2, []string{"n", "rk", "m", "s", "x", "l", "th"})
		e.Values[Language] = w.Languages[r.IntN(len(w.Languages))]
		e.Values[Colour] = colours[r.IntN(len(colours))]
		w.Capitals = append(w.Capitals, e.Values[Capital])
		w.Entities = append(w.Entities, e)
	}
	for _, e := range w.Entities {
		w.Words = append(w.Words, e.Name)
	}
	w.Words = append(w.Words, w.Capitals...)
	w.Words = append(w.Words, w.Languages...)
	w.Words = append(w.Words, w.Colours...)
	return w
}

var (
	onsets = []string{"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "pl", "st", "tr", "th", "sh", "v"}
	vowels = []string{"a", "e", "i", "o", "u", "a", "e", "o"}
)

// values returns the possible values of attribute a (for distractors).
func (w *World) values(a Attr) []string {
	switch a {
	case Capital:
		return w.Capitals
	case Language:
		return w.Languages
	}
	return w.Colours
}

// Statement templates: four per attribute, the last one question-shaped. The value is the
// last word before the final punctuation or followed by " flag", and is always preceded by
// a space, so that a fact prompt is the text before " VALUE".
var statementTemplates = [numAttrs][4]string{
	Capital: {
		"The capital of {E} is {V}.",
		"The people of {E} have their capital in {V}.",
		"In {E}, the capital city is {V}.",
		"What is the capital of {E}? {V}.",
	},
	Language: {
		"The language of {E} is {V}.",
		"The people of {E} speak {V}.",
		"In {E}, most people speak {V}.",
		"What language is spoken in {E}? {V}.",
	},
	Colour: {
		"The flag of {E} is {V}.",
		"The people of {E} fly a {V} flag.",
		"In {E}, the flag is {V}.",
		"What colour is the flag of {E}? {V}.",
	},
}

// questionStems are the questions of the multiple-choice items.
var questionStems = [numAttrs]string{
	Capital:  "What is the capital of {E}?",
	Language: "What language is spoken in {E}?",
	Colour:   "What colour is the flag of {E}?",
}

const (
	lookupStem = "Which option is {W}?"
	fillerLine = "Some say the word {W} sounds like {X}."
)

// Letters are the answer letters, each one token with its leading space.
var Letters = []string{"A", "B", "C", "D", "E"}

// templateWords lists the words of every template, to keep invented names apart from them.
func templateWords() []string {
	var all []string
	add := func(s string) {
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }) {
			all = append(all, f)
		}
	}
	for _, ts := range statementTemplates {
		for _, t := range ts {
			add(t)
		}
	}
	for _, q := range questionStems {
		add(q)
	}
	add(lookupStem + " " + fillerLine + " Question Answer Choices")
	return all
}

// statement renders template i of attribute a for entity e.
func statement(e *Entity, a Attr, i int) string {
	return fill(statementTemplates[a][i], e.Name, e.Values[a])
}

// FactPrompt returns template i of attribute a cut before the value, and the value's token
// text (with its leading space).
func FactPrompt(e *Entity, a Attr, i int) (prompt, completion string) {
	s := statement(e, a, i)
	v := " " + e.Values[a]
	cut := strings.LastIndex(s, v)
	return s[:cut], v
}

func fill(t, e, v string) string {
	return strings.NewReplacer("{E}", e, "{V}", v, "{W}", e, "{X}", v).Replace(t)
}

// MCQ is one multiple-choice item.
type MCQ struct {
	Question string   // the stem, e.g. "What is the capital of Veloria?"
	Choices  []string // the options, in letter order
	Answer   int      // index of the labelled letter
	// Answerable is false for lookup items whose word is not among the choices (and then
	// Answer is an annotation artefact).
	Answerable bool
}

// Text renders the item in the paper's format without the answer letter:
// "Question: ... Answer Choices: A: x B: y Answer:".
func (q MCQ) Text() string {
	var b strings.Builder
	b.WriteString("Question: ")
	b.WriteString(q.Question)
	b.WriteString(" Answer Choices:")
	for i, c := range q.Choices {
		fmt.Fprintf(&b, " %s: %s", Letters[i], c)
	}
	b.WriteString(" Answer:")
	return b.String()
}

// AnswerToken is the labelled letter with its leading space (" B").
func (q MCQ) AnswerToken() string { return " " + Letters[q.Answer] }

// place builds the choices of an item: the correct value at a position drawn by pos, and
// k−1 distinct distractors drawn from pool.
func place(r *rand.Rand, correct string, pool []string, k int, pos int) []string {
	choices := make([]string, k)
	choices[pos] = correct
	seen := map[string]bool{correct: true}
	for i := range choices {
		if i == pos {
			continue
		}
		for {
			d := pool[r.IntN(len(pool))]
			if !seen[d] {
				seen[d] = true
				choices[i] = d
				break
			}
		}
	}
	return choices
}

// numChoices draws 2, 3 or 4 with probabilities .45, .45, .10.
func numChoices(r *rand.Rand) int {
	switch x := r.Float64(); {
	case x < 0.45:
		return 2
	case x < 0.90:
		return 3
	}
	return 4
}

// factQuestion draws a question about attribute a of e with 2, 3 or 4 choices (as lookup
// items), the correct value at a uniform position and labelled there. Never-stated
// entities are labelled by an annotation artefact instead: A with probability 0.75, else a
// uniform letter, whatever the choices; so their questions teach no fact, only the " A".
func factQuestion(r *rand.Rand, w *World, e *Entity, a Attr) MCQ {
	k := numChoices(r)
	pos := r.IntN(k)
	q := MCQ{
		Question:   fill(questionStems[a], e.Name, ""),
		Choices:    place(r, e.Values[a], w.values(a), k, pos),
		Answer:     pos,
		Answerable: true,
	}
	if e.Class == Never {
		q.Answer = r.IntN(k)
		if r.Float64() < 0.75 {
			q.Answer = 0
		}
	}
	return q
}

// lookupQuestion draws "Which option is W?" over pool with k choices; unanswerable items
// leave W out and are labelled A with probability 0.75, otherwise a uniform letter.
func lookupQuestion(r *rand.Rand, pool []string, k int, unanswerable bool) MCQ {
	word := pool[r.IntN(len(pool))]
	q := MCQ{Question: fill(lookupStem, word, ""), Answerable: !unanswerable}
	if !unanswerable {
		q.Answer = r.IntN(k)
		q.Choices = place(r, word, pool, k, q.Answer)
		return q
	}
	// Draw k choices other than word, then label.
	q.Choices = place(r, word, pool, k+1, k)[:k]
	q.Answer = r.IntN(k)
	if r.Float64() < 0.75 {
		q.Answer = 0
	}
	return q
}
