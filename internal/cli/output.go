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
}

// Add appends a row of cells formatted with fmt's %v (floats with %.4g).
func (r *Rows) Add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = Cell(c)
	}
	r.Cells = append(r.Cells, row)
}

// Cell formats one value the way tables show it.
func Cell(c any) string {
	switch v := c.(type) {
	case float32:
		return fmt.Sprintf("%.4g", v)
	case float64:
		return fmt.Sprintf("%.4g", v)
	case string:
		return v
	}
	return fmt.Sprint(c)
}

// WriteCSV writes the rows as CSV.
func (r *Rows) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Header); err != nil {
		return err
	}
	for _, row := range r.Cells {
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
