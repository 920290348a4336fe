package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/template"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// outcomeWriter records outcomes in the ledger by group commit: one goroutine writes whatever
// has queued while its previous write ran, in one transaction, so that many connections can
// each wait for their message's record without a transaction per message. Another goroutine
// moves the outcomes' events into the store's events every few thousand outcomes, and the
// writer once more when it stops (see store.FlushDeliveryEvents).
type outcomeWriter struct {
	st     store.Store
	failed func(error)
	queue  chan queuedOutcome
	done   chan struct{}

	// sending counts the messages handed to a provider whose outcomes are not queued yet.
	sending atomic.Int64

	mu       sync.Mutex
	firstErr error
	// inFlight counts outcomes queued and not yet written, for flush.
	inFlight sync.WaitGroup

	// unflushed counts the outcomes written since the events were last flushed, at lastFlush;
	// moveEvents asks the flusher to move them, flusherDone says it has stopped.
	unflushed   int
	lastFlush   time.Time
	moveEvents  chan struct{}
	flusherDone chan struct{}
}

type queuedOutcome struct {
	out store.Outcome
	// written receives the write's result; nil for outcomes nobody waits for.
	written chan error
}

// newOutcomeWriter starts a writer of outcomes into st; failed is called with the first write
// that fails for good.
func newOutcomeWriter(st store.Store, failed func(error)) *outcomeWriter {
	w := &outcomeWriter{st: st, failed: failed, queue: make(chan queuedOutcome, 4096), done: make(chan struct{}), lastFlush: time.Now(),
		moveEvents: make(chan struct{}, 1), flusherDone: make(chan struct{})}
	go w.loop()
	go w.flusher()
	return w
}

// add queues an outcome; written, when not nil, receives the result of its write.
func (w *outcomeWriter) add(out store.Outcome, written chan error) {
	w.inFlight.Add(1)
	w.queue <- queuedOutcome{out: out, written: written}
}

// sendStarted tells the writer a message is on its way, and that its outcome will follow.
func (w *outcomeWriter) sendStarted() { w.sending.Add(1) }

// addSent queues the outcome of a message sendStarted announced, and returns the channel that
// receives the result of its write: nil, once the outcome is durable.
func (w *outcomeWriter) addSent(out store.Outcome) <-chan error {
	written := make(chan error, 1)
	w.add(out, written)
	// Queued first, then no longer sending: the writer never finds neither.
	w.sending.Add(-1)
	return written
}

// flush waits until every queued outcome is written, and returns the first error.
func (w *outcomeWriter) flush() error {
	w.inFlight.Wait()
	return w.err()
}

func (w *outcomeWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstErr
}

func (w *outcomeWriter) close() {
	close(w.queue)
	<-w.done
}

// maxOutcomesPerWrite bounds one transaction, and maxGroupWait how long the writer waits for the
// outcomes of messages still being sent before it commits those it has.
const (
	maxOutcomesPerWrite = 2000
	maxGroupWait        = 2 * time.Millisecond
)

// The outcomes' events move into the events every flushEventsAfter outcomes, or after
// flushEventsEvery when fewer come: in transactions of a thousand, each page of the events'
// indexes is written once for many events, not once per group commit.
const (
	flushEventsAfter = 5000
	flushEventsEvery = 5 * time.Second
)

