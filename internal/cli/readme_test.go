package cli

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/internal/testkit"
)

// tourBlock is one console block of the README's tour: its commands, each
// with the transcript under it, and what the comment above it says.
type tourBlock struct {
	line  int // in README.md
	cmds  []tourCmd
	skip  bool
	stdin string // typed into the block's foreground command
	until string // the foreground command is stopped after printing this line
}

type tourCmd struct {
	text string   // after "$ "
	out  []string // the transcript under it
}

var tourNote = regexp.MustCompile(`^<!-- tour: (.*) -->$`)

// readTour parses README.md's console blocks.
func readTour(t *testing.T, path string) []tourBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []tourBlock
	var cur *tourBlock
	note := ""
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && l == "```console":
			blk := tourBlock{line: i + 1}
			if note != "" {
				blk.skip = strings.HasPrefix(note, "skip")
				for _, kv := range regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(note, -1) {
					v, err := strconv.Unquote(`"` + kv[2] + `"`)
					if err != nil {
						t.Fatalf("README.md:%d: %v", i, err)
					}
					switch kv[1] {
					case "stdin":
						blk.stdin = v
					case "until":
						blk.until = v
					}
				}
			}
			blocks = append(blocks, blk)
			cur = &blocks[len(blocks)-1]
		case cur != nil && l == "```":
			cur = nil
		case cur != nil && strings.HasPrefix(l, "$ "):
			cur.cmds = append(cur.cmds, tourCmd{text: l[2:]})
		case cur != nil && len(cur.cmds) > 0:
			c := &cur.cmds[len(cur.cmds)-1]
			c.out = append(c.out, l)
		}
		note = ""
		if m := tourNote.FindStringSubmatch(l); m != nil {
			note = m[1]
		}
	}
	return blocks
}

// volatile lines differ from run to run; the tour shows one run's.
var volatile = regexp.MustCompile(`^(Date|Last-Modified|ETag|Content-Length): `)

