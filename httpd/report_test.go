package httpd_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
)

// The Accept fields of the three kinds of client.
const (
	acceptCurl    = "*/*"
	acceptBrowser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptJSON    = "application/json"
)

type reportJSON struct {
	Stored []struct {
		Name     string `json:"name"`
		Path     string `json:"path"`
		Size     int64  `json:"size"`
		Replaced bool   `json:"replaced"`
	} `json:"stored"`
	Refused []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
		Status int    `json:"status"`
	} `json:"refused"`
	Error *problemJSON `json:"error"`
}

type problemJSON struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Hint   string `json:"hint"`
}

func decodeJSON(t *testing.T, resp *http.Response, b string, v any) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		t.Fatalf("decoding the answer: %v", err)
	}
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestFormReport: a form of two files, one of whose names is taken,
// stores the other and says so, file by file, to each kind of client.
func TestFormReport(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := tree(t, map[string]string{"inbox/page.html": "<p>old</p>"})
		base := "http://" + serve(t, name, httpd.Options{Root: dir, Upload: true})
		for i, tc := range []struct {
			accept, ctype string
			check         func(t *testing.T, resp *http.Response, stored string)
		}{
			{acceptCurl, "text/plain; charset=utf-8", func(t *testing.T, resp *http.Response, stored string) {
				got := body(t, resp)
				want := "stored   /inbox/" + stored + " (12 B)\n" +
					"refused  page.html: /inbox/page.html already exists. This server does not replace files: " +
					"upload under another name, or ask its operator to run it with --overwrite. (409)\n"
				if got != want {
					t.Errorf("text report\n%s\nwant\n%s", got, want)
				}
			}},
			{acceptJSON, "application/json", func(t *testing.T, resp *http.Response, stored string) {
				var r reportJSON
				decodeJSON(t, resp, body(t, resp), &r)
				if len(r.Stored) != 1 || r.Stored[0].Name != stored || r.Stored[0].Path != "/inbox/"+stored || r.Stored[0].Size != 12 {
					t.Errorf("stored %+v", r.Stored)
				}
				if len(r.Refused) != 1 || r.Refused[0].Name != "page.html" || r.Refused[0].Status != 409 ||
					!strings.Contains(r.Refused[0].Reason, "`--overwrite`") {
					t.Errorf("refused %+v", r.Refused)
				}
				if r.Error != nil {
					t.Errorf("error %+v in a complete form", r.Error)
				}
			}},
			{acceptBrowser, "text/html; charset=utf-8", func(t *testing.T, resp *http.Response, stored string) {
				got := body(t, resp)
				wantContains(t, "HTML report", got,
					"<style>", "1 file stored in /inbox/, 1 file refused.",
					`<a href="/inbox/`+stored+`">`+stored+`</a>`, ">stored</span>",
					"<td class=\"name\">page.html</td>", ">refused</span>", "<code>--overwrite</code>",
					`<a href="/inbox/">Back to /inbox/</a>`)
			}},
		} {
			t.Run(tc.accept, func(t *testing.T) {
				stored := "new" + itoa(i) + ".txt"
				ct, b := form(t, [][2]string{{stored, "twelve bytes"}, {"page.html", "<p>new</p>"}})
				resp := do(t, "POST", base+"/inbox/", b, "Content-Type: "+ct, "Accept: "+tc.accept)
				wantStatus(t, resp, 200)
				if got := resp.Header.Get("Content-Type"); got != tc.ctype {
					t.Errorf("Content-Type %q, want %q", got, tc.ctype)
				}
				if got := resp.Header.Get("Vary"); got != "Accept" {
					t.Errorf("Vary %q, want Accept", got)
				}
				tc.check(t, resp, stored)
				if got := readFile(t, filepath.Join(dir, "inbox", stored)); got != "twelve bytes" {
					t.Errorf("%s holds %q", stored, got)
				}
			})
		}
		if got := readFile(t, filepath.Join(dir, "inbox", "page.html")); got != "<p>old</p>" {
			t.Errorf("page.html replaced: %q", got)
		}

		// None stored: the refusal's status, with the same report.
		ct, b := form(t, [][2]string{{"page.html", "x"}, {"../..", "y"}})
		resp := do(t, "POST", base+"/inbox/", b, "Content-Type: "+ct)
		wantStatus(t, resp, 409)
		got := body(t, resp)
		wantContains(t, "report of a form with nothing stored", got,
			"refused  page.html: /inbox/page.html already exists.", "refused  ../..: No usable file name is left of it.")
		if strings.Contains(got, "stored ") {
			t.Errorf("report of a form with nothing stored:\n%s", got)
		}
		// All stored: 201, and a browser goes back to the listing.
		ct, b = form(t, [][2]string{{"all.txt", "x"}})
		wantStatus(t, do(t, "POST", base+"/inbox/", b, "Content-Type: "+ct), 201)
		ct, b = form(t, [][2]string{{"browser.txt", "x"}})
		wantStatus(t, do(t, "POST", base+"/inbox/", b, "Content-Type: "+ct, "Accept: "+acceptBrowser), 303)
		noTempFiles(t, dir)
	})
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestUploadReportsAgree: PUT and POST answer a stored file in the same
// words and the same JSON.
func TestUploadReportsAgree(t *testing.T) {
	dir := tree(t, map[string]string{"inbox/": ""})
	base := "http://" + serve(t, "goroutine", httpd.Options{Root: dir, Upload: true})
	for n, accept := range []string{acceptCurl, acceptJSON, acceptBrowser} {
		t.Run(accept, func(t *testing.T) {
			put := do(t, "PUT", base+"/inbox/put"+itoa(n)+".txt", strings.NewReader("same"), "Accept: "+accept)
			wantStatus(t, put, 201)
			if got := put.Header.Get("Location"); got != "/inbox/put"+itoa(n)+".txt" {
				t.Errorf("Location %q", got)
			}
			ct, b := form(t, [][2]string{{"put" + itoa(n) + "x.txt", "same"}})
			// A browser that posts is sent to the listing; compare what
			// it would see of a PUT with what a program gets of a POST.
			postAccept := accept
			if accept == acceptBrowser {
				postAccept = acceptCurl
			}
			post := do(t, "POST", base+"/inbox/", b, "Content-Type: "+ct, "Accept: "+postAccept)
			wantStatus(t, post, 201)
			pb, qb := body(t, put), body(t, post)
			if accept == acceptBrowser {
				wantContains(t, "HTML answer to PUT", pb, "<style>", "1 file stored in /inbox/.",
					`<a href="/inbox/put`+itoa(n)+`.txt">put`+itoa(n)+`.txt</a>`)
				return
			}
			if strings.ReplaceAll(qb, "x.txt", ".txt") != pb {
				t.Errorf("PUT answered\n%s\nPOST answered\n%s", pb, qb)
			}
			if accept == acceptCurl && pb != "stored   /inbox/put"+itoa(n)+".txt (4 B)\n" {
				t.Errorf("PUT answered %q", pb)
			}
			if accept == acceptJSON && !strings.Contains(pb, `"size": 4`) {
				t.Errorf("PUT answered %s", pb)
			}
		})
	}
}

