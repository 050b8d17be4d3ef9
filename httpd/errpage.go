package httpd

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html"
	"html/template"
	"net/url"
	"strings"

	"github.com/portside/portside/proto/http1"
)

// Error answers and upload reports say what happened and what to do, in
// the form the client reads best: an HTML page styled like the listings
// for a browser (Accept names text/html), JSON for a program that asks
// for it (Accept ranks application/json above text/html), and plain text,
// a few lines, for everyone else, curl in a terminal above all.

//go:embed page.css
var pageCSS string

//go:embed errpage.html
var errpageHTML string

var pageFuncs = template.FuncMap{
	"size": humanSize,
	"css":  func() template.CSS { return template.CSS(pageCSS) },
	"rich": richText,
}

var errpageTmpl = template.Must(template.New("errpage").Funcs(pageFuncs).Parse(errpageHTML))

// problem is what an error answer says: its status, what went wrong
// (Detail) and what the client can do about it (Hint). Both are sentences
// in which `backquotes` mark a flag or command; they never hold a name as
// the client sent it, only paths as they go in a URL (percent-encoded), so
// they are safe to print on a terminal. The JSON names follow RFC 9457.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	Hint   string `json:"hint,omitempty"`
	back   string // the folder the HTML page links back to, if not "/"
}

// storedFile and refusedFile are the lines of an upload report.
type storedFile struct {
	Name     string `json:"name"` // as stored
	Path     string `json:"path"` // its URL path, percent-encoded
	Size     int64  `json:"size"`
	Replaced bool   `json:"replaced,omitempty"`
}

type refusedFile struct {
	Name   string `json:"name"` // as the client sent it, made printable
	Reason string `json:"reason"`
	Status int    `json:"status"`
}

// uploadReport is the answer to an upload: for PUT its one file, for a
// form every file part, stored or refused, and why. Error is set when the
// request itself failed part way (a form over the size limit): the files
// stored before stay stored.
type uploadReport struct {
	Stored  []storedFile  `json:"stored"`
	Refused []refusedFile `json:"refused"`
	Error   *problem      `json:"error,omitempty"`
	Summary string        `json:"-"`
}

// answerFormat is the form an answer takes.
type answerFormat uint8

const (
	formatText answerFormat = iota
	formatHTML
	formatJSON
)

func negotiate(accept []byte) answerFormat {
	switch {
	case prefersJSON(accept):
		return formatJSON
	case bytes.Contains(accept, []byte("text/html")):
		return formatHTML
	}
	return formatText
}

// sendProblem answers an error. A generic one (no Detail) is its reason
// phrase alone in plain text, as it always was.
func (cn *conn) sendProblem(p problem) {
	status := p.Status
	if p.Title == "" {
		p.Title = http1.StatusText(status)
	}
	var extra []byte
	switch status {
	case 401:
		extra = append(extra, "WWW-Authenticate: Basic realm=\"portside\", charset=\"UTF-8\"\r\n"...)
	case 405:
		allow := cn.h.allow
		if cn.route != nil && cn.route.allow != "" {
			allow = cn.route.allow
		}
		extra = http1.AppendHeader(extra, "Allow", allow)
	case 429, 503:
		extra = append(extra, "Retry-After: 1\r\n"...)
	}
	extra = append(extra, "Vary: Accept\r\n"...)
	f := negotiate(cn.hd.accept)
	if f == formatHTML && p.Detail == "" {
		cn.genericDetail(&p)
	}
	ctype, body := cn.renderPage(f, p, nil)
	cn.sendBody(status, ctype, extra, body)
}

// sendReport answers an upload with its report.
func (cn *conn) sendReport(status int, up *upload, extra []byte) {
	extra = append(extra, "Vary: Accept\r\n"...)
	rep := &up.rep
	folder := folderPath(up.dir)
	rep.Summary = countFiles(len(rep.Stored)) + " stored in " + folder
	if len(rep.Refused) > 0 {
		rep.Summary += ", " + countFiles(len(rep.Refused)) + " refused"
	}
	rep.Summary += "."
	p := problem{Status: status, Title: http1.StatusText(status), back: folder}
	ctype, body := cn.renderPage(negotiate(cn.hd.accept), p, rep)
	cn.sendBody(status, ctype, extra, body)
}

