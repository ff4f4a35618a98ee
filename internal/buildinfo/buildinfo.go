// Package buildinfo reports which saaskit this is.
package buildinfo

import "runtime/debug"

// version is set at release time with
// -ldflags "-X github.com/saaskit/saaskit/internal/buildinfo.version=v1.2.3".
var version string

// Version returns the kit's version: the release's ldflags, else the module
// version `go install ...@vX` recorded, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "devel"
}
