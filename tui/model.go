package tui

import (
	"context"
	"fmt"
	"slices"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
)

// pane is the screen shown under the prompt.
type pane int

const (
	paneTokens pane = iota
	paneLens
	paneAttribution
	paneHeads
	paneNeurons
	paneAudit
	paneEdits
	nPanes
)

var paneNames = [nPanes]string{"tokens", "lens", "attribution", "heads", "neurons", "audit", "edits"}

func (p pane) String() string { return paneNames[p] }

// lensMode is what the lens grid shows of each cell.
type lensMode int

const (
	lensProb lensMode = iota // the target's probability
	lensRank                 // the target's rank
	lensDiff                 // logit(target) − logit(distractor)
	nLensModes
)

// inputKind is what the text input line is reading.
type inputKind int

const (
	inputNone inputKind = iota
	inputPrompt
	inputTarget
	inputDistractor
	inputSearch
	inputScale
	inputRule
	inputSteer
	inputLoad
	inputSave
)

var inputLabels = map[inputKind]string{
	inputPrompt: "prompt", inputTarget: "target token", inputDistractor: "distractor token",
	inputSearch: "value vectors promoting token", inputScale: "scale by", inputRule: "value-vector rule −α1·W_U[target] + α2·W_U[distractor]: α1 α2",
	inputSteer: "steer toward target − distractor at the cursor: layer α", inputLoad: "load edit set", inputSave: "save edit set to",
}

// Options configure a browser.
type Options struct {
	Model     *gpt2.Model
	ModelName string
	Prompt    string
	BOS       bool // prepend <|endoftext|> to typed prompts
	Audit     *Audit
	// Session is the file the session is saved to on quit and on ctrl+s ("" for none).
	Session string
	// Edits, when set, starts the active edit list (--edits FILE).
	Edits *edit.Set
}

// Model is the browser's state; View draws it and Update changes it.
type Model struct {
	opts Options
	// template is the unedited model: it is never run, only cloned (on the UI goroutine), for
	// the base analyses (base) and for each application of the edits.
	template *gpt2.Model
	base     *gpt2.Model
	width    int
	height   int

	pane  pane
	help  bool
	input textinput.Model
	in    inputKind

	prompt             string
	bos                bool
	ids                []int
	pos                int // cursor position
	target, distractor int // token ids, −1 until chosen
	norm               lens.Norm
	lensMode           lensMode
	lensRow            int
	attRow             int
	head               Unit
	neuron             Unit
	searchRow          int
	auditRow           int

	edits   []editEntry
	history [][]editEntry // earlier lists, for undo
	editRow int
	side    side

	res    *Analysis
	resReq Request   // the request res answers, target and distractor resolved
	edited *Analysis // under the edits that are on; nil without
	search *lens.PromoterSearch
	status string // the last error or notice, shown on the status line

	seq    int                // of the newest request; older results are dropped
	cancel context.CancelFunc // cancels the newest request's computation
	busy   bool
}

// resultMsg carries a finished analysis; seq identifies the request it answers.
type resultMsg struct {
	seq         int
	req         Request
	res, edited *Analysis
	err         error
}

// searchMsg carries a finished value-vector search.
type searchMsg struct {
	ps  *lens.PromoterSearch
	err error
}

// New returns a browser over o.Model.
func New(o Options) (Model, error) {
	if o.Model == nil || o.Model.Tokenizer == nil {
		return Model{}, fmt.Errorf("tui: the model has no tokenizer to read prompts with")
	}
	m := Model{opts: o, template: o.Model, base: o.Model.Clone(), width: 80, height: 24, bos: o.BOS, target: -1, distractor: -1, norm: lens.NormOwn}
	if o.Edits != nil {
		if err := o.Edits.CheckModel(o.Model, o.ModelName); err != nil {
			return Model{}, fmt.Errorf("--edits: %v", err)
		}
		for _, e := range o.Edits.Edits {
			m.edits = append(m.edits, editEntry{e, true})
		}
	}
	m.input = textinput.New()
	m.input.Prompt = ""
	if o.Audit != nil {
		m.pane = paneAudit
	}
	prompt := o.Prompt
	if prompt == "" && o.Audit == nil {
		prompt = "The quick brown fox"
	}
	if prompt != "" {
		if err := m.setPrompt(prompt); err != nil {
			return Model{}, err
		}
	}
	return m, nil
}

