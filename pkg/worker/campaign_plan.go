package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/policy"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Trigger names, as a run records them.
const (
	TriggerOnce         = "once"
	TriggerSchedule     = "schedule"
	TriggerSegmentEntry = "segmentEntry"
	TriggerEvent        = "event"
)

// CampaignRun identifies one run of a campaign: its name (also its Job's) and the time it was
// due, from which its steps' delays count.
type CampaignRun struct {
	Namespace, Campaign, Run string
	Trigger                  string
	ScheduledAt              time.Time
	// EnteredAfter, for a segment-entry run, is the previous run's time: the run is for the
	// profiles that entered an included segment after it and are still members.
	EnteredAfter time.Time
	// ReceivedAfter and ReceivedThrough, for an event run, are its window: the run is for the
	// audience members who performed the trigger's event among the events the store received
	// after the one, up to and including the other (ScheduledAt when zero). A zero
	// ReceivedAfter reads every event received up to ReceivedThrough.
	ReceivedAfter, ReceivedThrough time.Time
	// Shards is how many workers deliver the run, each the profiles of its shard.
	Shards int
}

// PlanCampaignRun writes the ledger of a run before anything is sent: one row per recipient
// and step, each assigned its variant (or the holdout) and its shard. Every worker of the run
// calls it first: the store plans a run once, and the others find it planned.
func PlanCampaignRun(ctx context.Context, st store.Store, p *CampaignPayload) (int64, error) {
	camp, run := p.Campaign, p.Run
	if existing, err := st.DeliveryRun(ctx, run.Namespace, run.Campaign, run.Run); err == nil && !existing.PlannedAt.IsZero() {
		return 0, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("read run %s: %w", run.Run, err)
	}
	recipients, err := audience(ctx, st, p)
	if err != nil {
		return 0, err
	}
	recipients, err = withoutEarlierRecipients(ctx, st, camp, run, recipients)
	if err != nil {
		return 0, err
	}
	shards := max(run.Shards, 1)
	notBefore := stepTimes(camp, run.ScheduledAt)
	purpose := camp.Spec.Purpose
	if purpose == "" {
		purpose = cdpv1alpha1.PurposeMarketing
	}
	rows := func(yield func(store.PlannedDelivery) bool) {
		for _, profileID := range recipients {
			variant, holdout := policy.Assign(camp.Name, profileID, camp.Spec.Experiment)
			state := store.DeliveryPending
			if holdout {
				state = store.DeliveryHoldout
			}
			for i, step := range camp.Spec.Steps {
				row := store.PlannedDelivery{
					ProfileID: profileID, Step: step.Name, Shard: policy.Shard(profileID, shards),
					Variant: variant, Purpose: string(purpose), State: state, NotBefore: notBefore[i],
				}
				if !yield(row) {
					return
				}
			}
		}
	}
	planned, err := st.PlanDeliveryRun(ctx, store.DeliveryRun{
		Namespace: run.Namespace, Campaign: run.Campaign, Run: run.Run, Trigger: run.Trigger,
		ScheduledAt: run.ScheduledAt, Shards: shards,
	}, rows)
	if errors.Is(err, store.ErrRunFinished) {
		// Another worker of the run planned it first.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("plan run %s: %w", run.Run, err)
	}
	return planned, nil
}

// stepTimes returns when each step may be sent: the run's time plus the delays of the steps up
// to and including it. An event trigger's delay has passed already: its run reads the events
// received at least that long before it (see EventWindow).
func stepTimes(camp *cdpv1alpha1.Campaign, scheduledAt time.Time) []time.Time {
	times := make([]time.Time, len(camp.Spec.Steps))
	at := scheduledAt
	for i, step := range camp.Spec.Steps {
		if step.Delay != nil {
			if d, err := step.Delay.Parse(); err == nil {
				at = at.Add(d)
			}
		}
		times[i] = at
	}
	return times
}

