package testkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser starts a headless Chromium for the test and returns a chromedp
// context for it, cancelled after timeout or when the test ends. Chromium
// runs as root only without its sandbox, and with the background services
// off so it talks to nothing but the test's servers. A missing Chromium
// fails the test: scripts/test installs it.
func Browser(t *testing.T, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Fatal("chromium not found: install Debian's chromium (scripts/test does)")
		}
		chromium = p
	}
	// Chromium writes to its profile as it exits, after the allocator's
	// cancel returns: remove the profile once no process uses it.
	profile, err := os.MkdirTemp("", "portside-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for end := time.Now().Add(10 * time.Second); usedBy(profile) && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond) // observing other processes exit
		}
		os.RemoveAll(profile)
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.WindowSize(width, height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	return ctx
}

// usedBy reports whether a running process names dir on its command line.
func usedBy(dir string) bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) {
			return true
		}
	}
	return false
}
