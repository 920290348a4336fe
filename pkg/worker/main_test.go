package worker

import (
	"fmt"
	"os"
	"testing"

	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// pg is a real PostgreSQL server: resolution runs against both stores.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if pg, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = pg.Stop() }()
	return m.Run()
}