// setPrompt tokenizes a prompt and puts the cursor on its last token.
func (m *Model) setPrompt(p string) error {
	if p == "" {
		return fmt.Errorf("the prompt is empty")
	}
	tok := m.base.Tokenizer
	ids := tok.Encode(p)
	if m.bos && tok.EOT() >= 0 {
		ids = append([]int{tok.EOT()}, ids...)
	}
	if len(ids) == 0 {
		return fmt.Errorf("the prompt is empty")
	}
	if len(ids) > m.base.Config.NCtx {
		return fmt.Errorf("the prompt has %d tokens, more than the model's context of %d", len(ids), m.base.Config.NCtx)
	}
	m.prompt, m.ids, m.pos = p, ids, len(ids)-1
	m.target, m.distractor = -1, -1
	return nil
}

// startMsg asks for the first analysis: Init cannot keep the request's sequence number, as
// it returns no model.
type startMsg struct{}

// Init starts the first analysis.
func (m Model) Init() tea.Cmd {
	return func() tea.Msg { return startMsg{} }
}

// compute cancels the running analysis and starts one for the current state. It is called
// on a pointer to the model Update is about to return, so the new seq and cancel are kept.
func (m *Model) compute() tea.Cmd {
	if m.ids == nil {
		return nil
	}
	if m.cancel != nil {
		m.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.seq++
	m.busy = true
	seq, base, req := m.seq, m.base, m.request()
	edited, set := m.editedModel()
	var prev *Analysis
	if m.res != nil && req.same(m.resReq) {
		prev = m.res // an edit changed: the base model's analysis stands
	}
	return func() tea.Msg {
		res, ed, err := analyzeBoth(ctx, base, prev, edited, set, req)
		return resultMsg{seq, req, res, ed, err}
	}
}

// analyzeBoth analyzes the base model and, when there are edits, applies them to edited (a
// fresh clone) and analyzes it on the same target and distractor.
// prev, when not nil, is the base model's analysis of req, already done.
func analyzeBoth(ctx context.Context, base *gpt2.Model, prev *Analysis, edited *gpt2.Model, set *edit.Set, req Request) (res, ed *Analysis, err error) {
	if res = prev; res == nil {
		res, err = Analyze(ctx, base, req)
	}
	if err != nil || edited == nil {
		return res, nil, err
	}
	if _, err := set.Apply(edited); err != nil {
		return nil, nil, err
	}
	req.Target, req.Distractor = res.Target.ID, res.Distractor.ID
	ed, err = Analyze(ctx, edited, req)
	return res, ed, err
}

// request is what the panes need now.
func (m *Model) request() Request {
	from, to := m.lensWindow()
	return Request{IDs: m.ids, Pos: m.pos, Target: m.target, Distractor: m.distractor,
		Lens: m.pane == paneLens, LensFrom: from, LensTo: to, Norm: m.norm, Head: m.head, Neuron: m.neuron, Value: m.pane == paneNeurons}
}

// same reports whether two requests ask for the same analysis.
func (r Request) same(o Request) bool {
	return slices.Equal(r.IDs, o.IDs) && r.Pos == o.Pos && r.Target == o.Target && r.Distractor == o.Distractor &&
		r.Lens == o.Lens && r.LensFrom == o.LensFrom && r.LensTo == o.LensTo && r.Norm == o.Norm &&
		r.Head == o.Head && r.Neuron == o.Neuron && r.Value == o.Value
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case startMsg:
		return m, m.compute()
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.input.SetWidth(max(m.width-24, 10))
		if m.pane == paneLens {
			return m, m.compute() // the lens covers the positions that fit
		}
		return m, nil
	case resultMsg:
		if msg.seq != m.seq {
			return m, nil // a stale answer to a request since replaced
		}
		m.busy = false
		if msg.err != nil {
			if msg.err != context.Canceled {
				m.status = msg.err.Error()
			}
			return m, nil
		}
		m.res, m.edited = msg.res, msg.edited
		m.resReq = msg.req
		m.resReq.Target, m.resReq.Distractor = msg.res.Target.ID, msg.res.Distractor.ID
		m.target, m.distractor = msg.res.Target.ID, msg.res.Distractor.ID
		m.clampRows()
		return m, nil
	case searchMsg:
		if msg.err != nil {
			m.status = msg.err.Error()
		} else {
			m.search, m.searchRow = msg.ps, 0
			return m.setPane(paneNeurons)
		}
		return m, nil
	case tea.KeyPressMsg:
		if m.in != inputNone {
			return m.updateInput(msg)
		}
		return m.updateKey(msg)
	}
	if m.in != inputNone {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

// openInput starts reading a line of text for k.
func (m *Model) openInput(k inputKind, value string) tea.Cmd {
	m.in = k
	m.input.SetValue(value)
	m.input.CursorEnd()
	return m.input.Focus()
}

func (m Model) updateInput(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.in = inputNone
		m.input.Blur()
		return m, nil
	case "ctrl+c":
		return m, m.quit()
	case "enter":
		k, v := m.in, m.input.Value()
		m.in = inputNone
		m.input.Blur()
		m.status = ""
		return m.submit(k, v)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// submit acts on a line of input.
func (m Model) submit(k inputKind, v string) (tea.Model, tea.Cmd) {
	switch k {
	case inputPrompt:
		if err := m.setPrompt(v); err != nil {
			m.status = err.Error()
			return m, nil
		}
		return m, m.compute()
	case inputTarget, inputDistractor:
		id, err := m.base.Tokenizer.TokenID(v)
		if err != nil {
			m.status = err.Error()
			return m, nil
		}
		if k == inputTarget {
			m.target = id
		} else {
			m.distractor = id
		}
		if m.target == m.distractor {
			m.status = "target and distractor are the same token"
			return m, nil
		}
		return m, m.compute()
	case inputScale, inputRule, inputSteer, inputLoad, inputSave:
		cmd, err := m.submitEdit(k, v)
		if err != nil {
			m.status = err.Error()
		}
		return m, cmd
	case inputSearch:
		id, err := m.base.Tokenizer.TokenID(v)
		if err != nil {
			m.status = err.Error()
			return m, nil
		}
		base := m.base
		return m, func() tea.Msg {
			ps, err := lens.New(base).Promoters(id, 50, "logit", false)
			return searchMsg{ps, err}
		}
	}
	return m, nil
}

// quit saves the session when asked to and ends the program.
func (m *Model) quit() tea.Cmd {
	if m.cancel != nil {
		m.cancel()
	}
	if m.opts.Session != "" {
		if err := m.saveSession(m.opts.Session); err != nil {
			m.status = err.Error()
			return nil
		}
	}
	return tea.Quit
}

func (m Model) updateKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := msg.String()
	if m.help {
		if k == "ctrl+c" || k == "q" {
			return m, m.quit()
		}
		m.help = false // any other key closes the help
		return m, nil
	}
	switch k {
	case "ctrl+c", "q":
		return m, m.quit()
	case "?":
		m.help = true
		return m, nil
	case "tab", "shift+tab":
		step := pane(1)
		if k == "shift+tab" {
			step = nPanes - 1
		}
		return m.setPane((m.pane + step) % nPanes)
	case "1", "2", "3", "4", "5", "6", "7":
		return m.setPane(pane(k[0] - '1'))
	case "e", "i":
		return m, m.openInput(inputPrompt, m.prompt)
	case "t":
		return m, m.openInput(inputTarget, "")
	case "b":
		return m, m.openInput(inputDistractor, "")
	case "/":
		return m, m.openInput(inputSearch, "")
	case "a":
		e, err := m.scaleEdit(0)
		if err != nil {
			m.status = err.Error()
			return m, nil
		}
		return m, m.addEdit(e)
	case "x":
		return m, m.openInput(inputScale, "0.5")
	case "V":
		return m, m.openInput(inputRule, "1 1")
	case "S":
		return m, m.openInput(inputSteer, "0 4")
	case "L":
		return m, m.openInput(inputLoad, "")
	case "w":
		return m, m.openInput(inputSave, "edits.json")
	case "u":
		if n := len(m.history); n > 0 {
			m.edits, m.history = m.history[n-1], m.history[:n-1]
			return m, m.compute()
		}
		m.status = "nothing to undo"
		return m, nil
	case "v":
		m.side = (m.side + 1) % nSides
		return m, nil
	case "s":
		m.target, m.distractor = m.distractor, m.target
		return m, m.compute()
	case "ctrl+s":
		if m.opts.Session == "" {
			m.status = "no --session file to save to"
		} else if err := m.saveSession(m.opts.Session); err != nil {
			m.status = err.Error()
		} else {
			m.status = "session saved to " + m.opts.Session
		}
		return m, nil
	case "left", "h":
		if m.pos > 0 {
			m.pos--
			return m, m.compute()
		}
		return m, nil
	case "right", "l":
		if m.pos < len(m.ids)-1 {
			m.pos++
			return m, m.compute()
		}
		return m, nil
	case "home":
		m.pos = 0
		return m, m.compute()
	case "end":
		m.pos = max(len(m.ids)-1, 0)
		return m, m.compute()
	}
	return m.updatePane(k)
}

// setPane switches panes; the lens and the neuron's value vector are computed only while
// their panes are shown.
func (m Model) setPane(p pane) (tea.Model, tea.Cmd) {
	m.pane = p
	if m.res != nil && (p == paneLens && m.res.Lens == nil || p == paneNeurons && m.res.Value == nil) {
		return m, m.compute()
	}
	return m, nil
}

// updatePane handles the keys of the active pane.
func (m Model) updatePane(k string) (tea.Model, tea.Cmd) {
	c := m.base.Config
	up, down := k == "up" || k == "k", k == "down" || k == "j"
	move := func(row *int, n int) {
		if up && *row > 0 {
			*row--
		}
		if down && *row < n-1 {
			*row++
		}
	}
	switch m.pane {
	case paneLens:
		switch k {
		case "n":
			if m.norm == lens.NormOwn {
				m.norm = lens.NormFinalScale
			} else {
				m.norm = lens.NormOwn
			}
			return m, m.compute()
		case "r":
			m.lensMode = (m.lensMode + 1) % nLensModes
		}
		if m.res != nil && m.res.Lens != nil {
			move(&m.lensRow, len(m.res.Lens.Points))
		}
	case paneAttribution:
		rows := m.attributionRows()
		move(&m.attRow, len(rows))
		if k == "enter" && m.attRow < len(rows) {
			return m.open(rows[m.attRow])
		}
	case paneHeads:
		n := c.NLayers * c.NHeads
		i := m.head.Layer*c.NHeads + m.head.Index
		move(&i, n)
		if k == "[" || k == "]" { // a layer up or down
			i = (i + map[string]int{"[": n - c.NHeads, "]": c.NHeads}[k]) % n
		}
		if u := (Unit{i / c.NHeads, i % c.NHeads}); u != m.head {
			m.head = u
			return m, m.compute()
		}
	case paneNeurons:
		if m.search != nil {
			move(&m.searchRow, len(m.search.Neurons))
			if k == "enter" && m.searchRow < len(m.search.Neurons) {
				p := m.search.Neurons[m.searchRow]
				m.neuron = Unit{p.Layer, p.Neuron}
				return m, m.compute()
			}
		}
	case paneEdits:
		move(&m.editRow, len(m.edits))
		if m.editRow < len(m.edits) {
			switch k {
			case "space", " ":
				list := cloneEdits(m.edits)
				list[m.editRow].On = !list[m.editRow].On
				return m, m.setEdits(list)
			case "d", "delete", "backspace":
				list := append(cloneEdits(m.edits[:m.editRow]), m.edits[m.editRow+1:]...)
				return m, m.setEdits(list)
			}
		}
	case paneAudit:
		if m.opts.Audit == nil {
			return m, nil
		}
		move(&m.auditRow, len(m.opts.Audit.Records))
		if k == "enter" && m.auditRow < len(m.opts.Audit.Records) {
			return m.openAuditItem(m.opts.Audit.Records[m.auditRow])
		}
	}
	return m, nil
}

// open shows the unit behind an attribution row: a head in the heads pane, a neuron (or an
// MLP's strongest neuron) in the neurons pane.
func (m Model) open(r attRow) (tea.Model, tea.Cmd) {
	switch {
	case r.head != nil:
		m.head, m.pane = *r.head, paneHeads
	case r.neuron != nil:
		m.neuron, m.pane = *r.neuron, paneNeurons
	default:
		return m, nil
	}
	return m, m.compute()
}

// openAuditItem puts an audit item's prompt in the panes, with " A" against the correct
// letter.
func (m Model) openAuditItem(r audit.Record) (tea.Model, tea.Cmd) {
	prompt, anchor, correct, bos, err := m.opts.Audit.Prompt(r)
	if err != nil {
		m.status = err.Error()
		return m, nil
	}
	m.bos = bos
	if err := m.setPrompt(prompt); err != nil {
		m.status = err.Error()
		return m, nil
	}
	tok := m.base.Tokenizer
	if m.target, err = tok.TokenID(anchor); err == nil {
		m.distractor, err = tok.TokenID(correct)
	}
	if err != nil || m.target == m.distractor {
		m.target, m.distractor = -1, -1 // the answer is A: let the defaults pick
	}
	m.pane = paneAttribution
	m.attRow = 0
	return m, m.compute()
}

// clampRows keeps the selections inside the lists of a new result.
func (m *Model) clampRows() {
	m.attRow = min(m.attRow, max(len(m.attributionRows())-1, 0))
	if m.res.Lens != nil {
		m.lensRow = min(m.lensRow, max(len(m.res.Lens.Points)-1, 0))
	}
}

// lensWindow is the positions the lens grid has room for, around the cursor.
func (m *Model) lensWindow() (from, to int) {
	n := max((m.width-lensLabelWidth)/lensCellWidth, 1)
	from = max(0, min(m.pos-n/2, len(m.ids)-n))
	return from, min(from+n, len(m.ids))
}
