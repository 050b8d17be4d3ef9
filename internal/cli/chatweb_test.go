package cli

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestChatWeb: the browser door is served standalone by chat --web and
// mounted on serve's HTTP server; a browser's WebSocket talks to the same
// hub as the line door. Pages of other origins may not open it, but for
// those --web-origin (--chat-web-origin) allows.
func TestChatWeb(t *testing.T) {
	tests := []struct {
		name string
		web  string // the announcement of the HTTP address
		args []string
	}{
		{"chat --web", "chat-web/http", []string{"chat", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--data", "-",
			"--web-origin", "https://allowed.example", "--web-origin", "http://also.example:8000"}},
		{"serve", "http/http", []string{"serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--http-root", t.TempDir(), "--chat-listen", "127.0.0.1:0", "--chat-data", "-",
			"--chat-web-origin", "https://allowed.example", "--chat-web-origin", "http://also.example:8000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs := serve(t, []string{"chat/tcp", tt.web}, tt.args...)
			web := addrs[tt.web]

			c, err := net.DialTimeout("tcp", web, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			page, _ := io.ReadAll(c)
			c.Close()
			if !strings.HasPrefix(string(page), "HTTP/1.1 200 ") || !strings.Contains(string(page), "portside chat") {
				t.Errorf("GET /chat: %.200q", page)
			}

			for origin, status := range map[string]string{
				"http://" + web:             "101",
				"https://allowed.example":   "101",
				"http://also.example:8000":  "101",
				"http://evil.example":       "403",
				"null":                      "403",
				"https://allowed.example:1": "403",
			} {
				if got := upgradeFrom(t, web, origin); got != status {
					t.Errorf("WebSocket from %s: %s, want %s", origin, got, status)
				}
			}

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			wc, br, _, err := ws.Dialer{}.Dial(ctx, "ws://"+web+"/chat/ws")
			if err != nil {
				t.Fatal(err)
			}
			defer wc.Close()
			wc.SetDeadline(time.Now().Add(10 * time.Second))
			var r io.Reader = wc
			if br != nil {
				r = io.MultiReader(br, wc)
			}
			rw := struct {
				io.Reader
				io.Writer
			}{r, wc}
			wsutil.WriteClientText(wc, []byte(`{"type":"hello","nick":"bea"}`))
			wsutil.WriteClientText(wc, []byte(`{"type":"join","room":"lobby"}`))
			wait := func(what string, ok func(string) bool) {
				t.Helper()
				for {
					b, _, err := wsutil.ReadServerData(rw)
					if err != nil {
						t.Fatalf("waiting for %s: %v", what, err)
					}
					if ok(string(b)) {
						return
					}
				}
			}
			wait("bea to be in lobby", func(s string) bool { return strings.Contains(s, `"type":"joined","room":"lobby"`) })

			lc, err := net.DialTimeout("tcp", addrs["chat/tcp"], 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer lc.Close()
			io.WriteString(lc, "lina\r\n")
			wait("lina to join", func(s string) bool {
				return strings.Contains(s, `"type":"join","room":"lobby","time"`) && strings.Contains(s, `"nick":"lina"`)
			})
		})
	}
}

// upgradeFrom asks addr for the chat's WebSocket as a page of origin
// would, and returns the answer's status code.
func upgradeFrom(t *testing.T, addr, origin string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /chat/ws HTTP/1.1\r\nHost: "+addr+"\r\nOrigin: "+origin+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	status := make([]byte, len("HTTP/1.1 101"))
	if _, err := io.ReadFull(c, status); err != nil {
		t.Fatalf("upgrade from %s: %v", origin, err)
	}
	return strings.TrimPrefix(string(status), "HTTP/1.1 ")
}
