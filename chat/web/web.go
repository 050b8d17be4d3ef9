// Package web is chat's browser door: a page at /chat, embedded in the
// binary, that talks JSON over a WebSocket at /chat/ws to the same hub as
// the line protocol and IRC doors, so members of a room see each other
// whichever door they came in by.
//
// The WebSocket runs on the engine's connection: httpd answers the upgrade
// and hands the connection over, and frames are parsed from the bytes the
// engine hands Data, never blocking. A message said in a room is encoded
// once, as a complete frame, and the same bytes go to every browser in it.
package web

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/proto/irc"
)

//go:embed assets
var assets embed.FS

// Options configure a Door. Zero values take the defaults noted.
type Options struct {
	// MaxMessage bounds one message from a browser, in bytes of payload,
	// whether in one frame or fragmented. Default 16 KiB; larger ones
	// close the connection with 1009.
	MaxMessage int
	// Origins are the origins, besides the door's own, whose pages may
	// open the WebSocket: "https://chat.example.com:8443" (see
	// ParseOrigin). By default only the door's own page may: a browser
	// sends every WebSocket request with its page's Origin, and a page of
	// any other site the user visits must not join the chat as them.
	Origins []string
}

// Door is the browser door of one hub.
type Door struct {
	hub     *chat.Hub
	o       chat.Options
	format  chat.Format
	max     int
	files   map[string]file
	origins map[string]bool // allowed besides the door's own, as ParseOrigin has them

	mu    sync.Mutex
	nicks map[string]*client // by folded nick, once registered
}

type file struct {
	ctype string
	body  []byte
}

// New makes hub's browser door. Call it before hub.Run: it registers the
// door's wire format. It panics on an origin ParseOrigin refuses.
func New(hub *chat.Hub, o Options) *Door {
	if o.MaxMessage <= 0 {
		o.MaxMessage = 16 << 10
	}
	d := &Door{hub: hub, o: hub.Options(), max: o.MaxMessage, files: map[string]file{}, nicks: map[string]*client{}, origins: map[string]bool{}}
	for _, s := range o.Origins {
		origin, err := ParseOrigin(s)
		if err != nil {
			panic(err)
		}
		d.origins[origin] = true
	}
	d.format = hub.AddFormat(encodeFrame)
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".svg":  "image/svg+xml",
	}
	fs.WalkDir(assets, "assets", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		ext := name[strings.LastIndexByte(name, '.'):]
		d.files[name] = file{ctype: types[ext], body: b}
		return nil
	})
	return d
}

// Kick disconnects the browser called nick, telling it and the others
// reason, and reports whether there was one. The page reconnects by itself.
func (d *Door) Kick(nick, reason string) bool {
	d.mu.Lock()
	cl := d.nicks[irc.Fold(nick)]
	d.mu.Unlock()
	if cl == nil {
		return false
	}
	d.hub.Disconnect(cl.m, reason)
	return true
}

// named records cl's nick, "" when it leaves.
func (d *Door) named(cl *client, old, nick string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old != "" && d.nicks[irc.Fold(old)] == cl {
		delete(d.nicks, irc.Fold(old))
	}
	if nick != "" {
		d.nicks[irc.Fold(nick)] = cl
	}
}

// Mount routes the page (/chat, and its files under /chat/) and the
// WebSocket (/chat/ws) on rt. HEAD is answered as GET without the body
// (httpd leaves it out), so checkers and proxies see the page is there.
func (d *Door) Mount(rt *httpd.Router) {
	page := func(_ context.Context, w *httpd.ResponseWriter, _ *httpd.Request) {
		d.serve(w, "index.html")
	}
	files := func(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
		name := strings.TrimPrefix(r.Path, "/chat/")
		if name == "" {
			name = "index.html"
		}
		d.serve(w, name)
	}
	for _, m := range []string{"GET", "HEAD"} {
		rt.Handle(m, "/chat", page)
		rt.Handle(m, "/chat/", files)
	}
	rt.Handle("GET", "/chat/ws", d.upgrade)
	rt.Handle("HEAD", "/chat/ws", notUpgraded)
}

