// Package mime maps file name extensions to media types from a table
// embedded in the binary, so a server answers the same on every machine
// whatever /etc/mime.types says.
package mime

import (
	_ "embed"
	"strings"
)

//go:embed types.txt
var table string

// Default is the type of a file whose extension the table does not list:
// bytes a browser will offer to save rather than try to render.
const Default = "application/octet-stream"

type entry struct {
	typ          string
	compressible bool
}

var byExt = parse(table)

func parse(t string) map[string]entry {
	m := make(map[string]entry)
	for line := range strings.Lines(t) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		ext, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		e := entry{typ: rest}
		if strings.HasSuffix(rest, " z") {
			e.typ, e.compressible = strings.TrimSpace(rest[:len(rest)-2]), true
		}
		m[ext] = e
	}
	return m
}

// TypeByName returns the media type for a file name by its extension, case
// insensitively, and whether the type is worth compressing (text, JSON, SVG
// and other formats that are not compressed already). A name without a
// known extension gets Default, not compressible.
func TypeByName(name string) (typ string, compressible bool) {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 || dot == len(name)-1 || strings.IndexByte(name[dot:], '/') >= 0 {
		return Default, false
	}
	ext := name[dot+1:]
	if e, ok := byExt[ext]; ok {
		return e.typ, e.compressible
	}
	if e, ok := byExt[strings.ToLower(ext)]; ok {
		return e.typ, e.compressible
	}
	return Default, false
}
