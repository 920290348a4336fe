package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// pg is a real PostgreSQL server: resolution runs against both stores.
var pg *pgtest.Server

// crashWorkerEnv makes the test binary a delivery worker, as `kizuna worker deliver` is, for
// the test that kills workers (TestCampaignSurvivesKills).
const crashWorkerEnv = "KIZUNA_TEST_DELIVERY_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(crashWorkerEnv) != "" {
		os.Exit(runDeliveryWorker())
	}
	pgtest.Main(m, &pg)
}

// runDeliveryWorker delivers shard 0 of the run in EnvCampaign.
func runDeliveryWorker() int {
	ctx := context.Background()
	var p CampaignPayload
	if err := json.Unmarshal([]byte(os.Getenv(EnvCampaign)), &p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	st, err := store.Open(ctx, os.Getenv(EnvStoreDSN))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer func() { _ = st.Close() }()
	if _, err := DeliverRun(ctx, st, &p, MapCredentials{}, DeliveryOptions{Worker: fmt.Sprintf("worker/%d", os.Getpid())}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
