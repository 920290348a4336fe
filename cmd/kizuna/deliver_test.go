package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// A worker exits successfully when another took its shard over, and only then.
func TestTakenOverIsTheOnlyErrorThatSucceeds(t *testing.T) {
	takeover := fmt.Errorf("record 3 outcomes: %w", store.ErrNotShardOwner)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the takeover", takeover, true},
		{"the takeover, seen by the reader and the writer", errors.Join(takeover, takeover), true},
		{"the takeover and a refused credential", errors.Join(takeover, errors.New("channel mail refused its credentials")), false},
		{"the takeover and a database down, wrapped", fmt.Errorf("deliver run r1: %w",
			errors.Join(takeover, errors.New("read due deliveries: connection refused"))), false},
		{"the takeover, wrapped", fmt.Errorf("deliver run r1: %w", errors.Join(takeover, takeover)), true},
		{"another error", errors.New("the store is down"), false},
		{"no error", nil, false},
	} {
		if got := takenOver(tc.err); got != tc.want {
			t.Errorf("%s: takenOver = %v, want %v", tc.name, got, tc.want)
		}
	}
}
