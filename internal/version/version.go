// Package version owns the text of -version: module version, VCS state
// and Go version, read from the build information.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// String is the text of -version for the program name: the main module's
// version and the VCS revision, time and modified flag that the go command
// records from the git checkout it builds in (go build -buildvcs, the
// default there), then the Go version. What is unknown (a build outside a
// checkout, -buildvcs=false) says so rather than being left out, so that
// an administrator comparing two machines sees the difference.
func String(name string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("%s (no build information)\ngo       %s %s/%s\n", name, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", name, orUnknown(info.Main.Version))
	fmt.Fprintf(&b, "module   %s\n", orUnknown(info.Main.Path))
	fmt.Fprintf(&b, "revision %s\n", orUnknown(settings["vcs.revision"]))
	fmt.Fprintf(&b, "time     %s\n", orUnknown(settings["vcs.time"]))
	fmt.Fprintf(&b, "modified %s\n", orUnknown(settings["vcs.modified"]))
	fmt.Fprintf(&b, "go       %s %s/%s\n", info.GoVersion, runtime.GOOS, runtime.GOARCH)
	// A deliver built without SQL drivers behaves differently (SPEC, README).
	if tags := settings["-tags"]; tags != "" {
		fmt.Fprintf(&b, "tags     %s\n", tags)
	}
	fmt.Fprintf(&b, "cgo      %s\n", orUnknown(settings["CGO_ENABLED"]))
	return b.String()
}
