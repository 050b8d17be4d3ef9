package httpd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
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
	rep       uploadReport // what was stored and refused
	part      string       // the file part being read: its name as sent, printable
	replaced  bool         // the file being written replaces one
	skipping  bool         // the part's data is dropped: a field, or a file refused
	field     bool         // the part is a form field that is not a file
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
	errNoSpace  = &uploadError{507, "no space left"}
	errWrite    = &uploadError{500, "write failed"}
	errField    = &uploadError{413, "form field too large"}
)

// startPut prepares a PUT: the target must be a file name in an existing
// directory and, without Overwrite, must not exist yet. It is all checked
// before 100 Continue, so a refused client need not send the body.
func (cn *conn) startPut(r *http1.Request) {
	h := cn.h
	rel := string(relPath(cn.path))
	if cn.pathSt == pathHidden {
		cn.refuse(probHiddenName(rel))
		return
	}
	if strings.HasSuffix(string(cn.path), "/") {
		cn.refuse(probPutFolder(rel))
		return
	}
	if r.ContentLength > h.o.MaxUpload {
		cn.refuse(h.probTooLarge(r.ContentLength))
		return
	}
	dir, base := path.Dir(rel), path.Base(rel)
	if sanitizeName(base) != base {
		cn.refuse(probBadName(rel))
		return
	}
	if p := cn.checkDir(dir); p.Status != 0 {
		cn.refuse(p)
		return
	}
	replaced := false
	if fi, err := h.root.Lstat(rel); err == nil {
		if fi.IsDir() || !h.o.Overwrite {
			cn.refuse(probExists(rel, fi.IsDir()))
			return
		}
		replaced = true
	} else if !isNotExist(err) {
		cn.reject(cn.errorStatus(err))
		return
	}
	up := &upload{h: h, dir: dir, replaced: replaced}
	if err := up.open(base); err != nil {
		cn.refuse(up.problem(err))
		return
	}
	cn.act, cn.up = actPut, up
	cn.continue100()
}

// startForm prepares a multipart/form-data POST to a directory.
func (cn *conn) startForm(r *http1.Request) {
	h := cn.h
	dir := string(relPath(cn.path))
	if cn.pathSt == pathHidden {
		cn.refuse(probHiddenName(dir))
		return
	}
	if r.ContentLength > h.o.MaxUpload {
		// First: a body this large is not read, whatever it is.
		cn.refuse(h.probTooLarge(r.ContentLength))
		return
	}
	mt, params, err := mime.ParseMediaType(string(cn.hd.ctype))
	if err != nil || mt != "multipart/form-data" {
		cn.refuse(probNotForm(dir))
		return
	}
	b := params["boundary"]
	if b == "" || len(b) > 70 {
		cn.refuse(probNoBoundary(dir))
		return
	}
	if p := cn.checkDir(dir); p.Status != 0 {
		cn.refuse(p)
		return
	}
	cn.act = actForm
	cn.up = &upload{h: h, dir: dir, form: newFormParser(b)}
	cn.continue100()
}

// checkDir returns a zero problem if dir is a directory under the root,
// else what to refuse with. Uploads do not create directories: a typo in
// a path would otherwise leave a tree of them behind.
func (cn *conn) checkDir(dir string) problem {
	fi, err := cn.h.root.Stat(dir)
	switch {
	case err != nil && isNotExist(err):
		return probNoFolder(dir)
	case err != nil:
		return problem{Status: cn.errorStatus(err)}
	case !fi.IsDir():
		return probNotFolder(dir)
	}
	return problem{}
}

func statusOf(err error) int {
	var ue *uploadError
	if errors.As(err, &ue) {
		return ue.status
	}
	return 500
}

