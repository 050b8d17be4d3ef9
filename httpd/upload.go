package httpd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/portside/portside/proto/http1"
)

// upload is a request body being stored: one file for PUT, each file part
// of a multipart/form-data POST. Data is written to a temporary file in the
// target directory as it arrives, on the engine's goroutine: a disk write
// per read is short, and while it runs the connection is not read, so a
// fast client is held back by TCP itself and memory stays bounded.
type upload struct {
	h         *Handler
	dir       string // target directory under the root
	form      *formParser
	cur       *os.File // the temporary file being written
	tmp       string
	final     string
	n         int64
	total     int64
	saved     []string // names under the root, stored
	replaced  bool     // PUT replaced an existing file
	skipping  bool     // a form field that is not a file
	fieldSize int
}

// Errors that end an upload, with their status.
type uploadError struct {
	status int
	msg    string
}

func (e *uploadError) Error() string { return "httpd: " + e.msg }

var (
	errTooLarge = &uploadError{413, "upload too large"}
	errExists   = &uploadError{409, "file exists"}
	errBadName  = &uploadError{400, "unusable file name"}
	errNoSpace  = &uploadError{507, "no space left"}
	errWrite    = &uploadError{500, "write failed"}
	errField    = &uploadError{413, "form field too large"}
)

// startPut prepares a PUT: the target must be a file name in an existing
// directory and, without Overwrite, must not exist yet. It is all checked
// before 100 Continue, so a refused client need not send the body.
func (cn *conn) startPut(r *http1.Request) {
	h := cn.h
	if cn.pathSt == pathHidden {
		cn.reject(403)
		return
	}
	p := string(cn.path)
	if strings.HasSuffix(p, "/") {
		cn.reject(405) // a directory
		return
	}
	if r.ContentLength > h.o.MaxUpload {
		cn.reject(413)
		return
	}
	rel := string(relPath(cn.path))
	dir, base := path.Dir(rel), path.Base(rel)
	if sanitizeName(base) != base {
		cn.reject(400)
		return
	}
	if status := cn.checkDir(dir); status != 0 {
		cn.reject(status)
		return
	}
	replaced := false
	if fi, err := h.root.Lstat(rel); err == nil {
		if fi.IsDir() || !h.o.Overwrite {
			cn.reject(409)
			return
		}
		replaced = true
	} else if !isNotExist(err) {
		cn.reject(cn.errorStatus(err))
		return
	}
	up := &upload{h: h, dir: dir, replaced: replaced}
	if err := up.open(base); err != nil {
		cn.reject(statusOf(err))
		return
	}
	cn.act, cn.up = actPut, up
	cn.continue100()
}

// startForm prepares a multipart/form-data POST to a directory.
func (cn *conn) startForm(r *http1.Request) {
	h := cn.h
	if cn.pathSt == pathHidden {
		cn.reject(403)
		return
	}
	mt, params, err := mime.ParseMediaType(string(cn.hd.ctype))
	if err != nil || mt != "multipart/form-data" {
		cn.reject(415)
		return
	}
	b := params["boundary"]
	if b == "" || len(b) > 70 {
		cn.reject(400)
		return
	}
	if r.ContentLength > h.o.MaxUpload {
		cn.reject(413)
		return
	}
	dir := string(relPath(cn.path))
	if status := cn.checkDir(dir); status != 0 {
		cn.reject(status)
		return
	}
	cn.act = actForm
	cn.up = &upload{h: h, dir: dir, form: newFormParser(b)}
	cn.continue100()
}

// checkDir returns 0 if dir is a directory under the root, else the status
// to refuse with.
func (cn *conn) checkDir(dir string) int {
	fi, err := cn.h.root.Stat(dir)
	switch {
	case err != nil && isNotExist(err):
		return 409
	case err != nil:
		return cn.errorStatus(err)
	case !fi.IsDir():
		return 409
	}
	return 0
}

func statusOf(err error) int {
	var ue *uploadError
	if errors.As(err, &ue) {
		return ue.status
	}
	return 500
}

// open starts the temporary file for a file named name in the directory.
func (up *upload) open(name string) error {
	var rb [8]byte
	rand.Read(rb[:])
	up.tmp = path.Join(up.dir, ".upload-"+hex.EncodeToString(rb[:])+".part")
	up.final = path.Join(up.dir, name)
	f, err := up.h.root.OpenFile(up.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		status := fileErrorStatus(err)
		up.failed(status, err)
		return &uploadError{status, "cannot create file"}
	}
	up.cur, up.n = f, 0
	return nil
}

// write takes the next piece of body; a non-zero status ends the upload.
func (up *upload) write(b []byte) int {
	var err error
	if up.form != nil {
		err = up.form.feed(b, up)
		if err != nil && statusOf(err) == 500 && !errors.As(err, new(*uploadError)) {
			err = &uploadError{400, err.Error()}
		}
	} else {
		err = up.data(b)
	}
	if err != nil {
		up.abort()
		return statusOf(err)
	}
	return 0
}

