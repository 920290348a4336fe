// Command kizuna is Kizuna's one binary: the operator's manager, the workers its Jobs run, the
// HTTP server, and local commands that run the same code without a cluster.
package main

import (
	"os"

	// Time zones are embedded, so that quiet hours and schedules work in images without tzdata.
	_ "time/tzdata"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
