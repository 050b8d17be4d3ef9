package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The core's dependency rule, in the manner of Go's own go/build deps test:
// a protocol author who imports the core, its test kits, the protocols or
// the engines gets the standard library and nothing else, but for
// golang.org/x/sys where system calls need it (never in a protocol).
// Adapters to other software, such as the Prometheus collector, live in
// packages of their own that the core never imports.

const module = "github.com/portside/portside"

// adapters are packages under server/ that may use anything, because
// nothing in the core imports them.
var adapters = map[string]bool{
	module + "/server/promstats": true,
}

// rule says which non-standard packages a package under the rule may
// reach, directly or not.
type rule struct {
	name  string
	roots func(path string) bool // the packages the rule is for
	may   func(path string) bool // what they may reach beyond the standard library
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func protos(path string) bool { return under(path, module+"/proto") }

// core is server with its test kits, without the adapters.
func core(path string) bool { return under(path, module+"/server") && !adapters[path] }

func engines(path string) bool { return under(path, module+"/engine") }

func xsys(path string) bool { return under(path, "golang.org/x/sys") }

var rules = []rule{
	{"protocols import the standard library only", protos, protos},
	{"the core imports the standard library, golang.org/x/sys and the protocols only", core, func(p string) bool {
		return core(p) || protos(p) || xsys(p)
	}},
	{"engines import the standard library, golang.org/x/sys and the core only", engines, func(p string) bool {
		return engines(p) || core(p) || protos(p) || xsys(p)
	}},
}

// pkg is what go list -json says of a package, the fields used here.
type pkg struct {
	ImportPath string
	Standard   bool
	DepOnly    bool
	Dir        string
	Imports    []string
	Error      *struct{ Err string }
}

// goList lists the core's and the engines' packages and all they import,
// for one target system: engines choose their files by build tags.
func goList(t *testing.T, goos string) map[string]*pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the dependency rule needs the go command: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-e", "-deps", "-json=ImportPath,Standard,DepOnly,Dir,Imports,Error",
		module+"/server/...", module+"/proto/...", module+"/engine/...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	watchSources(t, pkgs)
	return pkgs
}

// watchSources looks at the module's sources that go list read, so that
// go test's cache, which knows only what the test process itself opens,
// runs the test again when one of them, or a directory's list of files,
// changes.
func watchSources(t *testing.T, pkgs map[string]*pkg) {
	t.Helper()
	if _, err := os.Stat("../go.mod"); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if !under(p.ImportPath, module) || p.Dir == "" {
			continue
		}
		entries, err := os.ReadDir(p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".go") {
				if _, err := os.Stat(filepath.Join(p.Dir, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// checkDeps walks each rule's packages' imports, indirect ones included,
// and reports every package reached that the rule does not allow, with the
// chain of imports that reaches it.
func checkDeps(pkgs map[string]*pkg) (broken []string, checked int) {
	var roots []string
	for path, p := range pkgs {
		if !p.DepOnly {
			roots = append(roots, path)
		}
	}
	slices.Sort(roots)
	for _, root := range roots {
		for _, r := range rules {
			if !r.roots(root) {
				continue
			}
			checked++
			from := map[string]string{root: ""}
			queue := []string{root}
			for len(queue) > 0 {
				path := queue[0]
				queue = queue[1:]
				p := pkgs[path]
				if p == nil {
					broken = append(broken, root+": go list did not describe "+path)
					continue
				}
				if p.Error != nil {
					broken = append(broken, path+": "+p.Error.Err)
				}
				if p.Standard {
					continue
				}
				if !r.may(path) {
					chain := []string{path}
					for at := from[path]; at != ""; at = from[at] {
						chain = append(chain, at)
					}
					slices.Reverse(chain)
					broken = append(broken, r.name+", but "+strings.Join(chain, " -> "))
					continue
				}
				for _, imp := range p.Imports {
					if _, seen := from[imp]; !seen {
						from[imp] = path
						queue = append(queue, imp)
					}
				}
			}
		}
	}
	return broken, checked
}

// TestDependencyRule: the core and the engines import nothing they may not,
// on each system the engines are built for.
func TestDependencyRule(t *testing.T) {
	for _, goos := range []string{"linux", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			pkgs := goList(t, goos)
			broken, checked := checkDeps(pkgs)
			for _, b := range broken {
				t.Error(b)
			}
			for _, want := range []string{module + "/server", module + "/server/servertest", module + "/proto/http1", module + "/engine/goroutine"} {
				if p := pkgs[want]; p == nil || p.DepOnly {
					t.Errorf("%s is not among the packages checked", want)
				}
			}
			if checked < 8 {
				t.Errorf("only %d packages checked", checked)
			}
		})
	}
}

// TestDependencyRuleCatches: the walk finds a forbidden package however
// deep it is, so the rule above cannot pass by not looking.
func TestDependencyRuleCatches(t *testing.T) {
	pkgs := map[string]*pkg{
		module + "/server":      {ImportPath: module + "/server", Imports: []string{"fmt", module + "/proto/line"}},
		module + "/proto/line":  {ImportPath: module + "/proto/line", Imports: []string{"example.com/heavy"}},
		"example.com/heavy":     {ImportPath: "example.com/heavy", DepOnly: true},
		"fmt":                   {ImportPath: "fmt", Standard: true, DepOnly: true},
		module + "/engine/x":    {ImportPath: module + "/engine/x", Imports: []string{"golang.org/x/sys/unix", module + "/server"}},
		"golang.org/x/sys/unix": {ImportPath: "golang.org/x/sys/unix", DepOnly: true},
	}
	broken, _ := checkDeps(pkgs)
	want := []string{
		rules[2].name + ", but " + module + "/engine/x -> " + module + "/server -> " + module + "/proto/line -> example.com/heavy",
		rules[0].name + ", but " + module + "/proto/line -> example.com/heavy",
		rules[1].name + ", but " + module + "/server -> " + module + "/proto/line -> example.com/heavy",
	}
	if !slices.Equal(broken, want) {
		t.Errorf("broken:\n%s\nwant:\n%s", strings.Join(broken, "\n"), strings.Join(want, "\n"))
	}
	pkgs[module+"/proto/line"].Imports = []string{"golang.org/x/sys/unix"}
	broken, _ = checkDeps(pkgs)
	want = []string{rules[0].name + ", but " + module + "/proto/line -> golang.org/x/sys/unix"}
	if !slices.Equal(broken, want) {
		t.Errorf("with x/sys in a protocol, broken:\n%s\nwant:\n%s", strings.Join(broken, "\n"), strings.Join(want, "\n"))
	}
}
