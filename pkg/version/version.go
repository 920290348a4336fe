// Package version holds the build's version, set at link time with
// -ldflags "-X github.com/kizuna-dev/kizuna/pkg/version.Version=v0.1.0".
package version

import "runtime/debug"

// Version of the build; "dev" when not stamped.
var Version = "dev"

// Commit returns the VCS revision the binary was built from, when Go recorded it.
func Commit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return "unknown"
}