func countFiles(n int) string {
	if n == 1 {
		return "1 file"
	}
	return itoa(int64(n)) + " files"
}

// renderPage renders an error (rep nil) or an upload report in format f.
func (cn *conn) renderPage(f answerFormat, p problem, rep *uploadReport) (ctype string, body []byte) {
	switch f {
	case formatJSON:
		var v any = &p
		if rep != nil {
			if rep.Stored == nil {
				rep.Stored = []storedFile{}
			}
			if rep.Refused == nil {
				rep.Refused = []refusedFile{}
			}
			v = rep
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err == nil {
			return "application/json", append(b, '\n')
		}
	case formatHTML:
		var b bytes.Buffer
		if err := errpageTmpl.Execute(&b, cn.pageData(p, rep)); err == nil {
			return "text/html; charset=utf-8", b.Bytes()
		}
	}
	if rep != nil {
		return "text/plain; charset=utf-8", reportText(rep)
	}
	return "text/plain; charset=utf-8", problemText(nil, "", &p)
}

// problemText is p as plain text: "Title: detail" and the hint on a line
// of its own; a generic problem is its title alone.
func problemText(b []byte, prefix string, p *problem) []byte {
	b = append(b, prefix...)
	b = append(b, p.Title...)
	if p.Detail != "" {
		b = append(b, ": "...)
		b = append(b, plain(p.Detail)...)
	}
	b = append(b, '\n')
	if p.Hint != "" {
		b = append(b, plain(p.Hint)...)
		b = append(b, '\n')
	}
	return b
}

// reportText is an upload report as plain text, a line per file:
//
//	stored   /inbox/new1.txt (12 B)
//	refused  page.html: /inbox/page.html exists. ... (409)
func reportText(rep *uploadReport) []byte {
	var b []byte
	for _, s := range rep.Stored {
		if s.Replaced {
			b = append(b, "replaced "...)
		} else {
			b = append(b, "stored   "...)
		}
		b = append(b, s.Path...)
		b = append(b, " ("...)
		b = append(b, humanSize(s.Size)...)
		b = append(b, ")\n"...)
	}
	for _, r := range rep.Refused {
		b = append(b, "refused  "...)
		b = append(b, r.Name...)
		b = append(b, ": "...)
		b = append(b, plain(r.Reason)...)
		b = append(b, " ("...)
		b = appendInt(b, int64(r.Status))
		b = append(b, ")\n"...)
	}
	if rep.Error != nil {
		b = problemText(b, "error: ", rep.Error)
	}
	return b
}

// plain drops the backquotes that mark code in a problem's sentences.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }

// richText renders a problem's sentence as HTML, `code` as <code>.
func richText(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + html.EscapeString(part) + "</code>")
		} else {
			b.WriteString(html.EscapeString(part))
		}
	}
	return template.HTML(b.String())
}

type pageLink struct{ Name, Href string }

type pageData struct {
	Badge   string // the status code of an error
	Heading string
	Problem *problem
	Report  *uploadReport
	Links   []pageLink
}

func (cn *conn) pageData(p problem, rep *uploadReport) *pageData {
	d := &pageData{Report: rep}
	if rep == nil {
		d.Badge, d.Heading, d.Problem = itoa(int64(p.Status)), p.Title, &p
	} else {
		d.Heading = "Upload to " + p.back
	}
	if p.back != "" && p.back != "/" {
		d.Links = append(d.Links, pageLink{"Back to " + p.back, p.back})
	}
	d.Links = append(d.Links, pageLink{"Go to the top folder", "/"})
	return d
}

// genericDetail says what a status without a problem of its own means,
// for the HTML page; plain text keeps the reason phrase alone.
func (cn *conn) genericDetail(p *problem) {
	where := string(cn.path)
	if len(where) == 0 || where[0] != '/' {
		return
	}
	where = urlPath(where)
	switch p.Status {
	case 404:
		p.Detail, p.Hint = "There is nothing at "+where+" on this server.", "Check the address, or start again from the top folder."
	case 403:
		p.Detail = "This server may not show " + where + "."
	case 405:
		p.Detail = "This server does not answer that method for " + where + "."
	case 500:
		p.Detail, p.Hint = "Something went wrong on the server.", "Try again; if it keeps happening, tell the server's operator."
	}
}