// notUpgraded answers a HEAD of the WebSocket as a GET that asks for no
// upgrade is: there is no WebSocket without one.
func notUpgraded(_ context.Context, w *httpd.ResponseWriter, _ *httpd.Request) {
	w.Header("Upgrade", "websocket")
	w.WriteHeader(426)
	w.Write([]byte("This is a WebSocket: open /chat in a browser.\n"))
}

func (d *Door) serve(w *httpd.ResponseWriter, name string) {
	f, ok := d.files[name]
	if !ok {
		w.WriteHeader(404)
		w.Write([]byte("Not Found\n"))
		return
	}
	w.Header("Content-Type", f.ctype)
	w.Header("Cache-Control", "no-cache")
	w.Header("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:")
	w.Header("X-Content-Type-Options", "nosniff")
	w.Write(f.body)
}

// wsGUID is RFC 6455's constant for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgrade answers the WebSocket handshake (RFC 6455 §4.2) and hands the
// connection to a client.
func (d *Door) upgrade(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
	key := r.Get("Sec-WebSocket-Key")
	raw, err := base64.StdEncoding.DecodeString(key)
	switch {
	case !strings.EqualFold(r.Get("Upgrade"), "websocket") || !hasToken(r.Get("Connection"), "upgrade"):
		w.Header("Upgrade", "websocket")
		w.WriteHeader(426)
		w.Write([]byte("This is a WebSocket: open /chat in a browser.\n"))
		return
	case r.Get("Sec-WebSocket-Version") != "13":
		w.Header("Sec-WebSocket-Version", "13")
		w.WriteHeader(426)
		w.Write([]byte("WebSocket version 13 only\n"))
		return
	case err != nil || len(raw) != 16:
		w.WriteHeader(400)
		w.Write([]byte("bad Sec-WebSocket-Key\n"))
		return
	case !d.originAllowed(r):
		d.o.Logger.Warn("chat web: WebSocket from another origin refused",
			"origin", r.Get("Origin"), "host", r.Get("Host"), "remote", r.RemoteAddr.String())
		w.WriteHeader(403)
		w.Write([]byte("Forbidden: pages of this origin may not open the chat\n"))
		return
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	w.Header("Upgrade", "websocket")
	w.Header("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
	w.WriteHeader(101)
	w.Upgrade(&client{d: d, addr: chat.Host(r.RemoteAddr)})
}

// hasToken reports whether a comma-separated field value holds tok,
// ignoring case.
func hasToken(v, tok string) bool {
	for f := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(f), tok) {
			return true
		}
	}
	return false
}

// originAllowed reports whether r may open the WebSocket: it has no Origin
// (it is not from a browser's page, which always sends one), or its Origin
// is the door's own (same host and port as the Host the request was sent
// to) or one of Options.Origins. "null", sent by sandboxed and file pages,
// is no one's own.
func (d *Door) originAllowed(r *httpd.Request) bool {
	var origins []string
	for _, f := range r.Header {
		if strings.EqualFold(f.Name, "Origin") {
			origins = append(origins, f.Value)
		}
	}
	switch len(origins) {
	case 0:
		return true
	case 1:
	default:
		return false // a browser sends one
	}
	origin, err := ParseOrigin(origins[0])
	if err != nil {
		return false
	}
	if d.origins[origin] {
		return true
	}
	scheme, hostport, _ := strings.Cut(origin, "://")
	return hostport == withPort(strings.ToLower(r.Get("Host")), scheme)
}

// ParseOrigin checks an origin as a browser sends it (RFC 6454: scheme,
// host and an optional port, nothing else) and returns it in the form the
// door compares: lower case, with the port written out for http and https.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Hostname() == "" || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("chat/web: origin %q is not scheme://host[:port], as in https://chat.example.com", s)
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme + "://" + withPort(strings.ToLower(u.Host), scheme), nil
}

// withPort writes out the default port of scheme if host has none.
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	switch scheme {
	case "http", "ws":
		return net.JoinHostPort(strings.Trim(host, "[]"), "80")
	case "https", "wss":
		return net.JoinHostPort(strings.Trim(host, "[]"), "443")
	}
	return host
}
