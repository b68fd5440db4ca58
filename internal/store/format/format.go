// Package format prints query results (store.Result) as an aligned table for people, as CSV, or as JSON.
//
// Values come from traced processes (command names, tool names, message text), so the table form escapes
// control characters, bidirectional overrides and invalid UTF-8 (\x1b, \u202e, \xff) so that they cannot drive
// the terminal, and cuts long cells (a message of megabytes) to MaxCell characters with "…". CSV and JSON carry
// every value whole and exact: CSV as RFC 4180 text (NULL is an empty field), JSON as an array of objects, one
// per row, with numbers as numbers and NULL as null.
package format

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcpscope/mcpscope/internal/store"
)

// Formats.
const (
	Table = "table"
	CSV   = "csv"
	JSON  = "json"
)

// MaxCell is the most characters a table cell shows.
const MaxCell = 60

// Write writes res to w in the given format.
func Write(w io.Writer, res *store.Result, format string) error {
	switch format {
	case Table, "":
		return writeTable(w, res)
	case CSV:
		return writeCSV(w, res)
	case JSON:
		return writeJSON(w, res)
	}
	return fmt.Errorf("unknown format %q: use table, csv or json", format)
}

func writeTable(w io.Writer, res *store.Result) error {
	cells := make([][]string, 0, len(res.Rows)+1)
	header := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = Escape(c, MaxCell)
	}
	cells = append(cells, header)
	right := make([]bool, len(res.Columns)) // numeric columns align right
	for i := range right {
		right[i] = len(res.Rows) > 0
	}
	for _, row := range res.Rows {
		line := make([]string, len(row))
		for i, v := range row {
			line[i] = Escape(text(v, "NULL"), MaxCell)
			switch v.(type) {
			case int64, float64, nil:
			default:
				right[i] = false
			}
		}
		cells = append(cells, line)
	}
	widths := make([]int, len(res.Columns))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b bytes.Buffer
	for n, line := range cells {
		for i, c := range line {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(line)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		b.WriteString("\n")
		if n == 0 {
			for i, wd := range widths {
				if i > 0 {
					b.WriteString("  ")
				}
				b.WriteString(strings.Repeat("-", wd))
			}
			b.WriteString("\n")
		}
	}
	switch len(res.Rows) {
	case 1:
		b.WriteString("(1 row)\n")
	default:
		fmt.Fprintf(&b, "(%d rows)\n", len(res.Rows))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeCSV(w io.Writer, res *store.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(res.Columns); err != nil {
		return err
	}
	rec := make([]string, len(res.Columns))
	for _, row := range res.Rows {
		for i, v := range row {
			rec[i] = text(v, "")
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, res *store.Result) error {
	var b bytes.Buffer
	b.WriteString("[")
	for n, row := range res.Rows {
		if n > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for i, v := range row {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(&b, res.Columns[i])
			b.WriteString(": ")
			switch v := v.(type) {
			case nil:
				b.WriteString("null")
			case int64:
				b.WriteString(strconv.FormatInt(v, 10))
			case float64:
				j, err := json.Marshal(v) // NaN and ±Inf cannot come out of SQLite
				if err != nil {
					return fmt.Errorf("column %s: %w", res.Columns[i], err)
				}
				b.Write(j)
			default:
				writeString(&b, text(v, ""))
			}
		}
		b.WriteString("}")
	}
	if len(res.Rows) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeString writes s as a JSON string without HTML escaping.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // the encoder's newline
}

// text renders a value; BLOBs that are not UTF-8 text are written in base64.
func text(v any, null string) string {
	switch v := v.(type) {
	case nil:
		return null
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return base64.StdEncoding.EncodeToString(v)
	case bool:
		return strconv.FormatBool(v)
	default:
		return fmt.Sprint(v)
	}
}

// Escape makes s safe to print on a terminal and cuts it to max characters (max < 0: no limit), ending a cut
// string with "…". Control characters (C0, DEL, C1; newlines and tabs included, so a cell stays on its line) and
// invalid UTF-8 bytes become \xNN or \uNNNN escapes, as do bidirectional formatting characters, which could
// reorder what a line appears to say. Printable text, ASCII or not, is kept.
func Escape(s string, max int) string {
	var b strings.Builder
	width := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			piece = fmt.Sprintf(`\x%02x`, r)
		case 0x80 <= r && r <= 0x9f, isBidi(r):
			piece = fmt.Sprintf(`\u%04x`, r)
		default:
			piece = s[i : i+size]
		}
		n := utf8.RuneCountInString(piece)
		if max >= 0 && width+n > max-1 && (width+n > max || i+size < len(s)) {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(piece)
		width += n
		i += size
	}
	return b.String()
}

// isBidi reports whether r is a bidirectional formatting character (Unicode's Bidi_Control property).
func isBidi(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069
}
