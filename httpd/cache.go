package httpd

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/httpd/mime"
	"github.com/portside/portside/proto/http1"
)

// entry is what the cache knows about one file or directory. It is
// immutable once published, but for expires and the variants, which are
// set at most once each.
type entry struct {
	name    string // name under the root, as given to os.Root
	dir     bool
	size    int64
	mtime   time.Time
	dev     uint64
	ino     uint64
	typ     string
	zipable bool // a text type worth compressing
	etag    []byte
	lastMod []byte // IMF-fixdate
	hdr     []byte // the 200's fields: Content-Type ... Accept-Ranges
	hdr304  []byte // the fields a 304 repeats (RFC 9110 §15.4.5)
	body    []byte // the contents, if the file is small enough to keep

	// fd is the file held open, for a file too large to keep: each
	// response sends a duplicate of it, saving the open (a walk of the
	// path under os.Root) per request, as nginx's open_file_cache does.
	// refs counts the cache's reference and the duplications under way;
	// the last to let go closes it.
	fd    *os.File
	fdnum int
	refs  atomic.Int32

	expires atomic.Int64 // unix nanoseconds after which the file is looked at again

	// enc holds precompressed sidecars and compressed copies, by coding.
	enc [numCodings]atomic.Pointer[variant]
	// zipping marks codings being compressed, so concurrent requests for
	// a cold file compress it once.
	zipping [numCodings]atomic.Bool
}

// variant is one content coding of a file: a sidecar (name.br) found on
// disk, or the file compressed by the server. An absent sidecar is a
// variant with size -1, so it is not looked for again until the entry is
// rebuilt.
type variant struct {
	name  string // sidecar (under the root) or compressed copy (a full path); "" when body holds it
	owned bool   // a compressed copy the server wrote, removed with the entry
	size  int64
	body  []byte
	hdr   []byte // Content-Encoding and the 200's fields
}

// fileCache maps names under the root to entries. Reads take a shared
// lock and allocate nothing.
type fileCache struct {
	root  *os.Root
	o     *Options
	ttl   int64
	mu    sync.RWMutex
	m     map[string]*entry
	bytes int64
	// openFiles counts entries holding a file open.
	openFiles atomic.Int32
	tmpDir    string // compressed copies of large files
	tmpOnce   sync.Once
	tmpErr    error
}

func newFileCache(root *os.Root, o *Options) *fileCache {
	return &fileCache{root: root, o: o, ttl: int64(o.CacheTTL), m: make(map[string]*entry)}
}

// errNotRegular refuses devices, FIFOs and sockets: opening a FIFO blocks,
// and a device is nothing to serve.
var errNotRegular = errors.New("httpd: not a regular file")

// lookup returns the entry for name, from the cache while it is fresh.
// name may alias a caller's buffer: it is copied before it is kept.
func (fc *fileCache) lookup(name []byte, now int64) (*entry, error) {
	if fc.ttl > 0 {
		fc.mu.RLock()
		e := fc.m[string(name)]
		fc.mu.RUnlock()
		if e != nil {
			if now < e.expires.Load() {
				return e, nil
			}
			return fc.revalidate(e, now)
		}
	}
	return fc.load(string(name), now, nil)
}

// revalidate looks at the file again: an unchanged file keeps its entry,
// compressed copies and all.
func (fc *fileCache) revalidate(e *entry, now int64) (*entry, error) {
	fi, err := fc.root.Stat(e.name)
	if err == nil && sameFile(e, fi) {
		e.expires.Store(now + fc.ttl)
		return e, nil
	}
	fc.mu.Lock()
	if fc.m[e.name] == e {
		fc.dropLocked(e)
	}
	fc.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return fc.load(e.name, now, fi)
}

func sameFile(e *entry, fi fs.FileInfo) bool {
	if fi.IsDir() != e.dir || fi.Size() != e.size || !fi.ModTime().Equal(e.mtime) {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) == e.ino && uint64(st.Dev) == e.dev
	}
	return true
}

// load builds an entry from the file system. fi, if not nil, is a fresh
// stat of name.
func (fc *fileCache) load(name string, now int64, fi fs.FileInfo) (*entry, error) {
	var err error
	if fi == nil {
		if fi, err = fc.root.Stat(name); err != nil {
			return nil, err
		}
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	e := fc.newEntry(name, fi)
	if !e.dir && fc.ttl > 0 {
		f, fi2, err := openRegular(fc.root, name)
		if err != nil {
			return nil, err
		}
		if fi2.Size() != e.size || !fi2.ModTime().Equal(e.mtime) {
			// Changed between stat and open: describe what was opened.
			e = fc.newEntry(name, fi2)
		}
		switch {
		case e.size <= fc.o.CacheFileMax:
			e.body = make([]byte, e.size)
			_, err = io.ReadFull(io.NewSectionReader(f, 0, e.size), e.body)
			f.Close()
			if err != nil {
				return nil, err
			}
		case fc.openFiles.Load() < maxOpenFiles:
			fc.openFiles.Add(1)
			e.fd, e.fdnum = f, int(f.Fd())
			e.refs.Store(1)
		default:
			f.Close()
		}
	}
	if !e.dir {
		fc.findSidecars(e)
	}
	e.expires.Store(now + fc.ttl)
	if fc.ttl > 0 {
		fc.insert(e)
	}
	return e, nil
}

// openRegular opens a regular file under the root, and stats it.
func openRegular(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular
	}
	return f, fi, nil
}

