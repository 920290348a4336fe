package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/segment"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// A campaign triggered by an event runs every checkEvery for the audience members who
// performed the event among those the store received in the run's window: since the previous
// run's window, up to the trigger's delay before the run. The window is of receipt
// (received_at), not of occurrence: an event that arrives late, with a time long past, is
// received after the previous window, so the next run sees it, and no event is seen by two
// runs. The trigger's where is compiled by pkg/segment, as a segment's event condition's where
// is.

// eventPerformers returns the profiles that performed the trigger's event among the events the
// store received in the run's window. It first links the identifiers of the events received
// since the last link to the resolution's profiles, as an evaluation of a segment does: a
// customer whose address appears in an event for the first time would otherwise be missed
// until the next evaluation of some segment.
func eventPerformers(ctx context.Context, st store.Store, p *CampaignPayload) (map[string]bool, error) {
	camp, run := p.Campaign, p.Run
	if camp.Spec.Trigger.Event == nil {
		return nil, fmt.Errorf("run %s is a run of an event trigger, but the campaign's spec.trigger.event is not set", run.Run)
	}
	if p.Events == nil || p.Events.IdentityResolution == nil {
		return nil, fmt.Errorf("run %s of an event trigger needs the IdentityResolution %s in its payload, to link new events to profiles", run.Run, p.Resolution)
	}
	cfg, err := ResolveConfig(p.Events.IdentityResolution)
	if err != nil {
		return nil, fmt.Errorf("IdentityResolution %s: %w", p.Events.IdentityResolution.Name, err)
	}
	state, err := st.ResolutionState(ctx, run.Namespace, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("read the published generation: %w", err)
	}
	if state.PublishedGeneration == 0 {
		return nil, fmt.Errorf("IdentityResolution %s has published no profiles yet", cfg.Name)
	}
	if err := LinkEvents(ctx, st, cfg, state.PublishedGeneration); err != nil {
		return nil, err
	}
	through := run.ReceivedThrough
	if through.IsZero() {
		through = run.ScheduledAt
	}
	o := eventOccurrences(camp, run.ReceivedAfter, through)
	q, err := segment.CompileOccurrences(o, eventOptions(st, camp, cfg.Name, p.Events.Properties, run.ScheduledAt))
	if err != nil {
		return nil, err
	}
	performed := map[string]bool{}
	if err := st.QueryProfiles(ctx, q.SQL, q.Args, func(id string) error {
		performed[id] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("find who performed %s: %w", o.EventType, err)
	}
	return performed, nil
}

// EventSettle is how long before a check a run's window ends, besides the trigger's delay. An
// event is stamped with its receipt time before its transaction commits (a delivery's outcome,
// a click): one stamped just before a check could commit just after the run read its window, and
// the next window starts after it. Ending each window a few seconds early loses nothing, since
// the next one starts where it ended; the events are only read a check later.
const EventSettle = 5 * time.Second

// EventWindow returns the window of receipt of an event run due at due: the events received
// after the window of the previous run (due at previous; zero when there was none) and after
// since, up to the trigger's delay before due. A run thus reads the audience once the delay
// has passed: a customer who completed the purchase in the meantime has left it, or joined an
// excluded segment, and every row of a run comes due together. The window is empty (through
// not after after) while the first delay has not passed.
func EventWindow(e *cdpv1alpha1.EventTrigger, since, previous, due time.Time) (after, through time.Time) {
	delay := EventSettle
	if e.Delay != nil {
		if d, err := e.Delay.Parse(); err == nil {
			delay += d
		}
	}
	after = since
	if !previous.IsZero() && previous.Add(-delay).After(since) {
		after = previous.Add(-delay)
	}
	return after, due.Add(-delay)
}

// EventsArrived tells whether any event of the campaign's trigger, passing its where, was
// received after after and up to through, whoever performed it. It reads one row of an index,
// and no identity links: the manager asks it before it starts a run, so that a check that
// finds nothing new starts no Job.
func EventsArrived(ctx context.Context, st store.Store, camp *cdpv1alpha1.Campaign, resolution string,
	properties map[string]cdpv1alpha1.AttributeType, after, through time.Time) (bool, error) {
	// A trigger may be a campaign's own event (message_sent of another campaign): those a
	// worker recorded and has not moved yet, having crashed, move now. Nothing pending costs one
	// read.
	if _, err := st.FlushDeliveryEvents(ctx); err != nil {
		return false, err
	}
	q, err := segment.CompileArrivals(eventOccurrences(camp, after, through), eventOptions(st, camp, resolution, properties, through))
	if err != nil {
		return false, err
	}
	errArrived := errors.New("arrived")
	err = st.QueryProfiles(ctx, q.SQL, q.Args, func(string) error { return errArrived })
	if errors.Is(err, errArrived) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for new %s events: %w", camp.Spec.Trigger.Event.Type, err)
	}
	return false, nil
}

// CheckEventTrigger compiles the campaign's event trigger against the event properties that the
// namespace's Events DataSources declare; the error names the field and says what to change.
func CheckEventTrigger(camp *cdpv1alpha1.Campaign, resolution string, properties map[string]cdpv1alpha1.AttributeType) error {
	// Whether the test compiles does not depend on when: any fixed time will do, and keeps the
	// check a pure function of the spec.
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := segment.CompileArrivals(eventOccurrences(camp, time.Time{}, now),
		eventOptions(nil, camp, resolution, properties, now))
	return err
}

// eventOccurrences is the trigger's test of the events received in (after, through].
func eventOccurrences(camp *cdpv1alpha1.Campaign, after, through time.Time) segment.Occurrences {
	e := camp.Spec.Trigger.Event
	return segment.Occurrences{
		EventType: string(e.Type), Where: e.Where, ReceivedAfter: after, ReceivedThrough: through,
		Field: "spec.trigger.event",
	}
}

// eventOptions are the segment options of a trigger's test: the store's dialect (SQLite when
// st is nil), and the run's time as the clock of where's time operators. Dates in where are
// read in UTC.
func eventOptions(st store.Store, camp *cdpv1alpha1.Campaign, resolution string, properties map[string]cdpv1alpha1.AttributeType, now time.Time) segment.Options {
	dialect := segment.SQLite
	if st != nil && st.Dialect() == store.DialectPostgres {
		dialect = segment.PostgreSQL
	}
	return segment.Options{
		Dialect: dialect, Namespace: camp.Namespace, Resolution: resolution, Now: now, Location: time.UTC,
		EventProperties: properties,
	}
}