// urlPath is a path under the root as it goes in a URL: with a leading
// slash and percent-encoded, so also safe to print.
func urlPath(rel string) string {
	if rel == "." || rel == "" {
		return "/"
	}
	return (&url.URL{Path: "/" + strings.TrimPrefix(rel, "/")}).EscapedPath()
}

// folderPath is urlPath of a directory, ending in a slash.
func folderPath(rel string) string {
	p := urlPath(rel)
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// printable makes a name the client sent safe to show: valid UTF-8
// without control characters, at most 255 bytes.
func printable(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, name)
	if len(name) > 255 {
		name = strings.ToValidUTF8(name[:255], "") + "…"
	}
	if name == "" {
		name = `""`
	}
	return name
}

// limitSize writes an upload limit as the operator likely gave it (in
// whole GiB, MiB or KiB if it is one, else rounded), with the exact bytes.
func limitSize(n int64) string {
	if n < 1024 {
		return itoa(n) + " bytes"
	}
	exact := " (" + itoa(n) + " bytes)"
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return itoa(n/u.size) + " " + u.name + exact
		}
	}
	return humanSize(n) + exact
}

// The problems of uploads, each with what to do about it.

func probUploadsOff() problem {
	return problem{Status: 405, Detail: "This server does not accept uploads.",
		Hint: "Its operator can turn them on by running it with `--upload`."}
}

func probExists(rel string, isDir bool) problem {
	p := urlPath(rel)
	if isDir {
		return problem{Status: 409, Detail: p + " is a folder.", Hint: "Upload the file under another name.", back: folderPath(pathDir(rel))}
	}
	return problem{Status: 409, Detail: p + " already exists.",
		Hint: "This server does not replace files: upload under another name, or ask its operator to run it with `--overwrite`.",
		back: folderPath(pathDir(rel))}
}

func probNoFolder(dir string) problem {
	return problem{Status: 404, Detail: "The folder " + folderPath(dir) + " does not exist.",
		Hint: "Uploads do not create folders: upload into a folder that exists, or have this one made on the server first."}
}

func probNotFolder(dir string) problem {
	return problem{Status: 409, Detail: urlPath(dir) + " is a file, not a folder.",
		Hint: "Upload into a folder."}
}

func (h *Handler) probTooLarge(size int64) problem {
	d := "The upload is larger than this server's limit of " + limitSize(h.o.MaxUpload) + "."
	if size > 0 {
		d = "The upload (" + itoa(size) + " bytes) is larger than this server's limit of " + limitSize(h.o.MaxUpload) + "."
	}
	return problem{Status: 413, Detail: d,
		Hint: "Send a smaller file, or ask the server's operator to raise `--max-upload`."}
}

func probHiddenName(rel string) problem {
	return problem{Status: 403, Detail: "Names starting with a dot are private on this server.",
		Hint: "Upload under a name that does not start with a dot.", back: folderPath(pathDir(rel))}
}

func probPutFolder(rel string) problem {
	f := folderPath(rel)
	return problem{Status: 405, Detail: f + " is a folder: PUT stores a file under the name in its path.",
		Hint: "PUT to " + f + "NAME, or POST a form to the folder (`curl -F file=@NAME " + f + "`).", back: f}
}

func probBadName(rel string) problem {
	return problem{Status: 400, Detail: "The name in " + urlPath(rel) + " is not one this server stores.",
		Hint: "Use a name without control characters, and not starting with a dot or a space.", back: folderPath(pathDir(rel))}
}

func probNotForm(dir string) problem {
	return problem{Status: 415, Detail: "A POST to a folder takes a multipart/form-data form.",
		Hint: "Send files as a form (`curl -F file=@NAME`), or PUT a file to its name.", back: folderPath(dir)}
}

func probNoBoundary(dir string) problem {
	return problem{Status: 400, Detail: "The form's Content-Type has no usable boundary (1 to 70 characters).",
		Hint: "Send the form with a client that writes multipart/form-data (`curl -F file=@NAME`).", back: folderPath(dir)}
}

func pathDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}
