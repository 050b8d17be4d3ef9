package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

// httpConfig is what the http flags say.
type httpConfig struct {
	listen      string
	root        string
	dotfiles    bool
	noListing   bool
	spa         bool
	cache       time.Duration
	cors        bool
	compress    bool
	upload      bool
	overwrite   bool
	maxUpload   byteSize
	auth        string
	authAll     bool
	accessLog   string
	headerTime  time.Duration
	minRate     int64
	idle        time.Duration
	maxConns    int
	maxConnsIP  int
	noCache     bool
	cacheFileMx byteSize
	prefix      string // of the flags' names
}

// check refuses flags that contradict each other, naming them as the
// command knows them.
func (c *httpConfig) check() error {
	p := "--" + c.prefix
	if c.authAll && c.auth == "" {
		return usagef("%sauth-all needs %sauth user:pass", p, p)
	}
	if c.auth != "" && !strings.Contains(c.auth, ":") {
		return usagef("%sauth wants user:pass", p)
	}
	return nil
}

func (c *httpConfig) register(fs *flag.FlagSet, prefix, defaultAddr string) {
	c.maxUpload = 1 << 30
	c.cacheFileMx = 16 << 10
	c.prefix = prefix
	fs.StringVar(&c.listen, prefix+"listen", defaultAddr, "TCP `address` to listen on")
	fs.StringVar(&c.root, prefix+"root", ".", "`directory` to serve")
	fs.BoolVar(&c.dotfiles, prefix+"dotfiles", false, "serve and list names starting with '.'")
	fs.BoolVar(&c.noListing, prefix+"no-listing", false, "answer 404 for a directory without index.html instead of listing it")
	fs.BoolVar(&c.spa, prefix+"spa", false, "single-page app: answer missing pages with /index.html")
	fs.DurationVar(&c.cache, prefix+"cache", 0, "send Cache-Control: public, max-age for this `duration` (0: none)")
	fs.BoolVar(&c.cors, prefix+"cors", false, "let pages from any origin read responses (CORS)")
	fs.BoolVar(&c.compress, prefix+"compress", true, "compress text types with br, zstd or gzip on the fly")
	fs.BoolVar(&c.upload, prefix+"upload", false, "accept uploads: PUT of a file, POST of a form to a directory")
	fs.BoolVar(&c.overwrite, prefix+"overwrite", false, "let uploads replace existing files")
	fs.Var(&c.maxUpload, prefix+"max-upload", "largest upload `size` (e.g. 512MiB, 2GiB)")
	fs.StringVar(&c.auth, prefix+"auth", "", "require basic authentication `user:pass` for uploads")
	fs.BoolVar(&c.authAll, prefix+"auth-all", false, "require --"+prefix+"auth for every request, not only uploads")
	fs.StringVar(&c.accessLog, prefix+"access-log", "-", "access log `file`: - for stdout, off for none (format follows --log-format)")
	fs.DurationVar(&c.headerTime, prefix+"header-timeout", 10*time.Second, "longest time to send a request head")
	fs.Int64Var(&c.minRate, prefix+"min-body-rate", 1024, "slowest request body, in `bytes` per second over 10s (-1: no limit)")
	fs.DurationVar(&c.idle, prefix+"idle-timeout", time.Minute, "close keep-alive connections idle this long")
	fs.IntVar(&c.maxConns, prefix+"max-conns", server.DefaultMaxConns, "most connections at once")
	fs.IntVar(&c.maxConnsIP, prefix+"max-conns-per-ip", 0, "most connections from one address (0: no limit)")
	fs.BoolVar(&c.noCache, prefix+"no-file-cache", false, "look at the file system on every request instead of caching for a second")
	fs.Var(&c.cacheFileMx, prefix+"cache-file-max", "largest file `size` kept in memory")
}