// audience returns the run's recipients in profile ID order: the members of the included
// segments (for a segment-entry run, those who entered since the last run; for an event run,
// those who performed the event) minus the members of the excluded ones.
func audience(ctx context.Context, st store.Store, p *CampaignPayload) ([]string, error) {
	camp, run := p.Campaign, p.Run
	var performed map[string]bool
	if run.Trigger == TriggerEvent {
		var err error
		if performed, err = eventPerformers(ctx, st, p); err != nil {
			return nil, err
		}
	}
	in := map[string]bool{}
	for _, ref := range camp.Spec.Audience.Include {
		if run.Trigger == TriggerSegmentEntry {
			if err := addEntrants(ctx, st, run, ref.Name, in); err != nil {
				return nil, err
			}
			continue
		}
		members, err := st.SegmentMembers(ctx, run.Namespace, ref.Name, 0)
		if err != nil {
			return nil, fmt.Errorf("read the members of segment %s: %w", ref.Name, err)
		}
		for _, m := range members {
			if performed == nil || performed[m.ProfileID] {
				in[m.ProfileID] = true
			}
		}
	}
	for _, ref := range camp.Spec.Audience.Exclude {
		members, err := st.SegmentMembers(ctx, run.Namespace, ref.Name, 0)
		if err != nil {
			return nil, fmt.Errorf("read the members of segment %s: %w", ref.Name, err)
		}
		for _, m := range members {
			delete(in, m.ProfileID)
		}
	}
	ids := make([]string, 0, len(in))
	for id := range in {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// addEntrants adds to in the members of a segment who entered it after run.EnteredAfter and are
// members still. The segment's history says both: an exit after the entry is in it too. Only
// the evaluations since the previous run are read, not the whole history nor the whole
// membership, which both grow with the segment.
func addEntrants(ctx context.Context, st store.Store, run CampaignRun, segment string, in map[string]bool) error {
	since, err := lastEvaluationBefore(ctx, st, run.Namespace, segment, run.EnteredAfter)
	if err != nil {
		return err
	}
	history, err := st.SegmentHistory(ctx, run.Namespace, segment, since)
	if err != nil {
		return fmt.Errorf("read the history of segment %s: %w", segment, err)
	}
	// The history comes in the order of the evaluations: a profile's last change says whether
	// it is a member now.
	entered := map[string]bool{}
	for _, h := range history {
		switch {
		case h.Change == store.SegmentEntered && h.At.After(run.EnteredAfter):
			entered[h.ProfileID] = true
		case h.Change == store.SegmentExited:
			delete(entered, h.ProfileID)
		}
	}
	for id := range entered {
		in[id] = true
	}
	return nil
}

// WindowStart is where the window of a campaign's next segment-entry or event run starts: the
// time of the latest run the store has planned, or since (the campaign's creation) when it has
// planned none. A run whose Job failed before it planned (the store out of reach for every
// retry) thus leaves its window to the next run, which reads it whole instead of losing it; the
// next run's planning leaves out whom an earlier run reached, so nobody gets two messages.
func WindowStart(ctx context.Context, st store.Store, camp *cdpv1alpha1.Campaign, since time.Time) (time.Time, error) {
	// The newest runs come first; a handful holds the latest planned one unless as many Jobs in a
	// row failed, and then the window reaches back to the creation, which loses nothing either.
	runs, err := st.DeliveryRuns(ctx, camp.Namespace, camp.Name, 16)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the campaign's runs: %w", err)
	}
	start := since
	for _, r := range runs {
		if !r.PlannedAt.IsZero() && r.ScheduledAt.After(start) {
			start = r.ScheduledAt
		}
	}
	return start, nil
}

// ProfilesEntered tells whether any profile entered one of the campaign's included segments
// after after, counting entries as a segment-entry run does (see audience), though not whether
// those who entered are still members or excluded: the manager asks it before it starts a run,
// so that a check that finds nobody new starts no Job.
//
// It reads the segments' evaluations, newest first, down to the first that finished at or
// before after: an evaluation counts its entries, and the history stamps each of them with its
// finish time, so this is the history's answer from a few rows. The history itself would return
// every entry and exit since, thousands after a resolution's first publish; the Segment's status
// has only the latest evaluation's count, and a later evaluation that found nobody new would
// hide an earlier one that did.
func ProfilesEntered(ctx context.Context, st store.Store, camp *cdpv1alpha1.Campaign, after time.Time) (bool, error) {
	for _, ref := range camp.Spec.Audience.Include {
		entered, err := segmentEntered(ctx, st, camp.Namespace, ref.Name, after)
		if err != nil || entered {
			return entered, err
		}
	}
	return false, nil
}

// segmentEntered tells whether an evaluation of a segment that finished after after found
// profiles that entered it.
func segmentEntered(ctx context.Context, st store.Store, namespace, segment string, after time.Time) (bool, error) {
	entered := false
	err := newestEvaluations(ctx, st, namespace, segment, func(e store.SegmentEvaluationResult) bool {
		entered = e.FinishedAt.After(after) && e.Entered > 0
		return !entered && e.FinishedAt.After(after)
	})
	return entered, err
}

// lastEvaluationBefore returns the number of an evaluation of a segment that finished before t,
// or 0 when none did: the history after it holds every entry after t. It is the one before the
// latest that finished at or before t, in case two evaluations' clocks disagreed by a little.
func lastEvaluationBefore(ctx context.Context, st store.Store, namespace, segment string, t time.Time) (int64, error) {
	var last int64
	err := newestEvaluations(ctx, st, namespace, segment, func(e store.SegmentEvaluationResult) bool {
		if !e.FinishedAt.After(t) {
			last = e.Evaluation - 1
			return false
		}
		return true
	})
	return max(last, 0), err
}

// newestEvaluations passes a segment's evaluations to fn, newest first, until fn returns false
// or none is left. It reads them in pages of growing size: a check usually needs one or two.
// Evaluations of a segment take turns under its lock, so their finish times grow with their
// numbers.
func newestEvaluations(ctx context.Context, st store.Store, namespace, segment string, fn func(store.SegmentEvaluationResult) bool) error {
	seen := 0
	for limit := 4; ; limit *= 4 {
		evaluations, err := st.SegmentEvaluations(ctx, namespace, segment, limit)
		if err != nil {
			return fmt.Errorf("read the evaluations of segment %s: %w", segment, err)
		}
		for _, e := range evaluations[min(seen, len(evaluations)):] {
			if !fn(e) {
				return nil
			}
		}
		if len(evaluations) < limit {
			return nil
		}
		seen = len(evaluations)
	}
}

// withoutEarlierRecipients drops the profiles that an earlier run of the campaign already
// reached (or is about to), unless spec.reEligibleAfter has passed since: a daily run over
// "birthday this month" greets each customer once. A profile whose earlier message was
// suppressed, capped or failed may receive it now.
func withoutEarlierRecipients(ctx context.Context, st store.Store, camp *cdpv1alpha1.Campaign, run CampaignRun, ids []string) ([]string, error) {
	var reEligible time.Duration
	if camp.Spec.ReEligibleAfter != nil {
		d, err := camp.Spec.ReEligibleAfter.Parse()
		if err != nil {
			return nil, fmt.Errorf("spec.reEligibleAfter: %w", err)
		}
		reEligible = d
	}
	// Without reEligibleAfter, a run reached its profiles for good, whenever it was scheduled.
	var after time.Time
	if reEligible > 0 {
		after = run.ScheduledAt.Add(-reEligible)
	}
	reached, err := st.ReachedProfiles(ctx, run.Namespace, run.Campaign, run.Run, after, ids)
	if err != nil {
		return nil, err
	}
	if len(reached) == 0 {
		return ids, nil
	}
	return slices.DeleteFunc(ids, func(id string) bool { return reached[id] }), nil
}
