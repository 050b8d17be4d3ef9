package httpd_test

import (
	"flag"
	"github.com/portside/portside/internal/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/portside/portside/httpd"
)

var screenshot = flag.String("screenshot", "", "also save the browser test's screenshot to this `file`")

// TestBrowserUpload: headless Chromium opens the listing page, uploads a
// file through its form, lands back on the listing, which now shows the
// file, and the test saves a screenshot of it.
func TestBrowserUpload(t *testing.T) {
	dir := tree(t, map[string]string{
		"README.md": "# portside\n", "notes.txt": strings.Repeat("note\n", 300), "photos/": "", "data.json": "{}",
	})
	base := "http://" + serve(t, "goroutine", httpd.Options{Root: dir, Upload: true})

	src := filepath.Join(t.TempDir(), "report from the browser.txt")
	if err := os.WriteFile(src, []byte("uploaded by chromium\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Browser(t, 1000, 700, 60*time.Second)

	var before, after string
	var shot []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`form.upload`, chromedp.ByQuery),
		chromedp.Text(`table`, &before, chromedp.ByQuery),
		chromedp.SetUploadFiles(`input[type=file]`, []string{src}, chromedp.ByQuery),
		chromedp.Click(`form.upload button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//a[contains(., "report from the browser.txt")]`, chromedp.BySearch),
		chromedp.Text(`table`, &after, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100), // 100: PNG,
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if strings.Contains(before, "report from the browser.txt") || !strings.Contains(after, "report from the browser.txt") {
		t.Errorf("listing before the upload:\n%s\nafter:\n%s", before, after)
	}
	got, err := os.ReadFile(filepath.Join(dir, "report from the browser.txt"))
	if err != nil || string(got) != "uploaded by chromium\n" {
		t.Errorf("stored file: %q, %v", got, err)
	}
	out := filepath.Join(t.TempDir(), "listing.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(shot) < 1000 {
		t.Errorf("screenshot is %d bytes", len(shot))
	}
}

// TestBrowserErrorPages: headless Chromium uploads, through the listing's
// form, one new file and one whose name is taken, and lands on the report
// page, styled like the listing; then it opens a missing page. At desktop
// and at phone width the pages fit the window, and the test saves their
// screenshots (-screenshot-dir keeps them).
func TestBrowserErrorPages(t *testing.T) {
	for _, sz := range []struct {
		name          string
		width, height int
	}{{"desktop", 1000, 700}, {"phone", 390, 844}} {
		t.Run(sz.name, func(t *testing.T) {
			dir := tree(t, map[string]string{"inbox/page.html": "<p>old</p>"})
			base := "http://" + serve(t, "goroutine", httpd.Options{Root: dir, Upload: true})
			src := t.TempDir()
			var files []string
			for _, n := range []string{"new notes.txt", "page.html"} {
				p := filepath.Join(src, n)
				if err := os.WriteFile(p, []byte("from the browser\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, p)
			}
			ctx := testkit.Browser(t, sz.width, sz.height, 60*time.Second)

			var report, notFound, conflict string
			var reportShot, notFoundShot, conflictShot []byte
			var reportFits, notFoundFits, conflictFits bool
			fits := `document.documentElement.scrollWidth <= window.innerWidth`
			// What a PUT of a taken name answers a browser, shown as
			// the page it is.
			put := `fetch("/inbox/page.html", {method: "PUT", headers: {Accept: "text/html"}, body: "x"})
				.then(r => r.text()).then(t => { document.open(); document.write(t); document.close(); return true })`
			var putDone bool
			err := chromedp.Run(ctx,
				chromedp.EmulateViewport(int64(sz.width), int64(sz.height)),
				chromedp.Navigate(base+"/inbox/"),
				chromedp.WaitVisible(`form.upload`, chromedp.ByQuery),
				chromedp.SetUploadFiles(`input[type=file]`, files, chromedp.ByQuery),
				chromedp.Click(`form.upload button`, chromedp.ByQuery),
				chromedp.WaitVisible(`table.report`, chromedp.ByQuery),
				chromedp.Text(`main`, &report, chromedp.ByQuery),
				chromedp.Evaluate(fits, &reportFits),
				chromedp.FullScreenshot(&reportShot, 100),
				chromedp.Navigate(base+"/inbox/missing.txt"),
				chromedp.WaitVisible(`h1 .code`, chromedp.ByQuery),
				chromedp.Text(`main`, &notFound, chromedp.ByQuery),
				chromedp.Evaluate(fits, &notFoundFits),
				chromedp.FullScreenshot(&notFoundShot, 100),
				chromedp.Evaluate(put, &putDone, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
				chromedp.WaitVisible(`p.hint`, chromedp.ByQuery),
				chromedp.Text(`main`, &conflict, chromedp.ByQuery),
				chromedp.Evaluate(fits, &conflictFits),
				chromedp.FullScreenshot(&conflictShot, 100),
			)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			wantContains(t, "report page", report, "Upload to /inbox/", "1 file stored in /inbox/, 1 file refused.",
				"new notes.txt", "page.html", "/inbox/page.html already exists.", "--overwrite", "Back to /inbox/")
			wantContains(t, "404 page", notFound, "404", "Not Found", "There is nothing at /inbox/missing.txt", "Go to the top folder")
			wantContains(t, "409 page", conflict, "409", "Conflict", "/inbox/page.html already exists.", "--overwrite", "Back to /inbox/")
			if !reportFits || !notFoundFits || !conflictFits {
				t.Errorf("a page is wider than the %d px window (report fits %v, 404 fits %v, 409 fits %v)", sz.width, reportFits, notFoundFits, conflictFits)
			}
			if got := readFile(t, filepath.Join(dir, "inbox", "page.html")); got != "<p>old</p>" {
				t.Errorf("page.html replaced: %q", got)
			}
			for name, shot := range map[string][]byte{"report": reportShot, "404": notFoundShot, "409": conflictShot} {
				if len(shot) < 1000 {
					t.Errorf("%s screenshot is %d bytes", name, len(shot))
				}
				if *screenshotDir != "" {
					p := filepath.Join(*screenshotDir, name+"-"+sz.name+".png")
					if err := os.WriteFile(p, shot, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

var screenshotDir = flag.String("screenshot-dir", "", "save the error page tests' screenshots in this `directory`")
