package ingest

import (
	"testing"

	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// pg is a real PostgreSQL server for the tests of PostgresSource.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }
