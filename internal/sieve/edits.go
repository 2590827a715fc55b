package sieve

import (
	"bytes"
	"strings"

	"github.com/migadu/go-sieve/interp"
)

// HeaderEdit is one editheader change (RFC 5293), applied in order to the
// header of every copy stored or redirected.
type HeaderEdit struct {
	Add   bool   // addheader; else deleteheader
	Name  string // field name
	Value string // addheader: the value; deleteheader: the raw value to delete ("" = by index or all)
	Last  bool   // addheader :last / deleteheader :last (index from the end)
	Index int    // deleteheader :index (1-based), 0 = not given
}

func convertEdits(in []interp.HeaderEdit) []HeaderEdit {
	out := make([]HeaderEdit, 0, len(in))
	for _, e := range in {
		out = append(out, HeaderEdit{Add: e.Action == "add", Name: e.FieldName, Value: e.Value, Last: e.Last, Index: e.Index})
	}
	return out
}

// ApplyEdits returns the message with the edits applied to its header.
// Fields not touched keep their bytes; added fields are written
// "Name: value" with the message's line ending. With no edits raw itself
// is returned.
func ApplyEdits(raw []byte, edits []HeaderEdit) []byte {
	if len(edits) == 0 {
		return raw
	}
	fields, body := splitHeader(raw)
	hdrEnd := 0 // the original fields are contiguous from the start
	for _, f := range fields {
		hdrEnd += len(f.raw)
	}
	eol := "\n"
	if bytes.Contains(raw[:body], []byte("\r\n")) {
		eol = "\r\n"
	}
	for _, e := range edits {
		if e.Add {
			f := field{name: e.Name, raw: []byte(e.Name + ": " + e.Value + eol)}
			if e.Last {
				fields = append(fields, f)
			} else {
				fields = append([]field{f}, fields...)
			}
			continue
		}
		fields = deleteField(fields, e)
	}
	var out bytes.Buffer
	out.Grow(len(raw))
	for _, f := range fields {
		out.Write(f.raw)
	}
	out.Write(raw[hdrEnd:]) // the empty line and the body, unchanged
	return out.Bytes()
}

// deleteField mirrors go-sieve's view of deletions so the stored header is
// what the script's later tests saw.
func deleteField(fields []field, e HeaderEdit) []field {
	var idx []int
	for i, f := range fields {
		if strings.EqualFold(f.name, e.Name) {
			idx = append(idx, i)
		}
	}
	drop := map[int]bool{}
	switch {
	case e.Index > 0:
		k := e.Index - 1
		if e.Last {
			k = len(idx) - e.Index
		}
		if k >= 0 && k < len(idx) {
			drop[idx[k]] = true
		}
	case e.Value != "":
		for _, i := range idx {
			if fields[i].value() == e.Value {
				drop[i] = true
				break
			}
		}
	default:
		for _, i := range idx {
			drop[i] = true
		}
	}
	out := fields[:0:0]
	for i, f := range fields {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return out
}
