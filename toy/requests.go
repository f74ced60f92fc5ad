package toy

import (
	"strings"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
)

// requestNeighbours is the number of other entities whose facts each request checks, and
// requestEdited the number of often-stated entities requests edit: the other ten are the
// neighbours, never edited, so that a batch of edits (MEMIT) is not judged on subjects it
// changed itself.
const (
	requestNeighbours = 5
	requestEdited     = 40
)

// Requests returns fact-editing requests on the organism's world: for each of the first 40
// often-stated entities and each attribute of attrs, rewrite its value to another of these
// entities' (17 places on, so that capitals stay distinct). The prompt is the attribute's
// first template, the paraphrases its other three, the neighbourhood the first template of
// five of the ten other often-stated entities (with their own values), and the MCQ a
// two-choice question with the new value at A for even entities, B for odd.
func Requests(w *World, attrs []Attr) []edit.Request {
	var often []int
	for i, e := range w.Entities {
		if e.Class == Often {
			often = append(often, i)
		}
	}
	edited, kept := often[:requestEdited], often[requestEdited:]
	var out []edit.Request
	for _, a := range attrs {
		for k, i := range edited {
			e := &w.Entities[i]
			donor := &w.Entities[edited[(k+17)%len(edited)]]
			newVal := donor.Values[a]
			if newVal == e.Values[a] {
				// Languages and colours repeat: take the next entity with another value.
				for j := 1; newVal == e.Values[a]; j++ {
					donor = &w.Entities[edited[(k+17+j)%len(edited)]]
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
			for j := range requestNeighbours {
				neigh = append(neigh, &w.Entities[kept[(k+j*2)%len(kept)]])
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

// ROMEConfig is ROME's configuration for the organism. Causal tracing (README) shows that
// the organism does not recall a fact at the subject's last token, as GPT-2 does, but at
// the prompt's last token: block 0's attention moves the subject there and the MLPs of
// that position give the answer. So the key is read at the last token (ROME's "last"
// fact token), in block 1, where the edit leaves other entities' facts alone more than in
// block 0 (README: the layer sweep). u is solved for the bare prompt's key: the organism's
// corpus never has a sentence after a prefix, so C⁻¹ of the key averaged over the
// prefixed prompts leaks the edit to the other subjects (neighbourhood 0.74 against 0.99
// on 50 edits), and clamp 3 then gives the best of the three scores (README).
func ROMEConfig(c gpt2.Config) edit.ROMEConfig {
	r := edit.ROMEDefaults(c)
	r.Layer, r.FactToken, r.BOS, r.Clamp, r.UKey = 1, edit.LastToken, true, 3, edit.KeyBare
	return r
}

// MEMITConfig is MEMIT's configuration for the organism: the key at the prompt's last
// token, the bare prompt's (see ROMEConfig), layer 1 alone, z's clamp 4 as ROME's
// (MEMIT's 0.75 of the residual's norm leaves z short of the new value) and λ = 3000: the
// organism's corpus is made of the very statements being edited, so C is large along their
// keys and MEMIT's 20000 cancels the update (README: the λ sweep).
func MEMITConfig(c gpt2.Config) edit.MEMITConfig {
	m := edit.MEMITDefaults(c)
	m.ROMEConfig = ROMEConfig(c)
	m.Clamp, m.Layers, m.Lambda = 4, []int{1}, 3000
	return m
}
