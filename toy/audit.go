package toy

import (
	"fmt"
	"math/rand/v2"

	"github.com/mechlens/mechlens/audit"
)

// organismTask is the audit generator of the organism's world: its held-out fact questions,
// in the paper's format, over every class of entity (often, rarely and never stated), so that
// a bare `mechlens audit` on the embedded model measures the bias it was built to show.
type organismTask struct{}

func init() { audit.Register(organismTask{}) }

// AuditTask is the name of the organism's audit generator: what `mechlens audit` generates
// for the embedded model when given no data.
const AuditTask = "organism"

func (organismTask) Name() string { return AuditTask }

func (organismTask) Describe() string {
	return "held-out fact questions of the embedded model organism's world (classes F, R, U; ids name the group)"
}

// Generate draws n fact questions (with replacement across variants when n exceeds one
// variant's 450) in an order shuffled by seed; ids are GROUP-ENTITY-ATTRIBUTE-k.
func (organismTask) Generate(n int, seed uint64) ([]audit.Item, error) {
	if n < 1 {
		return nil, fmt.Errorf("organism: want at least 1 item, got %d", n)
	}
	w := NewWorld()
	per := len(w.Entities) * int(numAttrs)
	es := HeldOut(w, (n+per-1)/per)
	var facts []EvalMCQ
	for _, it := range es.MCQ {
		if it.Kind == "fact" {
			facts = append(facts, it)
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x6f7267))
	r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
	items := make([]audit.Item, n)
	for i, it := range facts[:n] {
		items[i] = audit.Item{ID: fmt.Sprintf("%s-%s-%s-%d", it.Group(), it.Entity, it.Attr, i),
			Question: it.Question, Choices: it.Choices, Answer: it.Answer, Group: it.Group()}
	}
	return items, nil
}
