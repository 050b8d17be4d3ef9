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
// hub as the line door.
func TestChatWeb(t *testing.T) {
	tests := []struct {
		name string
		web  string // the announcement of the HTTP address
		args []string
	}{
		{"chat --web", "chat-web/http", []string{"chat", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--data", "-"}},
		{"serve", "http/http", []string{"serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--http-root", t.TempDir(), "--chat-listen", "127.0.0.1:0", "--chat-data", "-"}},
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
