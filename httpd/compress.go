package httpd

import (
	"bytes"
	"io"
	"os"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Content codings, in the order preferred when a client rates them equally:
// smallest output first.
const (
	cBr = iota
	cZstd
	cGzip
	numCodings
)

var codings = [numCodings]struct{ name, ext string }{
	{"br", ".br"},
	{"zstd", ".zst"},
	{"gzip", ".gz"},
}

// maxCompress bounds the files compressed on the fly; larger ones are sent
// as they are unless a sidecar exists.
const maxCompress = 64 << 20

// acceptEncoding holds the qualities (0..1000) a client gave each coding
// (RFC 9110 §12.5.3).
type acceptEncoding struct {
	q [numCodings]int16
}

// parseAcceptEncoding reads an Accept-Encoding value without allocating. A
// coding not named takes the quality of "*", if given, else 0.
func parseAcceptEncoding(v []byte) (ae acceptEncoding) {
	star := int16(-1)
	var named [numCodings]bool
	for len(v) > 0 {
		var elem []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			elem, v = v[:i], v[i+1:]
		} else {
			elem, v = v, nil
		}
		name, params, _ := bytes.Cut(elem, []byte{';'})
		name = trimSpace(name)
		q := int16(1000)
		if p := trimSpace(params); len(p) > 0 {
			q = parseQ(p)
		}
		switch {
		case len(name) == 1 && name[0] == '*':
			star = q
		case equalFold(name, "br"):
			ae.q[cBr], named[cBr] = q, true
		case equalFold(name, "zstd"):
			ae.q[cZstd], named[cZstd] = q, true
		case equalFold(name, "gzip"), equalFold(name, "x-gzip"):
			ae.q[cGzip], named[cGzip] = q, true
		}
	}
	if star >= 0 {
		for c := range numCodings {
			if !named[c] {
				ae.q[c] = star
			}
		}
	}
	return ae
}

// parseQ reads "q=0.5" into 500; anything malformed counts as 0, so a coding
// is not used on a misread preference.
func parseQ(p []byte) int16 {
	if len(p) < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
		return 0
	}
	p = trimSpace(p[2:])
	if len(p) == 0 || (p[0] != '0' && p[0] != '1') {
		return 0
	}
	q := int16(p[0]-'0') * 1000
	if len(p) > 1 {
		if p[1] != '.' || len(p) > 5 {
			return 0
		}
		scale := int16(100)
		for _, c := range p[2:] {
			if c < '0' || c > '9' {
				return 0
			}
			q += int16(c-'0') * scale
			scale /= 10
		}
	}
	return min(q, 1000)
}

// best returns the coding to use among those available (a bit set), or -1
// for identity.
func (ae *acceptEncoding) best(avail uint8) int {
	pick, pq := -1, int16(0)
	for c := range numCodings {
		if avail&(1<<c) != 0 && ae.q[c] > pq {
			pick, pq = c, ae.q[c]
		}
	}
	return pick
}

// compress writes src compressed with coding c to w.
func compress(w io.Writer, c int, src io.Reader) error {
	var zw io.WriteCloser
	switch c {
	case cBr:
		zw = brotli.NewWriterLevel(w, 5)
	case cZstd:
		enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		zw = enc
	default:
		gw, err := gzip.NewWriterLevel(w, 6)
		if err != nil {
			return err
		}
		zw = gw
	}
	if _, err := io.Copy(zw, src); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// compressBytes returns b compressed with coding c.
func compressBytes(c int, b []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(b)/3 + 64)
	if err := compress(&out, c, bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// variantFor returns the variant of e in coding c, compressing a small file
// now. A large one is compressed in the background, once, and the caller
// sends the file as it is meanwhile; nil means that.
func (h *Handler) variantFor(e *entry, c int) *variant {
	if v := e.enc[c].Load(); v != nil {
		if v.size < 0 {
			return nil
		}
		return v
	}
	if !h.o.Compress || !e.zipable || e.size < h.o.CompressMin || e.size > maxCompress {
		return nil
	}
	if e.size <= inlineCompress {
		if !e.zipping[c].CompareAndSwap(false, true) {
			return nil
		}
		src, err := h.contents(e)
		if err != nil {
			e.zipping[c].Store(false)
			return nil
		}
		z, err := compressBytes(c, src)
		if err != nil || len(z) >= len(src) {
			// Not worth it: remember, so it is not tried again.
			e.enc[c].Store(&variant{size: -1})
			return nil
		}
		v := &variant{size: int64(len(z)), body: z}
		v.hdr, _ = h.files.fields(e, codings[c].name)
		e.enc[c].Store(v)
		h.files.account(int64(len(z)))
		return v
	}
	if e.zipping[c].CompareAndSwap(false, true) {
		select {
		case h.zipSlots <- struct{}{}:
			go func() {
				defer func() { <-h.zipSlots }()
				h.compressFile(e, c)
			}()
		default:
			// Busy: a later request tries again.
			e.zipping[c].Store(false)
		}
	}
	return nil
}

// inlineCompress is the largest file compressed while the request waits,
// on the engine's goroutine: a few milliseconds once per file version.
// Larger files are compressed in the background.
const inlineCompress = 256 << 10

// contents returns a file's bytes, from memory or read from disk.
func (h *Handler) contents(e *entry) ([]byte, error) {
	if e.body != nil {
		return e.body, nil
	}
	f := e.dup()
	if f == nil {
		var err error
		if f, _, err = openRegular(h.files.root, e.name); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	b := make([]byte, e.size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, e.size), b); err != nil {
		return nil, err
	}
	return b, nil
}

// compressFile writes a compressed copy of a large file to the cache's
// directory and publishes it.
func (h *Handler) compressFile(e *entry, c int) {
	fc := h.files
	dir, err := fc.dir()
	if err != nil {
		h.o.Logger.Warn("compressed copy", "err", err)
		return
	}
	src, err := fc.root.Open(e.name)
	if err != nil {
		return
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil || fi.Size() != e.size || !fi.ModTime().Equal(e.mtime) {
		e.zipping[c].Store(false)
		return
	}
	dst, err := os.CreateTemp(dir, "z-*"+codings[c].ext)
	if err != nil {
		h.o.Logger.Warn("compressed copy", "err", err)
		return
	}
	err = compress(dst, c, io.LimitReader(src, e.size))
	size, _ := dst.Seek(0, io.SeekCurrent)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil || size >= e.size {
		os.Remove(dst.Name())
		e.enc[c].Store(&variant{size: -1})
		return
	}
	v := &variant{name: dst.Name(), owned: true, size: size}
	v.hdr, _ = fc.fields(e, codings[c].name)
	e.enc[c].Store(v)
	fc.mu.RLock()
	live := fc.m[e.name] == e
	fc.mu.RUnlock()
	if !live {
		// Dropped meanwhile: nobody will remove the copy but us.
		os.Remove(v.name)
	}
}

// dir returns the directory for compressed copies, made on first use.
func (fc *fileCache) dir() (string, error) {
	fc.tmpOnce.Do(func() {
		fc.tmpDir, fc.tmpErr = os.MkdirTemp("", "portside-httpd-")
	})
	return fc.tmpDir, fc.tmpErr
}

func (fc *fileCache) account(n int64) {
	fc.mu.Lock()
	fc.bytes += n
	fc.mu.Unlock()
}

// openVariant opens a variant kept on disk.
func (fc *fileCache) openVariant(v *variant) (*os.File, error) {
	if v.owned {
		return os.Open(v.name)
	}
	return fc.root.Open(v.name)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
