package httpd

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/portside/portside/proto/http1"
)

//go:embed listing.html
var listingHTML string

var listingTmpl = template.Must(template.New("listing").Funcs(pageFuncs).Parse(listingHTML))

// maxListing bounds the entries of one listing, so a huge directory cannot
// make one request cost unbounded memory and time.
const maxListing = 10000

// dirEntry is one line of a listing.
type dirEntry struct {
	Name     string    `json:"name"`
	Dir      bool      `json:"dir"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	Href     string    `json:"-"`
}

type listing struct {
	Path      string     `json:"path"`
	Entries   []dirEntry `json:"entries"`
	Truncated bool       `json:"truncated,omitempty"`

	Crumbs []crumb `json:"-"`
	Cols   []col   `json:"-"`
	Sort   string  `json:"-"`
	Desc   bool    `json:"-"`
	Upload bool    `json:"-"`
	Parent bool    `json:"-"`
}

type crumb struct{ Name, Href string }

// col is a sortable column heading: a link that sorts by it, ascending,
// or descending if it is already sorted ascending.
type col struct{ Title, Href, Arrow, Class string }

func columns(sortKey string, desc bool) []col {
	if sortKey != "size" && sortKey != "time" {
		sortKey = "name"
	}
	var cs []col
	for _, c := range []struct{ key, title, class string }{{"name", "Name", "name"}, {"size", "Size", "num"}, {"time", "Modified", "time"}} {
		k := col{Title: c.title, Class: c.class, Href: "?sort=" + c.key}
		if c.key == sortKey {
			if desc {
				k.Arrow = "↓"
			} else {
				k.Arrow = "↑"
				k.Href += "&order=desc"
			}
		}
		cs = append(cs, k)
	}
	return cs
}

// serveListing answers a directory without index.html with its entries:
// JSON if the client asks for it (Accept or ?format=json), else an HTML page
// with links to sort by name, size or time and, with uploads on, a form.
func (cn *conn) serveListing(r *http1.Request, e *entry) {
	h := cn.h
	q, _ := url.ParseQuery(string(r.Query))
	l, err := h.readDir(e.name, string(cn.path))
	if err != nil {
		cn.sendError(cn.errorStatus(err))
		return
	}
	l.Sort, l.Desc = q.Get("sort"), q.Get("order") == "desc"
	sortEntries(l.Entries, l.Sort, l.Desc)
	l.Cols = columns(l.Sort, l.Desc)
	l.Upload = h.o.Upload
	l.Parent = string(cn.path) != "/"

	var body bytes.Buffer
	ctype := "text/html; charset=utf-8"
	if q.Get("format") == "json" || (q.Get("format") == "" && prefersJSON(cn.hd.accept)) {
		ctype = "application/json"
		enc := json.NewEncoder(&body)
		enc.SetIndent("", "  ")
		if l.Entries == nil {
			l.Entries = []dirEntry{}
		}
		if err := enc.Encode(l); err != nil {
			h.log.error("listing", "path", string(cn.path), "status", 500, "err", err)
			cn.sendError(500)
			return
		}
	} else if err := listingTmpl.Execute(&body, l); err != nil {
		h.log.error("listing", "path", string(cn.path), "status", 500, "err", err)
		cn.sendError(500)
		return
	}
	extra := []byte("Cache-Control: no-cache\r\nVary: Accept, Accept-Encoding\r\n")
	b := body.Bytes()
	if h.o.Compress && cn.hd.acceptEnc != nil && int64(len(b)) >= h.o.CompressMin {
		ae := parseAcceptEncoding(cn.hd.acceptEnc)
		if c := ae.best(1<<numCodings - 1); c >= 0 {
			if z, err := compressBytes(c, b); err == nil && len(z) < len(b) {
				b = z
				extra = http1.AppendHeader(extra, "Content-Encoding", codings[c].name)
			}
		}
	}
	cn.sendBody(200, ctype, extra, b)
}

// prefersJSON reports whether Accept ranks application/json above
// text/html; a browser's Accept names text/html first.
func prefersJSON(accept []byte) bool {
	a := string(accept)
	j := strings.Index(a, "application/json")
	if j < 0 {
		return false
	}
	h := strings.Index(a, "text/html")
	return h < 0 || j < h
}

// readDir lists the directory name under the root. Dotfiles are left out
// unless shown; so are symbolic links that lead out of the root or nowhere.
func (h *Handler) readDir(name, urlPath string) (*listing, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(maxListing + 1)
	if err != nil && len(des) == 0 && !isEOF(err) {
		return nil, err
	}
	l := &listing{Path: urlPath}
	if len(des) > maxListing {
		des, l.Truncated = des[:maxListing], true
	}
	for _, de := range des {
		n := de.Name()
		if !h.o.Dotfiles && strings.HasPrefix(n, ".") {
			continue
		}
		var fi fs.FileInfo
		if de.Type()&fs.ModeSymlink != 0 {
			fi, err = h.root.Stat(path.Join(name, n))
		} else {
			fi, err = de.Info()
		}
		if err != nil || !(fi.IsDir() || fi.Mode().IsRegular()) {
			continue
		}
		d := dirEntry{Name: n, Dir: fi.IsDir(), Modified: fi.ModTime().UTC().Truncate(time.Second)}
		d.Href = url.PathEscape(n)
		if d.Dir {
			d.Href += "/"
		} else {
			d.Size = fi.Size()
		}
		l.Entries = append(l.Entries, d)
	}
	// Breadcrumbs: each ancestor, linked.
	acc := "/"
	l.Crumbs = append(l.Crumbs, crumb{"/", "/"})
	for _, seg := range strings.Split(strings.Trim(urlPath, "/"), "/") {
		if seg == "" {
			continue
		}
		acc += url.PathEscape(seg) + "/"
		l.Crumbs = append(l.Crumbs, crumb{seg + "/", acc})
	}
	return l, nil
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// sortEntries orders directories first, then by the key asked for.
func sortEntries(es []dirEntry, key string, desc bool) {
	slices.SortStableFunc(es, func(a, b dirEntry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		c := 0
		switch key {
		case "size":
			c = cmpInt(a.Size, b.Size)
		case "time":
			c = a.Modified.Compare(b.Modified)
		}
		if c == 0 {
			c = strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		}
		if desc {
			c = -c
		}
		return c
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return itoa(n) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	whole := n / div
	tenth := (n % div) * 10 / div
	s := itoa(whole)
	if whole < 10 {
		s += "." + itoa(tenth)
	}
	return s + " " + string("KMGTPE"[exp]) + "iB"
}

func itoa(n int64) string { return string(appendInt(nil, n)) }