// problem says what an error that ends a file, or the upload, means for
// the client.
func (up *upload) problem(err error) problem {
	switch err {
	case errTooLarge:
		return up.h.probTooLarge(-1)
	case errExists:
		return probExists(up.final, false)
	case errField:
		return problem{Status: 413, Detail: "A form field that is not a file is over 1 MiB.",
			Hint: "Send files as file parts (`curl -F file=@NAME`); other fields are not kept.", back: folderPath(up.dir)}
	case errFormHeader:
		return problem{Status: 400, Detail: "A part of the form has a malformed header.", back: folderPath(up.dir)}
	case errFormFraming:
		return problem{Status: 400, Detail: "The form's framing is malformed.", back: folderPath(up.dir)}
	}
	switch status := statusOf(err); status {
	case 403:
		return problem{Status: 403, Detail: "The server may not write into " + folderPath(up.dir) + ".",
			Hint: "Ask its operator to check the folder's permissions.", back: folderPath(up.dir)}
	case 507:
		return problem{Status: 507, Detail: "The server's disk is full.",
			Hint: "Try again later, or tell the server's operator.", back: folderPath(up.dir)}
	default:
		return problem{Status: status, back: folderPath(up.dir)}
	}
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

// write takes the next piece of body; an error ends the upload.
func (up *upload) write(b []byte) error {
	if up.form != nil {
		return up.form.feed(b, up)
	}
	return up.data(b)
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
	up.rep.Stored = append(up.rep.Stored, storedFile{
		Name: path.Base(up.final), Path: urlPath(up.final), Size: up.n, Replaced: up.replaced,
	})
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

// The formSink methods store file parts and skip other fields. A file
// that cannot be stored (its name is taken, unusable, the disk is full) is
// refused, its data dropped, and the form goes on with the next part: the
// report says which went in and which did not. Only what ends the whole
// request (the size limit, broken framing) ends the form.

func (up *upload) partStart(name, filename string) error {
	up.skipping, up.field, up.fieldSize, up.part = false, false, 0, ""
	if filename == "" {
		up.skipping, up.field = true, true
		return nil
	}
	up.part = printable(filename)
	clean := sanitizeName(filename)
	if clean == "" || (!up.h.o.Dotfiles && strings.HasPrefix(clean, ".")) {
		up.refuse(problem{Status: 400, Detail: "No usable file name is left of it.",
			Hint: "Name the file with at least one character that is not a dot, a space, a slash or a control character."})
		return nil
	}
	rel := path.Join(up.dir, clean)
	up.replaced = false
	if fi, err := up.h.root.Lstat(rel); err == nil {
		if fi.IsDir() || !up.h.o.Overwrite {
			up.refuse(probExists(rel, fi.IsDir()))
			return nil
		}
		up.replaced = true
	}
	up.n = 0
	if err := up.open(clean); err != nil {
		up.refuse(up.problem(err))
	}
	return nil
}

// refuse reports the file part being read as not stored, and drops the
// rest of its data.
func (up *upload) refuse(p problem) {
	up.abort()
	up.skipping = true
	reason := p.Detail
	if p.Hint != "" {
		reason += " " + p.Hint
	}
	if reason == "" {
		reason = http1.StatusText(p.Status) + "."
	}
	up.rep.Refused = append(up.rep.Refused, refusedFile{Name: up.part, Reason: reason, Status: p.Status})
}

func (up *upload) partData(b []byte) error {
	if up.total += int64(len(b)); up.total > up.h.o.MaxUpload {
		return errTooLarge
	}
	if up.skipping {
		// Fields that are not files are not kept; a huge one is refused.
		if up.field {
			if up.fieldSize += len(b); up.fieldSize > 1<<20 {
				return errField
			}
		}
		return nil
	}
	if err := up.data(b); err != nil {
		if err == errTooLarge {
			return err
		}
		up.refuse(up.problem(err)) // the disk is full, or failed
	}
	return nil
}

func (up *upload) partEnd() error {
	if up.skipping || up.cur == nil {
		return nil
	}
	if err := up.commit(); err != nil {
		up.refuse(up.problem(err))
	}
	return nil
}

// inFile reports whether a file part is being stored.
func (up *upload) inFile() bool { return up.cur != nil && !up.skipping }

// uploadFailed answers an upload that err ended while its body arrived;
// the connection closes, as the rest of the body is not read. A form's
// answer still reports the files stored before.
func (cn *conn) uploadFailed(err error) {
	up := cn.up
	cn.up = nil
	p := up.problem(err)
	if up.form == nil {
		up.abort()
		cn.replyNowProblem(p)
		return
	}
	if up.inFile() {
		up.refuse(p)
	}
	up.abort()
	p.Title = http1.StatusText(p.Status)
	p.Detail += " The rest of the form was not read."
	up.rep.Error = &p
	up.forgetStored()
	cn.closeAfter = true
	cn.sendReport(p.Status, up, nil)
	cn.closing = true
}

// forgetStored drops what the file cache knows of the files stored.
func (up *upload) forgetStored() {
	for _, s := range up.rep.Stored {
		up.h.files.forget(path.Join(up.dir, s.Name))
	}
	up.h.files.forget(up.dir)
}

// finishUpload answers a complete upload.
//
// PUT answers 201 Created (200 if it replaced a file) with its report.
// A form answers with the report of every file part: 201 if all were
// stored, 200 if some were, and if none, the status of the first refusal
// (409 for a name taken). A browser whose files were all stored is sent
// back to the listing (303), which shows them.
func (cn *conn) finishUpload(r *http1.Request) {
	up := cn.up
	cn.up = nil
	if up == nil {
		return
	}
	if up.form == nil {
		if err := up.commit(); err != nil {
			cn.sendProblem(up.problem(err))
			return
		}
		status := 201
		if up.replaced {
			status = 200
		}
		cn.h.files.forget(up.final)
		cn.sendReport(status, up, []byte("Location: "+urlPath(up.final)+"\r\n"))
		return
	}
	if !up.form.done() {
		// The body ended inside the form.
		p := problem{Status: 400, Title: http1.StatusText(400), Detail: "The form ended before its closing boundary.",
			Hint: "The client was cut short: send the files that were not stored again."}
		if up.inFile() {
			up.refuse(p)
		}
		up.abort()
		up.rep.Error = &p
		up.forgetStored()
		cn.sendReport(400, up, nil)
		return
	}
	up.forgetStored()
	rep := &up.rep
	switch {
	case len(rep.Stored) == 0 && len(rep.Refused) == 0:
		cn.sendProblem(problem{Status: 400, Detail: "The form has no file in it.",
			Hint: "Send each file as a part with a file name (`curl -F file=@NAME`).", back: folderPath(up.dir)})
	case len(rep.Refused) == 0 && negotiate(cn.hd.accept) == formatHTML:
		// A browser's form: back to the listing, which shows the files.
		cn.startHead(303)
		cn.appendLocation("\r\nContent-Type: text/plain; charset=utf-8\r\n")
		const msg = "See Other\n"
		cn.endHead(int64(len(msg)))
		cn.writeBody([]byte(msg))
		cn.logDone()
	case len(rep.Refused) == 0:
		cn.sendReport(201, up, nil)
	case len(rep.Stored) > 0:
		cn.sendReport(200, up, nil)
	default:
		cn.sendReport(rep.Refused[0].Status, up, nil)
	}
}
