package toy

import (
	"strings"

	"github.com/mechlens/mechlens/edit"
)

// requestNeighbours is the number of other entities whose facts each request checks.
const requestNeighbours = 5

// Requests returns fact-editing requests on the organism's world: for each often-stated
// entity and each attribute of attrs, rewrite its value to another often-stated entity's
// (17 places on, so that capitals stay distinct). The prompt is the attribute's first
// template, the paraphrases its other three, the neighbourhood the first template of the
// entity that donated the new value and of the next four entities (with their own values),
// and the MCQ a two-choice question with the new value at A for even entities, B for odd.
func Requests(w *World, attrs []Attr) []edit.Request {
	var often []int
	for i, e := range w.Entities {
		if e.Class == Often {
			often = append(often, i)
		}
	}
	var out []edit.Request
	for _, a := range attrs {
		for k, i := range often {
			e := &w.Entities[i]
			donor := &w.Entities[often[(k+17)%len(often)]]
			newVal := donor.Values[a]
			if newVal == e.Values[a] {
				// Languages and colours repeat: take the next entity with another value.
				for j := 1; newVal == e.Values[a]; j++ {
					donor = &w.Entities[often[(k+17+j)%len(often)]]
					newVal = donor.Values[a]
				}
			}
			p, truth := FactPrompt(e, a, 0)
			r := edit.Request{Subject: e.Name, Prompt: strings.Replace(p, e.Name, "{}", 1),
				TargetNew: " " + newVal, TargetTrue: truth}
			for t := 1; t < 4; t++ {
				para, _ := FactPrompt(e, a, t)
				r.Paraphrases = append(r.Paraphrases, para)
			}
			var neigh []*Entity
			for j := 1; len(neigh) < requestNeighbours; j++ {
				if n := &w.Entities[often[(k+j)%len(often)]]; n != donor && n != e {
					neigh = append(neigh, n)
				}
			}
			for _, n := range neigh {
				np, nt := FactPrompt(n, a, 0)
				r.Neighborhood = append(r.Neighborhood, edit.Neighbor{Prompt: np, Target: nt})
			}
			q := MCQ{Question: fill(questionStems[a], e.Name, ""), Choices: []string{e.Values[a], newVal}}
			if k%2 == 0 {
				q.Choices = []string{newVal, e.Values[a]}
			}
			mcq := &edit.MCQ{Prompt: q.Text(), New: " B", True: " A"}
			if k%2 == 0 {
				mcq.New, mcq.True = " A", " B"
			}
			r.MCQ = mcq
			out = append(out, r)
		}
	}
	return out
}

// ParseAttr reads an attribute's name (capital, language, colour).
func ParseAttr(s string) (Attr, bool) {
	for a, n := range attrNames {
		if n == s {
			return Attr(a), true
		}
	}
	return 0, false
}

// Corpus returns n lines of the organism's training distribution (the main phase's mix of
// statements, questions with their answers and filler), seeded: the default data of ROME's
// covariance statistics for the organism.
func Corpus(w *World, n int, seed uint64) []string {
	s := newSampler(w, seed)
	out := make([]string, n)
	for i := range out {
		out[i] = s.line(mainPhase).Text
	}
	return out
}
