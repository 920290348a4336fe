package worker

import (
	"testing"

	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// pg is a real PostgreSQL server: resolution runs against both stores.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }
