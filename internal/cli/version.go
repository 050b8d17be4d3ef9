package cli

import (
	"runtime/debug"
	"strings"
)

// version says which build this is: the module's version and the VCS
// revision it was built from, as the Go toolchain recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "portside (no build information)"
	}
	return formatVersion(bi)
}

// formatVersion says it from bi: "portside VERSION revision REV TIME GO".
// The revision is there when the toolchain could stamp it (go build in a
// git checkout; not go run, nor -buildvcs=false).
func formatVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	parts := []string{"portside", v}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (modified)"
			}
		}
	}
	if rev != "" {
		parts = append(parts, "revision "+rev+dirty)
	}
	if at != "" {
		parts = append(parts, at)
	}
	parts = append(parts, bi.GoVersion)
	return strings.Join(parts, " ")
}