func (up *upload) data(b []byte) error {
	up.n += int64(len(b))
	up.total += int64(len(b))
	if up.n > up.h.o.MaxUpload || up.total > up.h.o.MaxUpload {
		return errTooLarge
	}
	if _, err := up.cur.Write(b); err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			up.failed(errNoSpace.status, err)
			return errNoSpace
		}
		up.failed(errWrite.status, err)
		return errWrite
	}
	return nil
}

// commit moves the finished temporary file to its name: without Overwrite
// by a hard link, which fails rather than replace a file that appeared
// meanwhile; with it by rename, which replaces atomically.
func (up *upload) commit() error {
	f := up.cur
	up.cur = nil
	if err := f.Close(); err != nil {
		up.h.root.Remove(up.tmp)
		up.failed(errWrite.status, err)
		return errWrite
	}
	root := up.h.root
	if up.h.o.Overwrite {
		if err := root.Rename(up.tmp, up.final); err != nil {
			root.Remove(up.tmp)
			if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
				return errExists
			}
			up.failed(errWrite.status, err)
			return errWrite
		}
	} else {
		err := root.Link(up.tmp, up.final)
		root.Remove(up.tmp)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return errExists
			}
			up.failed(errWrite.status, err)
			return errWrite
		}
	}
	up.saved = append(up.saved, up.final)
	return nil
}

// failed logs why storing the upload failed: at error level when the
// fault is the server's (5xx), which the client is not told.
func (up *upload) failed(status int, err error) {
	if status >= 500 {
		up.h.log.error("upload", "path", "/"+up.final, "status", status, "err", err)
	} else {
		up.h.log.warn("upload", "path", "/"+up.final, "status", status, "err", err)
	}
}

// abort removes what is half written.
func (up *upload) abort() {
	if up.cur != nil {
		up.cur.Close()
		up.h.root.Remove(up.tmp)
		up.cur = nil
	}
}

// The formSink methods store file parts and skip other fields.

func (up *upload) partStart(name, filename string) error {
	if filename == "" {
		up.skipping, up.fieldSize = true, 0
		return nil
	}
	up.skipping = false
	clean := sanitizeName(filename)
	if clean == "" || (!up.h.o.Dotfiles && strings.HasPrefix(clean, ".")) {
		return errBadName
	}
	if _, err := up.h.root.Lstat(path.Join(up.dir, clean)); err == nil && !up.h.o.Overwrite {
		return errExists
	}
	up.n = 0
	return up.open(clean)
}

func (up *upload) partData(b []byte) error {
	if up.skipping {
		// Fields that are not files are not kept; a huge one is refused.
		if up.fieldSize += len(b); up.fieldSize > 1<<20 {
			return errField
		}
		return nil
	}
	return up.data(b)
}

func (up *upload) partEnd() error {
	if up.skipping || up.cur == nil {
		return nil
	}
	return up.commit()
}

// finishUpload answers a complete upload.
func (cn *conn) finishUpload(r *http1.Request) {
	up := cn.up
	cn.up = nil
	if up == nil {
		return
	}
	if up.form == nil {
		if err := up.commit(); err != nil {
			cn.sendError(statusOf(err))
			return
		}
		status := 201
		if up.replaced {
			status = 204
		}
		cn.startHead(status)
		cn.appendLocation("\r\n")
		if status == 204 {
			cn.endHead(-1)
		} else {
			cn.out = append(cn.out, "Content-Type: text/plain; charset=utf-8\r\n"...)
			msg := "created " + string(cn.path) + "\n"
			cn.endHead(int64(len(msg)))
			cn.writeBody([]byte(msg))
		}
		cn.logDone()
		cn.h.files.forget(up.final)
		return
	}
	if !up.form.done() {
		up.abort()
		cn.sendError(400) // the body ended inside the form
		return
	}
	for _, s := range up.saved {
		cn.h.files.forget(s)
	}
	cn.h.files.forget(up.dir)
	if strings.Contains(string(cn.hd.accept), "text/html") {
		// A browser's form: back to the listing, which shows the files.
		cn.startHead(303)
		cn.appendLocation("\r\nContent-Type: text/plain; charset=utf-8\r\n")
		const msg = "See Other\n"
		cn.endHead(int64(len(msg)))
		cn.writeBody([]byte(msg))
		cn.logDone()
		return
	}
	var body strings.Builder
	for _, s := range up.saved {
		body.WriteString((&url.URL{Path: "/" + s}).EscapedPath())
		body.WriteByte('\n')
	}
	cn.sendBody(201, "text/plain; charset=utf-8", nil, []byte(body.String()))
}
