package audit

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// Generator makes a seeded set of items. Packages that own a task (the model organism's
// package toy, for one) register theirs in an init function with Register; audit never
// imports them.
type Generator interface {
	Name() string     // what --generate takes: lower case, no spaces
	Describe() string // one line for help texts
	// Generate returns n items; the same seed gives the same items.
	Generate(n int, seed uint64) ([]Item, error)
}

// PromptTemplater is an optional interface of a Generator whose items read best in another
// prompt than DefaultTemplate; the command uses it unless --template is given.
type PromptTemplater interface {
	PromptTemplate() string
}

var (
	genMu      sync.Mutex
	generators = map[string]Generator{}
)

// DefaultGenerator is what `mechlens audit` generates for a GPT-2-family model when given
// neither a file nor --generate.
const DefaultGenerator = "ioi"

// Register makes g available under g.Name(). Registering one name twice is a programming
// error and panics, as database/sql.Register does.
func Register(g Generator) {
	genMu.Lock()
	defer genMu.Unlock()
	name := g.Name()
	if name == "" || strings.ContainsAny(name, " \t,") {
		panic(fmt.Sprintf("audit: generator name %q is empty or has spaces or commas", name))
	}
	if _, dup := generators[name]; dup {
		panic(fmt.Sprintf("audit: generator %q registered twice", name))
	}
	generators[name] = g
}

// LookupGenerator returns the generator registered under name.
func LookupGenerator(name string) (Generator, error) {
	genMu.Lock()
	defer genMu.Unlock()
	if g, ok := generators[name]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("audit: no generator %q (have %s)", name, strings.Join(generatorNames(), ", "))
}

// Generators lists the registered generators by name.
func Generators() []Generator {
	genMu.Lock()
	defer genMu.Unlock()
	var out []Generator
	for _, n := range generatorNames() {
		out = append(out, generators[n])
	}
	return out
}

func generatorNames() []string {
	names := make([]string, 0, len(generators))
	for n := range generators {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func init() { Register(IOI{}) }

// IOI generates the anchored-bias paper's indirect-object-identification questions: two
// names are introduced, the first (the subject) is repeated, and the question asks to whom
// the subject gave something. Option A is the repeated subject (wrong), option B the
// indirect object (right), as in the paper's data set.
type IOI struct{}

// Name implements Generator.
func (IOI) Name() string { return "ioi" }

// Describe implements Generator.
func (IOI) Describe() string {
	return "the paper's IOI questions: A = the repeated subject (wrong), B = the indirect object"
}

// ioiTemplates are the sentence shapes of the paper's data set; {S} is the subject (said
// twice), {IO} the indirect object, {P} a place and {O} an object.
var ioiTemplates = []string{
	"Then, {S} and {IO} went to the {P}. {S} gave a {O} to?",
	"Then, {S} and {IO} had a lot of fun at the {P}. {S} gave a {O} to?",
	"Then, {S} and {IO} were working at the {P}. {S} decided to give a {O} to?",
	"Then, {S} and {IO} were thinking about going to the {P}. {S} wanted to give a {O} to?",
	"Then, {S} and {IO} had a long argument. Afterwards {S} said to?",
	"Then {S} and {IO} went to the {P}, and {S} gave a {O} to?",
	"Then {S} and {IO} were working at the {P}, and {S} decided to give a {O} to?",
	"Then {S} and {IO} had a long argument, and after that {S} said to?",
	"Then in the morning, {S} and {IO} had a long argument, and afterwards {S} said to?",
	"Then in the morning, {S} and {IO} were thinking about going to the {P}. {S} wanted to give a {O} to?",
	"After {S} and {IO} went to the {P}, {S} gave a {O} to?",
	"After the lunch, {S} and {IO} went to the {P}. {S} gave a {O} to?",
	"After the lunch {S} and {IO} went to the {P}, and {S} gave a {O} to?",
	"After the lunch in the afternoon, {S} and {IO} went to the {P}. {S} gave a {O} to?",
	"After taking a long break {S} and {IO} went to the {P}, {S} gave a {O} to?",
	"Afterwards, {S} and {IO} went to the {P}. {S} gave a {O} to?",
	"While {S} and {IO} were working at the {P}, {S} gave a {O} to?",
	"While {S} and {IO} were commuting to the {P}, {S} gave a {O} to?",
	"While spending time together {S} and {IO} were commuting to the {P}, {S} gave a {O} to?",
	"When soon afterwards {S} and {IO} got a {O} at the {P}, {S} decided to give the {O} to?",
	"Friends {S} and {IO} found a {O} at the {P}. {S} gave it to?",
	"Friends separated at birth {S} and {IO} found a {O} at the {P}. {S} gave it to?",
	"The {P} {S} and {IO} went to had a {O}. {S} gave it to?",
	"The local big {P} {S} and {IO} went to had a {O}. {S} gave it to?",
}

var (
	ioiNames = []string{
		"Aaron", "Adam", "Alexander", "Alicia", "Allison", "Amber", "Angela", "Ashley", "Benjamin",
		"Bradley", "Brian", "Bryan", "Charles", "Christina", "Christine", "Courtney", "Crystal",
		"David", "Dustin", "Elizabeth", "Eric", "Erin", "Gregory", "Heather", "James", "Jamie",
		"Jennifer", "Jeremy", "Jesse", "Jessica", "John", "Jose", "Justin", "Katherine", "Katie",
		"Kelly", "Kevin", "Kimberly", "Kristen", "Kyle", "Lindsay", "Lindsey", "Lisa", "Mary",
		"Matthew", "Melissa", "Michael", "Nicole", "Patrick", "Paul", "Rachel", "Rebecca",
		"Richard", "Robert", "Samantha", "Samuel", "Shannon", "Stephanie", "Stephen", "Thomas",
		"Timothy", "Travis", "William",
	}
	ioiPlaces  = []string{"garden", "hospital", "house", "office", "restaurant", "school", "station", "store"}
	ioiObjects = []string{"basketball", "bone", "computer", "drink", "kiss", "necklace", "ring", "snack"}
)

// Generate implements Generator.
func (IOI) Generate(n int, seed uint64) ([]Item, error) {
	if n < 1 {
		return nil, fmt.Errorf("audit: ioi: want at least 1 item, got %d", n)
	}
	r := rand.New(rand.NewPCG(seed, 0x10110110))
	out := make([]Item, n)
	for i := range out {
		s := ioiNames[r.IntN(len(ioiNames))]
		io := s
		for io == s {
			io = ioiNames[r.IntN(len(ioiNames))]
		}
		q := strings.NewReplacer(
			"{S}", s, "{IO}", io,
			"{P}", ioiPlaces[r.IntN(len(ioiPlaces))],
			"{O}", ioiObjects[r.IntN(len(ioiObjects))],
		).Replace(ioiTemplates[r.IntN(len(ioiTemplates))])
		out[i] = Item{ID: fmt.Sprintf("ioi-%d", i), Question: q, Choices: []string{s, io}, Answer: 1}
	}
	return out, nil
}
