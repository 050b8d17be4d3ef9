package httpd

import (
	"io"
	"log/slog"
	"time"

	"github.com/portside/portside/server"
)

// Options configure a Handler. The zero value serves no files and only
// the routes given.
type Options struct {
	// Root is the directory to serve; empty serves no files.
	Root string
	// Dotfiles serves and lists names starting with '.'; otherwise they
	// are answered as not found.
	Dotfiles bool
	// NoListing answers 404 for a directory without index.html instead of
	// listing it.
	NoListing bool
	// SPA answers a GET for a missing file that looks like a page (no
	// extension, or Accept: text/html) with the root's index.html, for
	// single-page applications that route in the browser.
	SPA bool
	// CacheMaxAge, if positive, sends "Cache-Control: public, max-age=N";
	// otherwise no Cache-Control is sent and clients revalidate with the
	// ETag and Last-Modified as they see fit.
	CacheMaxAge time.Duration
	// CORS allows any origin to read responses (Access-Control-Allow-Origin:
	// *) and answers preflight requests.
	CORS bool
	// Compress compresses text types (HTML, CSS, JavaScript, JSON, SVG, ...)
	// of at least CompressMin bytes with br, zstd or gzip, as the client
	// accepts, when no precompressed sidecar exists.
	Compress bool
	// CompressMin is the smallest body compressed on the fly; default 1 KiB.
	CompressMin int64
	// MaxRanges bounds the ranges of one request; a larger set is ignored
	// and the whole file sent. Default 16.
	MaxRanges int
	// CacheTTL is how long a file's metadata and, for files up to
	// CacheFileMax bytes, its contents are trusted before the file is
	// looked at again. Default 1 s; negative disables the cache.
	CacheTTL time.Duration
	// CacheFileMax is the largest file kept in memory, and sent in one
	// write with its head; larger files are held open and sent with
	// sendfile. Default 16 KiB.
	CacheFileMax int64
	// CacheBytes bounds the memory the cache holds; default 64 MiB.
	CacheBytes int64

	// Upload accepts PUT of a file and POST of multipart/form-data to a
	// directory.
	Upload bool
	// Overwrite lets an upload replace an existing file.
	Overwrite bool
	// MaxUpload bounds one uploaded file (and a PUT body); default 1 GiB.
	MaxUpload int64
	// Auth, "user:password", requires HTTP basic authentication for
	// uploads, or for every request with AuthAll.
	Auth    string
	AuthAll bool
	// AuthDelay is how long the answer to a client address's first failed
	// authentication waits; each further failure doubles it, up to 32
	// times, and no attempt from that address is judged before the last
	// failure's delay has passed. Default 200 ms.
	AuthDelay time.Duration

	// MaxBody bounds the body of a request to a route; default 1 MiB.
	MaxBody int64
	// Routes are matched before files; nil means none.
	Routes *Router

	// HeaderTimeout bounds the time from a request's first byte to the end
	// of its head; default 10 s. A client that takes longer gets 408.
	HeaderTimeout time.Duration
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second averaged over BodyRateWindow; default 1 KiB/s. Negative
	// disables the check.
	MinBodyRate int64
	// BodyRateWindow is the period MinBodyRate is averaged over; default
	// 10 s.
	BodyRateWindow time.Duration

	// AccessLog, if set, gets one line per response: the combined log
	// format, or JSON with AccessLogJSON.
	AccessLog     io.Writer
	AccessLogJSON bool
	// Requests, if set, counts each response the access log would show,
	// by method and status class, whether or not there is a log.
	Requests *Requests
	// Logger gets errors worth an operator's attention; nil discards.
	Logger *slog.Logger
	// DrainTimeout is the engine's Limits.DrainTimeout: how long a
	// request partly read at shutdown has to finish. One still partly
	// read a tenth before it (at most a second before) is answered 503,
	// while the connection may still carry the answer. Default
	// server.DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Now is the clock; nil means time.Now. Tests pin it.
	Now func() time.Time
}

// drainAnswer is how long into the drain a request partly read is cut
// short.
func (o *Options) drainAnswer() time.Duration {
	return o.DrainTimeout - min(o.DrainTimeout/10, time.Second)
}

const (
	defaultCompressMin  = 1 << 10
	defaultMaxRanges    = 16
	defaultCacheTTL     = time.Second
	defaultCacheFileMax = 16 << 10
	defaultCacheBytes   = 64 << 20
	defaultMaxUpload    = 1 << 30
	defaultAuthDelay    = 200 * time.Millisecond
	defaultMaxBody      = 1 << 20
	defaultHeaderTime   = 10 * time.Second
	defaultMinBodyRate  = 1 << 10
	defaultRateWindow   = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.CompressMin <= 0 {
		o.CompressMin = defaultCompressMin
	}
	if o.MaxRanges <= 0 {
		o.MaxRanges = defaultMaxRanges
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = defaultCacheTTL
	}
	if o.CacheFileMax <= 0 {
		o.CacheFileMax = defaultCacheFileMax
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = defaultMaxUpload
	}
	if o.AuthDelay <= 0 {
		o.AuthDelay = defaultAuthDelay
	}
	if o.MaxBody <= 0 {
		o.MaxBody = defaultMaxBody
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = defaultHeaderTime
	}
	if o.MinBodyRate == 0 {
		o.MinBodyRate = defaultMinBodyRate
	}
	if o.BodyRateWindow <= 0 {
		o.BodyRateWindow = defaultRateWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = server.DefaultDrainTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