func runHTTP(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	e.serverFlags(fs)
	var c httpConfig
	c.register(fs, "", "127.0.0.1:8080")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	r, err := e.runner(ctx)
	if err != nil {
		return err
	}
	stop, err := startHTTP(r, c, nil)
	if err != nil {
		r.stop()
		return err
	}
	defer stop()
	if err := r.serveMetrics(); err != nil {
		r.stop()
		return err
	}
	return r.wait()
}

// startHTTP starts the HTTP service, with routes (nil for none) ahead of the
// files: routes hold state shared across connections, such as chat's
// browser door. The caller calls stop once the runner is done, to flush the
// access log and release the root.
func startHTTP(r *runner, c httpConfig, routes *httpd.Router) (stop func(), err error) {
	root, err := filepath.Abs(c.root)
	if err != nil {
		return nil, err
	}
	switch fi, err := os.Stat(root); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, conflictf("--%sroot %s: no such directory; give --%sroot a folder to serve", c.prefix, root, c.prefix)
	case err != nil:
		return nil, fmt.Errorf("--%sroot: %w", c.prefix, err)
	case !fi.IsDir():
		return nil, conflictf("--%sroot %s is a file, not a directory; give --%sroot the folder that holds it", c.prefix, root, c.prefix)
	}
	var alog io.Writer
	closeLog := func() {}
	switch c.accessLog {
	case "off", "":
	case "-":
		alog = r.e.stdout
	default:
		f, err := os.OpenFile(c.accessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("http: access log: %w", err)
		}
		alog = f
		closeLog = func() { f.Close() }
	}
	reqs := new(httpd.Requests)
	r.requests.services = append(r.requests.services, namedRequests{"http", reqs})
	ttl := time.Duration(0)
	if c.noCache {
		ttl = -1
	}
	h, err := httpd.New(httpd.Options{
		Root:          root,
		Routes:        routes,
		Dotfiles:      c.dotfiles,
		NoListing:     c.noListing,
		SPA:           c.spa,
		CacheMaxAge:   c.cache,
		CORS:          c.cors,
		Compress:      c.compress,
		Upload:        c.upload,
		Overwrite:     c.overwrite,
		MaxUpload:     int64(c.maxUpload),
		Auth:          c.auth,
		AuthAll:       c.authAll,
		AccessLog:     alog,
		AccessLogJSON: r.e.g.logFormat == "json",
		Requests:      reqs,
		HeaderTimeout: c.headerTime,
		MinBodyRate:   c.minRate,
		DrainTimeout:  r.e.g.drainTimeout,
		CacheTTL:      ttl,
		CacheFileMax:  int64(c.cacheFileMx),
		Logger:        r.e.log.With("service", "http"),
	})
	if err != nil {
		closeLog()
		return nil, err
	}
	stop = func() {
		h.Stop()
		closeLog()
	}
	s := &server.Service{
		Name:    "http",
		Handler: h,
		// Files alone keep nothing between connections; routes may.
		Stateless: routes == nil,
		Limits: server.Limits{
			IdleTimeout:   c.idle,
			MaxConns:      c.maxConns,
			MaxConnsPerIP: c.maxConnsIP,
		},
	}
	addr, err := r.tcp(s, "--"+c.prefix+"listen", c.listen)
	if err != nil {
		stop()
		return nil, err
	}
	what := "serving " + root
	if c.upload {
		what += ", uploads on"
	}
	r.announce("http", fmt.Sprintf("http://%s (%s, engine %s)", addr, what, r.e.g.engine))
	return stop, nil
}

// byteSize is a flag holding a size in bytes, written with an optional
// unit: 1048576, 512KiB, 64MiB, 2GiB, 1GB.
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		s string
		v int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	units := []struct {
		s string
		v int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	given := s
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.s) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.s)), u.v
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("bad size %q: want a positive number of bytes with an optional unit: KiB, MiB, GiB, TiB, KB, MB, GB, TB", given)
	}
	*b = byteSize(n * mult)
	return nil
}