// maxOpenFiles bounds the files the cache holds open.
const maxOpenFiles = 1024

// dup returns a new descriptor of the entry's open file, for one response
// (the engine closes what it is given), or nil if the entry holds none.
func (e *entry) dup() *os.File {
	if e.fd == nil {
		return nil
	}
	for {
		r := e.refs.Load()
		if r <= 0 {
			return nil // dropped from the cache and closed
		}
		if e.refs.CompareAndSwap(r, r+1) {
			break
		}
	}
	nfd, err := unix.FcntlInt(uintptr(e.fdnum), unix.F_DUPFD_CLOEXEC, 0)
	e.release()
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(nfd), e.name)
}

func (e *entry) release() {
	if e.refs.Add(-1) == 0 {
		e.fd.Close()
	}
}

func (fc *fileCache) newEntry(name string, fi fs.FileInfo) *entry {
	e := &entry{name: name, dir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.dev, e.ino = uint64(st.Dev), uint64(st.Ino)
	}
	if e.dir {
		return e
	}
	e.typ, e.zipable = mime.TypeByName(name)
	e.etag = appendWeakETag(nil, e.size, e.mtime)
	e.lastMod = http1.AppendHTTPDate(nil, e.mtime)
	e.hdr, e.hdr304 = fc.fields(e, "")
	return e
}

// fields builds an entry's response fields for a coding ("" for none).
func (fc *fileCache) fields(e *entry, coding string) (hdr, hdr304 []byte) {
	var b []byte
	if coding != "" {
		b = http1.AppendHeader(b, "Content-Encoding", coding)
	}
	b = http1.AppendHeader(b, "Content-Type", e.typ)
	b = http1.AppendHeaderBytes(b, "Last-Modified", e.lastMod)
	start := len(b)
	b = http1.AppendHeaderBytes(b, "ETag", e.etag)
	if fc.o.CacheMaxAge > 0 {
		b = append(b, "Cache-Control: public, max-age="...)
		b = appendInt(b, int64(fc.o.CacheMaxAge/time.Second))
		b = append(b, "\r\n"...)
	}
	if e.zipable || e.hasSidecarHint() {
		b = append(b, "Vary: Accept-Encoding\r\n"...)
	}
	hdr304 = b[start:len(b):len(b)]
	if coding == "" {
		b = append(b, "Accept-Ranges: bytes\r\n"...)
	}
	return b, hdr304
}

// hasSidecarHint is true once any sidecar was found, so that responses of
// every coding carry Vary.
func (e *entry) hasSidecarHint() bool {
	for i := range e.enc {
		if v := e.enc[i].Load(); v != nil && v.size >= 0 {
			return true
		}
	}
	return false
}

// findSidecars looks for name.br, name.zst and name.gz next to the file. A
// sidecar older than the file is stale and ignored.
func (fc *fileCache) findSidecars(e *entry) {
	found := false
	for c := range numCodings {
		side := e.name + codings[c].ext
		fi, err := fc.root.Stat(side)
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().Before(e.mtime) {
			continue
		}
		found = true
		e.enc[c].Store(&variant{name: side, size: fi.Size()})
	}
	if found {
		// Rebuild the fields now that Vary is due, then the sidecars'.
		e.hdr, e.hdr304 = fc.fields(e, "")
		for c := range numCodings {
			if v := e.enc[c].Load(); v != nil {
				v.hdr, _ = fc.fields(e, codings[c].name)
			}
		}
	}
}

func (fc *fileCache) insert(e *entry) {
	cost := int64(len(e.body)) + 512
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if old := fc.m[e.name]; old != nil {
		fc.dropLocked(old)
	}
	// Make room by dropping arbitrary entries: map order is random, which
	// is as good as LRU for a cache this short-lived and far cheaper.
	for k, old := range fc.m {
		if fc.bytes+cost <= fc.o.CacheBytes && len(fc.m) < maxEntries {
			break
		}
		_ = k
		fc.dropLocked(old)
	}
	fc.m[e.name] = e
	fc.bytes += cost
}

const maxEntries = 16384

func (fc *fileCache) dropLocked(e *entry) {
	delete(fc.m, e.name)
	fc.bytes -= int64(len(e.body)) + 512
	if e.fd != nil {
		fc.openFiles.Add(-1)
		e.release()
	}
	for c := range numCodings {
		if v := e.enc[c].Load(); v != nil {
			fc.bytes -= int64(len(v.body))
			if v.owned {
				// An open copy stays readable after the unlink, so a
				// response in flight is not cut short.
				os.Remove(v.name)
			}
		}
	}
}

// close drops everything, removing compressed copies.
func (fc *fileCache) close() {
	fc.mu.Lock()
	for _, e := range fc.m {
		fc.dropLocked(e)
	}
	fc.mu.Unlock()
	if fc.tmpDir != "" {
		os.RemoveAll(fc.tmpDir)
	}
}

// appendWeakETag appends W/"<mtime>-<size>" (RFC 9110 §8.8.3). It is weak
// because the server may send the same file compressed in several ways,
// which a strong tag would have to tell apart.
func appendWeakETag(dst []byte, size int64, mtime time.Time) []byte {
	dst = append(dst, 'W', '/')
	return http1.AppendETag(dst, size, mtime)
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// forget drops name's entry, after an upload changed it.
func (fc *fileCache) forget(name string) {
	fc.mu.Lock()
	if e := fc.m[name]; e != nil {
		fc.dropLocked(e)
	}
	fc.mu.Unlock()
}
