// Package version is the build's version, stamped by the image build
// (deploy/image/build.sh: -ldflags -X …/internal/version.Version=$(git describe)).
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is what `git describe` said when the binary was built for a
// release or an image; empty in a plain `go build`, where String falls back
// to the module and VCS data the Go toolchain records.
var Version string

// String returns the version with the Go release that built it, for
// `controlplane version` and `gateway version`.
func String() string {
	v := Version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 && v == "devel" {
					v = "devel-" + s.Value[:12]
				}
			}
		}
	}
	return v + " (" + runtime.Version() + ")"
}
