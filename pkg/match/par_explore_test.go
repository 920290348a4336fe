package match_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/match/synth"
)

func TestExploreParallel(t *testing.T) {
	if os.Getenv("PAR") == "" {
		t.Skip()
	}
	data := synth.Generate(synth.Config{Records: 1000000, Seed: 1})
	d := &match.Dataset{N: data.N, Fields: data.Fields}
	for _, w := range []int{1, 2, 1, 2} {
		cfg := FEBRLConfig()
		cfg.Workers = w
		c0 := cpuTime()
		res, err := match.Link(context.Background(), d, cfg)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("workers %d: cpu %.2fs %+v\n", w, (cpuTime() - c0).Seconds(), res.Timings)
	}
}
