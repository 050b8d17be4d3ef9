package httpd_test

import (
	"flag"
	"github.com/portside/portside/internal/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