// TestUploadErrorAnswers: each refusal of an upload says what went wrong
// and what to do, in text, HTML and JSON.
func TestUploadErrorAnswers(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := tree(t, map[string]string{"inbox/readme.md": "old", "file.txt": "f"})
		base := "http://" + serve(t, name, httpd.Options{Root: dir, Upload: true, MaxUpload: 3 << 20})
		off := "http://" + serve(t, name, httpd.Options{Root: dir})
		for _, tc := range []struct {
			name, method, url, body string
			status                  int
			says                    []string // in every form
		}{
			{"exists", "PUT", base + "/inbox/readme.md", "new", 409,
				[]string{"/inbox/readme.md already exists.", "another name", "--overwrite"}},
			{"too large", "PUT", base + "/inbox/big.bin", strings.Repeat("x", 3<<20+1), 413,
				[]string{"The upload (3145729 bytes) is larger than this server's limit of 3 MiB (3145728 bytes).", "--max-upload"}},
			{"missing folder", "PUT", base + "/nope/x.txt", "x", 404,
				[]string{"The folder /nope/ does not exist.", "Uploads do not create folders"}},
			{"not a folder", "PUT", base + "/file.txt/x.txt", "x", 409,
				[]string{"/file.txt is a file, not a folder."}},
			{"put to a folder", "PUT", base + "/inbox/", "x", 405,
				[]string{"/inbox/ is a folder", "PUT to /inbox/NAME", "-F file=@NAME"}},
			{"dot name", "PUT", base + "/inbox/.env", "x", 403,
				[]string{"Names starting with a dot are private"}},
			{"uploads off", "PUT", off + "/inbox/new.txt", "x", 405,
				[]string{"This server does not accept uploads.", "--upload"}},
			{"form to a missing folder", "POST", base + "/nope/", "", 404,
				[]string{"The folder /nope/ does not exist."}},
			{"not a form", "POST", base + "/inbox/", "x", 415,
				[]string{"multipart/form-data", "-F file=@NAME"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, accept := range []string{acceptCurl, acceptBrowser, acceptJSON} {
					ctype := "Content-Type: text/plain"
					if tc.method == "POST" && tc.name != "not a form" {
						ct, b := form(t, [][2]string{{"x.txt", "x"}})
						ctype, tc.body = "Content-Type: "+ct, b.String()
					}
					resp := do(t, tc.method, tc.url, strings.NewReader(tc.body), "Accept: "+accept, ctype)
					wantStatus(t, resp, tc.status)
					got := body(t, resp)
					switch accept {
					case acceptCurl:
						if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
							t.Errorf("Content-Type %q", ct)
						}
						if strings.Contains(got, "`") {
							t.Errorf("text keeps backquotes: %q", got)
						}
						wantContains(t, "text answer", got, tc.says...)
					case acceptBrowser:
						wantContains(t, "HTML answer", got, "<style>", "<title>"+itoa(tc.status/100)) // e.g. 4xx
						wantContains(t, "HTML answer", html.UnescapeString(strings.NewReplacer("<code>", "", "</code>", "").Replace(got)), tc.says...)
					case acceptJSON:
						var p problemJSON
						decodeJSON(t, resp, got, &p)
						if p.Status != tc.status || p.Title == "" {
							t.Errorf("JSON %+v", p)
						}
						wantContains(t, "JSON answer", strings.ReplaceAll(p.Detail+" "+p.Hint, "`", ""), tc.says...)
					}
				}
			})
		}
		if got := readFile(t, filepath.Join(dir, "inbox", "readme.md")); got != "old" {
			t.Errorf("readme.md replaced: %q", got)
		}
		// Other errors keep their plain reason phrase.
		if got := body(t, get(t, base+"/missing")); got != "Not Found\n" {
			t.Errorf("404 of a missing file: %q", got)
		}
	})
}

// TestFormTooLarge: a form that outgrows the limit part way is answered
// 413, with the files stored before it reported.
func TestFormTooLarge(t *testing.T) {
	dir := tree(t, map[string]string{"inbox/": ""})
	base := "http://" + serve(t, "goroutine", httpd.Options{Root: dir, Upload: true, MaxUpload: 1 << 20})
	ct, b := form(t, [][2]string{{"small.txt", "small"}, {"huge.bin", strings.Repeat("h", 2<<20)}})
	// Chunked, so the size is not known before the body comes.
	resp := do(t, "POST", base+"/inbox/", io.MultiReader(b), "Content-Type: "+ct)
	wantStatus(t, resp, 413)
	got := body(t, resp)
	wantContains(t, "413 report", got, "stored   /inbox/small.txt (5 B)\n",
		"refused  huge.bin: The upload is larger than this server's limit of 1 MiB (1048576 bytes).",
		"error: Content Too Large: The upload is larger than this server's limit of 1 MiB (1048576 bytes). The rest of the form was not read.\n",
		"--max-upload")
	if _, err := os.Stat(filepath.Join(dir, "inbox", "huge.bin")); err == nil {
		t.Errorf("huge.bin stored")
	}
	noTempFiles(t, dir)
}
