package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is how a command prints its result.
type Format int

const (
	Table Format = iota
	JSON
	CSV
)

// OutputFlags adds --json and --csv to c and returns a function that tells which was asked.
func OutputFlags(c *Command) func() (Format, error) {
	j := c.Flags.Bool("json", false, "print JSON (fields documented in the README)")
	cs := c.Flags.Bool("csv", false, "print CSV with a header row")
	return func() (Format, error) {
		switch {
		case *j && *cs:
			return 0, Usagef("--json and --csv exclude each other")
		case *j:
			return JSON, nil
		case *cs:
			return CSV, nil
		}
		return Table, nil
	}
}

// WriteJSON writes v as indented JSON with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Rows is tabular output: a header and string cells. Heat, when set, holds a value per cell
// (NaN for none) that the table view shades; CSV and JSON ignore it.
type Rows struct {
	Header []string
	Cells  [][]string
	Heat   [][]float64
	// csv is the machine form of the rows Add formatted (full precision, tokens as they are,
	// neuron ids that stay apart); rows put in Cells directly are written as they are.
	csv [][]string
}

// Token is a token's text as a cell: quoted in tables, so that spaces and newlines show, and
// as it is in CSV. Bytes that are not UTF-8 (a token holding part of a character) are
// written \xNN in both, never U+FFFD.
type Token string

// Tokens is a list of tokens in one cell: quoted and space-separated in tables, a JSON array
// in CSV (token texts hold spaces and commas).
type Tokens []string

// Neuron names MLP neuron Index of block Layer: "9.1853" in tables; "L9N1853" in CSV, where
// a reader would take 2.220 and 2.22 for the same number (heads are "L9H9" in both).
type Neuron struct{ Layer, Index int }

// Add appends a row of cells: floats with 4 significant digits in the table and every digit
// in CSV, the types above as they say, anything else with fmt's %v.
func (r *Rows) Add(cells ...any) {
	row, raw := make([]string, len(cells)), make([]string, len(cells))
	for i, c := range cells {
		row[i], raw[i] = Cell(c), csvCell(c)
	}
	for len(r.csv) < len(r.Cells) {
		r.csv = append(r.csv, r.Cells[len(r.csv)])
	}
	r.Cells = append(r.Cells, row)
	r.csv = append(r.csv, raw)
}

// Cell formats one value the way tables show it.
func Cell(c any) string {
	switch v := c.(type) {
	case float32:
		return fmt.Sprintf("%.4g", noNegZero(float64(v)))
	case float64:
		return fmt.Sprintf("%.4g", noNegZero(v))
	case string:
		return v
	case Token:
		return strconv.Quote(string(v))
	case Tokens:
		q := make([]string, len(v))
		for i, t := range v {
			q[i] = strconv.Quote(t)
		}
		return strings.Join(q, " ")
	case Neuron:
		return fmt.Sprintf("%d.%d", v.Layer, v.Index)
	}
	return fmt.Sprint(c)
}

// csvCell formats one value for CSV: what a program reads back exactly.
func csvCell(c any) string {
	switch v := c.(type) {
	case float32:
		return strconv.FormatFloat(noNegZero(float64(v)), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(noNegZero(v), 'g', -1, 64)
	case Token:
		return escapeBytes(string(v))
	case Tokens:
		e := make([]string, len(v))
		for i, t := range v {
			e[i] = escapeBytes(t)
		}
		b, _ := json.Marshal(e)
		return string(b)
	case Neuron:
		return fmt.Sprintf("L%dN%d", v.Layer, v.Index)
	}
	return Cell(c)
}

// noNegZero turns −0 into 0: "-0" in a table reads as a sign that means something.
func noNegZero(x float64) float64 {
	if x == 0 {
		return 0
	}
	return x
}

// escapeBytes writes the bytes of s that are not UTF-8 as \xNN, as strconv.Quote does.
func escapeBytes(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// WriteCSV writes the rows as RFC 4180 CSV (encoding/csv), header first.
func (r *Rows) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Header); err != nil {
		return err
	}
	for i, row := range r.Cells {
		if i < len(r.csv) {
			row = r.csv[i]
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the rows aligned; numbers are right-aligned. With color, cells that carry
// heat get a background from blue (negative) through none to red (positive), scaled by the
// largest magnitude in the table.
func (r *Rows) WriteTable(w io.Writer, color bool) error {
	width := make([]int, len(r.Header))
	for i, h := range r.Header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, row := range r.Cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	numeric := make([]bool, len(r.Header)) // right-align columns whose every cell is a number
	for i := range numeric {
		numeric[i] = len(r.Cells) > 0
		for _, row := range r.Cells {
			if i < len(row) && !isNumber(row[i]) {
				numeric[i] = false
			}
		}
	}
	maxHeat := 0.0
	for _, row := range r.Heat {
		for _, h := range row {
			if !math.IsNaN(h) {
				maxHeat = math.Max(maxHeat, math.Abs(h))
			}
		}
	}
	var b strings.Builder
	line := func(row []string, heat []float64) {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			cell := c + pad
			if numeric[i] {
				cell = pad + c
			}
			if color && heat != nil && i < len(heat) && !math.IsNaN(heat[i]) && maxHeat > 0 {
				cell = shade(heat[i]/maxHeat) + cell + "\x1b[0m"
			}
			if i == len(row)-1 && !numeric[i] {
				cell = strings.TrimRight(cell, " ")
			}
			b.WriteString(cell)
		}
		b.WriteString("\n")
	}
	line(r.Header, nil)
	for i, row := range r.Cells {
		var heat []float64
		if i < len(r.Heat) {
			heat = r.Heat[i]
		}
		line(row, heat)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shade maps x in [-1, 1] to a 256-colour background escape.
func shade(x float64) string {
	c := HeatColor(x)
	if c == 0 {
		return ""
	}
	return fmt.Sprintf("\x1b[48;5;%dm", c)
}

// HeatColor maps x in [-1, 1] to a 256-colour palette index, from blue (negative) through
// none (0, for |x| < 0.1) to red (positive): the shading of every heat cell, in tables and
// in the terminal browser.
func HeatColor(x float64) int {
	reds := []int{224, 217, 210, 203, 196}
	blues := []int{195, 153, 111, 69, 27}
	i := min(int(math.Abs(x)*5), 4)
	if math.Abs(x) < 0.1 {
		return 0
	}
	if x > 0 {
		return reds[i]
	}
	return blues[i]
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// Write prints rows in the chosen format; JSON prints v instead (the structured form).
func Write(io *IO, f Format, rows *Rows, v any, color bool) error {
	switch f {
	case JSON:
		return WriteJSON(io.Out, v)
	case CSV:
		return rows.WriteCSV(io.Out)
	}
	return rows.WriteTable(io.Out, color)
}
