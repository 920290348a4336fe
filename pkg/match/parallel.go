package match

import (
	"context"
	"sync"
	"sync/atomic"
)

// forEach runs fn(i) for i in [0, n) on workers goroutines; newWorker makes each goroutine's
// fn, so it can own scratch buffers. It stops early when ctx is cancelled.
func forEach(ctx context.Context, workers, n int, newWorker func() func(i int)) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			fn := newWorker()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}
