package web_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/web"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// upgradeHead sends a WebSocket upgrade for /chat/ws to addr with the
// given Host and extra header lines, and returns the answer's head and
// body as far as the server sent them before closing or switching.
func upgradeHead(t *testing.T, addr, host string, extra ...string) string {
	t.Helper()
	p := testkit.Dial(t, addr, "upgrade")
	p.Write("GET /chat/ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + strings.Join(extra, "") + "\r\n")
	p.Expect("\r\n\r\n")
	if strings.HasPrefix(p.Transcript(), "HTTP/1.1 403 ") {
		p.Expect("\n") // the body's one line
	}
	return p.Transcript()
}

// TestOrigin: the WebSocket opens for the door's own page (same host and
// port as the Host asked for), for clients that send no Origin (not a
// browser's page), and for the origins allowed in Options; pages of any
// other origin, "null" ones included, are refused with 403, and logged.
func TestOrigin(t *testing.T) {
	var log testkit.SyncBuffer
	s := startWeb(t, engine.Default, chat.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))},
		web.Options{Origins: []string{"https://chat.example:8443", "http://localhost:3000"}})
	self := s.web
	port := self[strings.LastIndexByte(self, ':')+1:]
	for _, tt := range []struct {
		name, host string
		origin     []string
		status     string
	}{
		{"no origin", self, nil, "101"},
		{"same origin", self, []string{"http://" + self}, "101"},
		{"same origin, other case", "LOCALHOST:" + port, []string{"http://localhost:" + port}, "101"},
		{"same origin, default port", "chat.example", []string{"http://chat.example"}, "101"},
		{"allowed", self, []string{"https://chat.example:8443"}, "101"},
		{"allowed, default port written out", self, []string{"HTTP://LOCALHOST:3000"}, "101"},
		{"evil", self, []string{"http://evil.example"}, "403"},
		{"null", self, []string{"null"}, "403"},
		{"same host, other port", self, []string{"http://127.0.0.1:1"}, "403"},
		{"allowed host, other port", self, []string{"https://chat.example"}, "403"},
		{"with a path", self, []string{"http://" + self + "/chat"}, "403"},
		{"two origins", self, []string{"http://" + self, "http://evil.example"}, "403"},
		{"no host", "", []string{"http://evil.example"}, "403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			for _, o := range tt.origin {
				extra = append(extra, "Origin: "+o+"\r\n")
			}
			got := upgradeHead(t, s.web, tt.host, extra...)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tt.status+" ") {
				t.Fatalf("Origin %q, Host %q: got\n%s\nwant %s", tt.origin, tt.host, got, tt.status)
			}
			if tt.status == "403" && !strings.Contains(got, "\r\n\r\nForbidden: pages of this origin may not open the chat\n") {
				t.Errorf("403 without its body:\n%s", got)
			}
		})
	}
	if l := log.String(); !strings.Contains(l, "WebSocket from another origin refused") ||
		!strings.Contains(l, "origin=http://evil.example") || !strings.Contains(l, "remote=127.0.0.1:") {
		t.Errorf("refusals not logged with origin and remote address:\n%s", l)
	}
	if members, _ := s.hub.Counts(); members != 0 {
		t.Errorf("%d members", members)
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"HTTPS://Chat.Example", "https://chat.example:443"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[::1]", "http://[::1]:80"},
		{"chrome-extension://abcdef", "chrome-extension://abcdef"},
		{"null", ""},
		{"", ""},
		{"chat.example", ""},
		{"http://chat.example/", ""},
		{"http://chat.example/x", ""},
		{"http://chat.example?", ""},
		{"http://u@chat.example", ""},
		{"http://:80", ""},
	} {
		got, err := web.ParseOrigin(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestBrowserOtherOrigin: a page Chromium loads from another origin (a
// site the operator visits while the chat runs on loopback) cannot open
// the chat's WebSocket; the chat's own page can.
func TestBrowserOtherOrigin(t *testing.T) {
	s := start(t, engine.Default, chat.Options{})
	var rt httpd.Router
	rt.Handle("GET", "/evil", func(_ context.Context, w *httpd.ResponseWriter, _ *httpd.Request) {
		w.Header("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>evil</title><p>nothing here</p>"))
	})
	h, err := httpd.New(httpd.Options{Routes: &rt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	evil := testkit.Serve(t, engine.Default, &server.Service{Name: "evil", Handler: h})

	// open tries the chat's WebSocket from the page loaded; the outcome,
	// "open" or "refused", is left in window.outcome.
	open := `window.outcome = "";
		const ws = new WebSocket("ws://` + s.web + `/chat/ws");
		ws.onopen = () => { window.outcome = "open"; ws.close(); };
		ws.onerror = () => { window.outcome = "refused"; };
		true`
	try := func(ctx context.Context, page string) string {
		t.Helper()
		var started bool
		var got string
		err := chromedp.Run(ctx,
			chromedp.Navigate(page),
			chromedp.Evaluate(open, &started),
			chromedp.Poll(`window.outcome`, &got),
		)
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		return got
	}
	ctx := testkit.Browser(t, 800, 600, 60*time.Second)
	if got := try(ctx, "http://"+evil+"/evil"); got != "refused" {
		t.Errorf("a page of another origin: the WebSocket is %s", got)
	}
	if got := try(ctx, "http://"+s.web+"/chat"); got != "open" {
		t.Errorf("the chat's own page: the WebSocket is %s", got)
	}
}