var duration = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m|h)\b`)

// TestReadmeTour runs the README tour's commands with the real binary, on
// free loopback ports of its own, and checks that each prints what the
// README shows (lines that differ from run to run aside).
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs a dozen processes")
	}
	for _, tool := range []string{"go", "bash", "nc", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the tour needs %s", tool)
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := buildPortside(t, tmp)
	blocks := readTour(t, filepath.Join(repo, "README.md"))
	if len(blocks) < 5 {
		t.Fatalf("README.md has %d console blocks; the parser lost its way", len(blocks))
	}

	// Every port the tour names becomes a free one: the tour's own ports
	// may be taken on this machine.
	ports := map[string]string{}
	portRE := regexp.MustCompile(`127\.0\.0\.1[: ](\d+)`)
	for _, b := range blocks {
		for _, c := range b.cmds {
			for _, s := range append([]string{c.text}, c.out...) {
				for _, m := range portRE.FindAllStringSubmatch(s, -1) {
					if ports[m[1]] == "" {
						ports[m[1]] = freePort(t)
					}
				}
			}
		}
	}
	local := func(s string) string {
		return portRE.ReplaceAllStringFunc(s, func(a string) string { return a[:len("127.0.0.1 ")] + ports[a[len("127.0.0.1 "):]] })
	}
	state := filepath.Join(tmp, "state")
	norm := func(s string) string {
		s = strings.TrimRight(s, "\r")
		s = strings.ReplaceAll(s, state, "/home/ann/.local/state")
		s = strings.ReplaceAll(s, repo, "/home/ann/portside")
		return duration.ReplaceAllString(s, "DURATION")
	}
	env := append(os.Environ(), "XDG_STATE_HOME="+state, "HOME="+filepath.Join(tmp, "home"))
	command := func(text string) *exec.Cmd {
		text = strings.ReplaceAll(local(text), "go run ./cmd/portside", bin)
		if i := strings.Index(text, "   #"); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSuffix(strings.TrimSpace(text), "&")
		if strings.HasPrefix(text, bin+" serve") {
			// serve's own defaults are the tour's ports; here each is
			// given the free port that stands in for it.
			for flag, port := range map[string]string{"--echo-listen": "7007", "--chat-listen": "6667", "--http-listen": "8080"} {
				text += " " + flag + " 127.0.0.1:" + ports[port]
			}
		}
		if !strings.Contains(text, "|") {
			text = "exec " + text // so that the process signalled is the command's
		}
		cmd := exec.Command("bash", "-c", text)
		cmd.Dir, cmd.Env = repo, env
		return cmd
	}

	var servers []*exec.Cmd
	var serverErrs []*testkit.SyncBuffer
	defer func() {
		for i, s := range servers {
			s.Process.Signal(syscall.SIGTERM)
			waitExit(t, s, serverErrs[i])
		}
	}()
	ran := 0
	for _, b := range blocks {
		if b.skip {
			continue
		}
		for _, c := range b.cmds {
			name := fmt.Sprintf("README.md:%d: %s", b.line, c.text)
			background := strings.HasSuffix(strings.TrimSpace(strings.SplitN(c.text, "   #", 2)[0]), "&")
			cmd := command(c.text)
			errb := new(testkit.SyncBuffer)
			cmd.Stderr = errb
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var typed []string
			stdin := io.WriteCloser(nopWriteCloser{})
			if !background {
				if typed = strings.Split(strings.TrimSuffix(b.stdin, "\n"), "\n"); b.stdin == "" {
					typed = nil
				}
				if stdin, err = cmd.StdinPipe(); err != nil {
					t.Fatal(err)
				}
			}
			if err := cmd.Start(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ran++
			if background {
				servers = append(servers, cmd)
				serverErrs = append(serverErrs, errb)
			}
			out := lineReader(stdout)
			// The transcript, played as at a terminal: a typed line is
			// typed when the transcript comes to it, after the output
			// before it has been read.
			for _, l := range c.out {
				if len(typed) > 0 && l == typed[0] {
					io.WriteString(stdin, l+"\n")
					typed = typed[1:]
					continue
				}
				got, ok := out.next()
				if !ok {
					t.Errorf("%s: output ended (or a minute passed) before %q; stderr:\n%s", name, l, errb.String())
					break
				}
				if volatile.MatchString(l) {
					continue
				}
				if norm(got) != norm(local(l)) {
					t.Errorf("%s printed %q where the README shows %q", name, norm(got), l)
				}
				if !background && b.until != "" && l == b.until {
					break
				}
			}
			if background {
				out.drain()
				continue
			}
			for _, l := range typed {
				io.WriteString(stdin, l+"\n")
			}
			stdin.Close()
			if b.until != "" {
				cmd.Process.Kill()
				cmd.Wait()
				continue
			}
			for {
				l, ok := out.next()
				if !ok {
					break
				}
				if strings.TrimSpace(l) != "" {
					t.Errorf("%s printed %q, which the README does not show", name, l)
				}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v; stderr:\n%s", name, err, errb.String())
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Errorf("%s: still running after 60s", name)
			}
		}
	}
	if ran < 10 {
		t.Errorf("ran %d of the tour's commands", ran)
	}
}

type nopWriteCloser struct{}

func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }

// lines reads a command's output a line at a time, giving up after a
// minute without one.
type lines chan string

func lineReader(r io.Reader) lines {
	ch := make(lines)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func (ch lines) next() (string, bool) {
	select {
	case l, ok := <-ch:
		return l, ok
	case <-time.After(60 * time.Second):
		return "", false
	}
}

// drain discards the rest of a server's output, so it never blocks on it.
func (ch lines) drain() {
	go func() {
		for range ch {
		}
	}()
}

// buildPortside builds the command into dir and returns its path.
func buildPortside(t *testing.T, dir string) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "portside")
	build := exec.Command("go", "build", "-o", bin, "./cmd/portside")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