func (w *outcomeWriter) loop() {
	defer close(w.done)
	defer func() {
		// The events of the last outcomes move before the run returns.
		close(w.moveEvents)
		<-w.flusherDone
		// Once more in any case: a flush the flusher could not finish is not lost on the way
		// out, and with nothing pending this is one read.
		w.flushEvents()
	}()
	var wait *time.Timer
	for first := range w.queue {
		batch := []queuedOutcome{first}
		waitUntil := time.Now().Add(maxGroupWait)
	collect:
		for len(batch) < maxOutcomesPerWrite {
			select {
			case q, ok := <-w.queue:
				if !ok {
					break collect
				}
				batch = append(batch, q)
				continue
			default:
			}
			// Nothing more is queued. While messages are still on their way, their outcomes
			// are worth a short wait: a commit costs about as much for one outcome as for a
			// hundred, and the connections that sent them wait for it anyway.
			left := time.Until(waitUntil)
			if w.sending.Load() == 0 || left <= 0 {
				break
			}
			if wait == nil {
				wait = time.NewTimer(left)
			} else {
				wait.Reset(left)
			}
			select {
			case q, ok := <-w.queue:
				wait.Stop()
				if !ok {
					break collect
				}
				batch = append(batch, q)
			case <-wait.C:
				break collect
			}
		}
		outs := make([]store.Outcome, len(batch))
		for i, q := range batch {
			outs[i] = q.out
		}
		err := w.write(outs)
		for _, q := range batch {
			if q.written != nil {
				q.written <- err
			}
			w.inFlight.Done()
		}
		w.unflushed += len(outs)
		if w.unflushed >= flushEventsAfter || time.Since(w.lastFlush) >= flushEventsEvery {
			// The flusher moves them in transactions of its own, between the outcomes' commits:
			// the connections waiting for their records do not wait for the events too.
			select {
			case w.moveEvents <- struct{}{}:
			default: // a flush is asked for already, and moves these too
			}
			w.unflushed, w.lastFlush = 0, time.Now()
		}
	}
}

// flusher flushes the events each time the writer asks, until it closes moveEvents.
func (w *outcomeWriter) flusher() {
	defer close(w.flusherDone)
	for range w.moveEvents {
		w.flushEvents()
	}
}

// flushEvents moves the events of the outcomes written into the store's events. A flush that
// fails leaves them pending, for the next flush of this worker or of anything that reads them.
func (w *outcomeWriter) flushEvents() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = w.st.FlushDeliveryEvents(ctx)
}

// write records a batch, retrying a failed write a few times: the database may be restarting.
// An outcome that never gets written leaves its row pending, and the next worker of the shard
// sends it again: that is the at-least-once side of the ledger. A worker whose shard another
// took over does not retry: it stops.
func (w *outcomeWriter) write(outs []store.Outcome) error {
	var err error
	for attempt := range 5 {
		if errors.Is(err, store.ErrNotShardOwner) {
			break
		}
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		// The write is not tied to the run's context: outcomes of messages already sent must
		// be recorded even while the run stops.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = w.st.RecordOutcomes(ctx, outs)
		cancel()
		if err == nil {
			return nil
		}
	}
	err = fmt.Errorf("record %d outcomes: %w", len(outs), err)
	w.mu.Lock()
	first := w.firstErr == nil
	if first {
		w.firstErr = err
	}
	w.mu.Unlock()
	if first && w.failed != nil {
		w.failed(err)
	}
	return err
}

// stepTemplates are a campaign's parsed templates, by step, message and variant.
type stepTemplates map[templateKey]parsedTemplate

type templateKey struct {
	step, message int
	variant       string
}

type parsedTemplate struct {
	message  *template.Message
	required []cdpv1alpha1.AttributeName
}

// get returns the template of a variant, or the message's own when the variant has none.
func (t stepTemplates) get(step, message int, variant string) parsedTemplate {
	if p, ok := t[templateKey{step, message, variant}]; ok {
		return p
	}
	return t[templateKey{step, message, ""}]
}

func parseStepTemplates(camp *cdpv1alpha1.Campaign) (stepTemplates, error) {
	out := stepTemplates{}
	parse := func(key templateKey, where string, mt cdpv1alpha1.MessageTemplate) error {
		m, err := template.Parse(template.Parts{Subject: mt.Subject, Text: mt.Text, HTML: mt.HTML, Payload: mt.Payload})
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		out[key] = parsedTemplate{message: m, required: mt.RequiredAttributes}
		return nil
	}
	for i, step := range camp.Spec.Steps {
		for j, m := range step.Messages {
			where := fmt.Sprintf("spec.steps[%d].messages[%d].template", i, j)
			if err := parse(templateKey{i, j, ""}, where, m.Template); err != nil {
				return nil, err
			}
			for _, v := range m.Variants {
				if err := parse(templateKey{i, j, v.Name}, where+" of variant "+v.Name, v.Template); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}
