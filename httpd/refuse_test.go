package httpd_test

import (
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portside/portside/httpd"
)

// traversalTree is a root inside a directory holding a secret, with
// symbolic links that lead out of the root and one that stays inside.
func traversalTree(t *testing.T) (root string) {
	t.Helper()
	outer := t.TempDir()
	root = filepath.Join(outer, "root")
	for name, content := range map[string]string{
		"secret.txt":         "TOP SECRET",
		"root/public.txt":    "public",
		"root/sub/page.txt":  "page",
		"root/sub/.private":  "TOP SECRET",
		"root/.git/config":   "TOP SECRET",
		"sibling/secret.txt": "TOP SECRET",
	} {
		p := filepath.Join(outer, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"root/out.txt":     "../secret.txt",
		"root/outdir":      "../sibling",
		"root/abs.txt":     filepath.Join(outer, "secret.txt"),
		"root/sub/up":      "../../secret.txt",
		"root/passwd":      "/etc/passwd",
		"root/inside.txt":  "sub/page.txt",
		"root/loop":        "loop",
		"root/sub/dotlink": ".private",
	} {
		if err := os.Symlink(target, filepath.Join(outer, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestTraversal: every attempt to reach outside the root, or at hidden
// files, is refused over raw TCP, and the secret never appears.
func TestTraversal(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		addr := serve(t, name, httpd.Options{Root: traversalTree(t)})
		for _, tc := range []struct {
			target string
			status int
		}{
			{"/../secret.txt", 400},
			{"/sub/../../secret.txt", 400},
			{"/%2e%2e/secret.txt", 400},
			{"/%2E%2E/secret.txt", 400},
			{"/.%2e/secret.txt", 400},
			{"/%2e%2e%2fsecret.txt", 400},
			{"/sub/..%2f..%2fsecret.txt", 400},
			{"/..%5csecret.txt", 400},
			{"/%5c..%5csecret.txt", 400},
			{"/public.txt%00.html", 400},
			{"/%00", 400},
			{"/public.txt%0a", 400},
			{"/%c0%ae%c0%ae/secret.txt", 400},       // overlong '.'
			{"/%c0%af..%c0%afsecret.txt", 400},      // overlong '/'
			{"/%e0%80%ae%e0%80%ae/secret.txt", 400}, // three-byte overlong '.'
			{"/%ff/x", 400},                         // not UTF-8
			{"/%2", 400},                            // truncated escape
			{"/%zz", 400},                           // bad escape
			{"http://x/../secret.txt", 400},         // absolute form
			{"/out.txt", 403},                       // symlink out of the root
			{"/outdir/secret.txt", 403},             // through a directory link
			{"/abs.txt", 403},                       // absolute symlink
			{"/sub/up", 403},                        // relative link climbing out
			{"/passwd", 403},                        // absolute link to a system file
			{"/loop", 403},                          // symlink loop
			{"/etc/passwd", 404},                    // absolute paths stay under the root
			{"//etc/passwd", 404},
			{"/.git/config", 404}, // dotfiles
			{"/sub/.private", 404},
			{"/%2egit/config", 404},
			{"/sub/dotlink", 200}, // a link may name a dotfile inside; the request did not
			{"/inside.txt", 200},  // a link inside the root is followed
		} {
			t.Run(tc.target, func(t *testing.T) {
				got := exchange(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n\r\n")
				if !strings.HasPrefix(got, fmt.Sprintf("HTTP/1.1 %d ", tc.status)) {
					t.Errorf("GET %s: got %q, want status %d", tc.target, trunc(got), tc.status)
				}
				if strings.Contains(got, "TOP SECRET") && tc.status != 200 {
					t.Errorf("GET %s leaked the secret", tc.target)
				}
			})
		}
	})
}

// TestMalformed: requests that two parsers could read differently are
// refused with the parser's status and the connection is closed, so a
// request smuggled behind them is never answered.
func TestMalformed(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		dir := tree(t, map[string]string{"a.txt": "a", "admin": "ADMIN"})
		addr := serve(t, name, httpd.Options{Root: dir, Upload: true})
		const smuggled = "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
		for _, tc := range []struct {
			name   string
			raw    string
			status int
		}{
			{"CL and TE", "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
			{"TE and CL", "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled, 400},
			{"two CL", "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 33\r\n\r\n" + smuggled, 400},
			{"CL list", "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 33\r\n\r\n" + smuggled, 400},
			{"CL sign", "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n" + smuggled, 400},
			{"TE not chunked last", "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n" + smuggled, 400},
			{"TE unknown", "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + smuggled, 501},
			{"TE chunked twice", "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" + smuggled, 400},
			{"TE in 1.0", "POST /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
			{"TE with space before colon", "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
			{"obs-fold", "GET /a.txt HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n" + smuggled, 400},
			{"bare LF", "GET /a.txt HTTP/1.1\nHost: x\n\n" + smuggled, 400},
			{"bare CR", "GET /a.txt HTTP/1.1\r\nHost: x\rX: y\r\n\r\n" + smuggled, 400},
			{"NUL in header", "GET /a.txt HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n" + smuggled, 400},
			{"no Host", "GET /a.txt HTTP/1.1\r\n\r\n" + smuggled, 400},
			{"two Hosts", "GET /a.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" + smuggled, 400},
			{"bad chunk size", "PUT /up.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nA\r\n0\r\n\r\n" + smuggled, 400},
			{"chunk size overflow", "PUT /up.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n" + smuggled, 400},
			{"chunk without CRLF", "PUT /up.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAB\r\n0\r\n\r\n" + smuggled, 400},
			{"space in target", "GET /a b.txt HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
			{"two spaces", "GET  /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
			{"fragment", "GET /a.txt#x HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
			{"userinfo", "GET http://u@x/a.txt HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
			{"lower-case version", "GET /a.txt http/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
			{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
			{"HTTP/1.2", "GET /a.txt HTTP/1.2\r\nHost: x\r\n\r\n" + smuggled, 505},
			{"long target", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
			{"huge header", "GET /a.txt HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431},
			{"many headers", "GET /a.txt HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", 431},
			{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 405},
			{"asterisk for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
			{"body too large", "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := exchange(t, addr, tc.raw)
				if !strings.HasPrefix(got, fmt.Sprintf("HTTP/1.1 %d ", tc.status)) {
					t.Fatalf("got %q, want status %d", trunc(got), tc.status)
				}
				if n := strings.Count(got, "HTTP/1.1 "); n != 1 {
					t.Errorf("%d responses, want 1: %q", n, got)
				}
				if strings.Contains(got, "ADMIN") {
					t.Errorf("the smuggled request was answered")
				}
				if !strings.Contains(got, "Connection: close") {
					t.Errorf("response does not say Connection: close: %q", trunc(got))
				}
			})
		}
	})
}

var statusLine = regexp.MustCompile(`HTTP/1\.1 (\d{3}) `)

// TestKeepAliveRules: HTTP/1.0 closes unless asked; Connection: close is
// honoured; a refused request with a small body keeps the connection.
func TestKeepAliveRules(t *testing.T) {
	dir := tree(t, map[string]string{"a.txt": "a"})
	addr := serve(t, "goroutine", httpd.Options{Root: dir})
	for _, tc := range []struct {
		name string
		raw  string
		want []string // statuses, in order; the server then closes
	}{
		{"1.0 closes", "GET /a.txt HTTP/1.0\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n", []string{"200"}},
		{"1.0 keep-alive", "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n", []string{"200", "200"}},
		{"close", "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", []string{"200"}},
		{"small unwanted body", "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", []string{"200", "200"}},
		{"405 keeps", "DELETE /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", []string{"405", "200"}},
		{"expect on GET", "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", []string{"413"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, addr, tc.raw)
			var statuses []string
			for _, m := range statusLine.FindAllStringSubmatch(got, -1) {
				statuses = append(statuses, m[1])
			}
			if strings.Join(statuses, " ") != strings.Join(tc.want, " ") {
				t.Errorf("statuses %v, want %v\n%s", statuses, tc.want, got)
			}
		})
	}
}
