package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// Segments are evaluated in the manager, not in Jobs. An evaluation is one query and one diff
// that the database runs: the manager only waits for it, and a Job would add a Pod's start, seconds,
// to every evaluation of every segment, where a behavioural audience should follow its events
// within moments. The one part that works in Go, linking new event identifiers to profiles,
// touches only identifiers new since the last evaluation, or all of them once per publication.

// evaluateIfDue evaluates the segment when something it depends on changed, and reports when
// it should be looked at again (its next scheduled time).
func (r *segmentReconciler) evaluateIfDue(ctx context.Context, seg *cdpv1alpha1.Segment, ready bool) (ctrl.Result, error) {
	now := r.clock.Now()
	if !ready {
		setCondition(&seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated, metav1.ConditionFalse, cdpv1alpha1.ReasonSegmentNotReady,
			"The segment is not Ready: see the Ready condition.", seg.Generation, now)
		return ctrl.Result{}, nil
	}
	var idr cdpv1alpha1.IdentityResolution
	if err := r.Get(ctx, client.ObjectKey{Namespace: seg.Namespace, Name: seg.Spec.ResolutionRef.Name}, &idr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if idr.Status.PublishedGeneration == 0 {
		setCondition(&seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated, metav1.ConditionFalse, cdpv1alpha1.ReasonWaitingForProfiles,
			fmt.Sprintf("IdentityResolution %s has published no profiles yet.", idr.Name), seg.Generation, now)
		return ctrl.Result{}, nil
	}
	var sources cdpv1alpha1.DataSourceList
	if err := r.List(ctx, &sources, client.InNamespace(seg.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list data sources: %w", err)
	}
	var segments cdpv1alpha1.SegmentList
	if err := r.List(ctx, &segments, client.InNamespace(seg.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list segments: %w", err)
	}
	if waiting := unevaluatedReference(seg, segments.Items, idr.Status.PublishedGeneration); waiting != "" {
		setCondition(&seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated, metav1.ConditionFalse, cdpv1alpha1.ReasonWaitingForSegments,
			fmt.Sprintf("Segment %s has not been evaluated on generation %d of IdentityResolution %s yet.",
				waiting, idr.Status.PublishedGeneration, idr.Name), seg.Generation, now)
		return ctrl.Result{}, nil // its evaluation enqueues this segment
	}
	var result ctrl.Result
	sched := scheduleOf(seg)
	if sched != nil {
		result.RequeueAfter = sched.Next(now).Sub(now)
	}
	due := func(s *cdpv1alpha1.Segment) string {
		return evaluationDue(s, &idr, sources.Items, segments.Items, scheduleOf(s), now)
	}
	if dueReference(seg, segments.Items, due) {
		// A segment this one reads is about to change: evaluating now would record entries
		// and exits that the next evaluation takes back. Its status update enqueues this one.
		return ctrl.Result{RequeueAfter: eventsSettle}, nil
	}
	why := due(seg)
	if why == "" {
		return result, nil
	}
	if why == reasonNewEvents || why == reasonReferenceChanged {
		// evaluationDue gives these reasons only after an evaluation: LastEvaluationTime is set.
		if since := now.Sub(seg.Status.LastEvaluationTime.Time); since < eventsSettle {
			return ctrl.Result{RequeueAfter: eventsSettle - since}, nil
		}
	}

	cfg, err := worker.ResolveConfig(&idr)
	if err != nil {
		return result, nil // the resolution reports its own spec
	}
	ptrs := make([]*cdpv1alpha1.DataSource, len(sources.Items))
	for i := range sources.Items {
		ptrs[i] = &sources.Items[i]
	}
	res, err := worker.EvaluateSegment(ctx, r.store, seg, cfg, worker.DeclaredFields(&idr, ptrs), worker.SegmentOptions{Now: r.clock.Now})
	if err != nil {
		setCondition(&seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated, metav1.ConditionFalse, cdpv1alpha1.ReasonEvaluationFailed,
			fmt.Sprintf("Evaluation failed: %v", err), seg.Generation, now)
		// Retried with backoff: a failure may be the database's, and pass.
		return ctrl.Result{}, fmt.Errorf("evaluate segment %s/%s: %w", seg.Namespace, seg.Name, err)
	}
	st := &seg.Status
	st.Size, st.Entered, st.Exited = res.Size, res.Entered, res.Exited
	st.LastEvaluationTime = &metav1.Time{Time: res.FinishedAt}
	st.LastEvaluationDuration = &metav1.Duration{Duration: res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond)}
	st.EvaluatedResolutionGeneration = res.ResolutionGeneration
	setCondition(&st.Conditions, cdpv1alpha1.ConditionEvaluated, metav1.ConditionTrue, cdpv1alpha1.ReasonEvaluated,
		fmt.Sprintf("Evaluation %d: %d members, %d entered, %d exited.", res.Evaluation, res.Size, res.Entered, res.Exited),
		seg.Generation, now)
	return result, nil
}

// unevaluatedReference names a segment the rule refers to whose latest evaluation did not
// succeed on the given resolution generation, or returns "" when there is none.
func unevaluatedReference(seg *cdpv1alpha1.Segment, segments []cdpv1alpha1.Segment, generation int64) string {
	for _, name := range seg.Spec.Rule.ReferencedSegments() {
		i := slices.IndexFunc(segments, func(s cdpv1alpha1.Segment) bool { return s.Name == name })
		if i < 0 {
			return name
		}
		other := &segments[i]
		evaluated := meta.FindStatusCondition(other.Status.Conditions, cdpv1alpha1.ConditionEvaluated)
		if evaluated == nil || evaluated.Status != metav1.ConditionTrue || evaluated.ObservedGeneration != other.Generation ||
			other.Status.EvaluatedResolutionGeneration != generation {
			return name
		}
	}
	return ""
}

// reasonNewEvents and reasonReferenceChanged are evaluationDue's answers when an Events source
// synced, or a segment the rule reads was evaluated, since the last evaluation. Status times
// have whole seconds, so "since" includes the second of the last evaluation; eventsSettle is
// how long after an evaluation such a change waits, so that one in the same second makes one
// more evaluation, not a loop of them.
const (
	reasonNewEvents        = "new events arrived"
	reasonReferenceChanged = "a segment it refers to changed"
	eventsSettle           = 2 * time.Second
)

// evaluationDue says why a segment should be evaluated now, or "" when nothing it depends on
// changed since its last evaluation: its spec, the resolution's profiles, the events, the
// segments it refers to, or a scheduled time that has come.
func evaluationDue(seg *cdpv1alpha1.Segment, idr *cdpv1alpha1.IdentityResolution, sources []cdpv1alpha1.DataSource,
	segments []cdpv1alpha1.Segment, sched *schedule.Schedule, now time.Time) string {
	last := seg.Status.LastEvaluationTime
	evaluated := meta.FindStatusCondition(seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated)
	switch {
	case last == nil:
		return "never evaluated"
	case evaluated == nil || evaluated.Status != metav1.ConditionTrue || evaluated.ObservedGeneration != seg.Generation:
		return "the spec changed, or the last evaluation failed"
	case idr.Status.PublishedGeneration != seg.Status.EvaluatedResolutionGeneration:
		return "the resolution published new profiles"
	case sched != nil && !sched.Next(last.Time).After(now):
		return "a scheduled time came"
	}
	for i := range sources {
		ds := &sources[i]
		// Status times have whole seconds: a sync that finished in the second of the last
		// evaluation may have committed after it started, so it counts as new. Evaluating
		// again within that second would find the same again and again: the caller waits for
		// the next second instead (eventsSettle).
		if ds.Spec.Type == cdpv1alpha1.DataSourceEvents && ds.Status.LastSuccessfulSyncTime != nil &&
			!ds.Status.LastSuccessfulSyncTime.Before(&metav1.Time{Time: last.Truncate(time.Second)}) {
			return reasonNewEvents
		}
	}
	referenced := map[string]bool{}
	for _, name := range seg.Spec.Rule.ReferencedSegments() {
		referenced[name] = true
	}
	for i := range segments {
		other := &segments[i]
		// In the same second counts, as for events.
		if referenced[other.Name] && other.Status.LastEvaluationTime != nil &&
			!other.Status.LastEvaluationTime.Before(&metav1.Time{Time: last.Truncate(time.Second)}) {
			return reasonReferenceChanged
		}
	}
	return ""
}

// scheduleOf parses a segment's schedule; nil when it has none or it does not parse (the spec
// check reports that).
func scheduleOf(seg *cdpv1alpha1.Segment) *schedule.Schedule {
	s := seg.Spec.Schedule
	if s == nil {
		return nil
	}
	sched, err := schedule.Parse(s.Cron, s.TimeZone)
	if err != nil {
		return nil
	}
	return sched
}

// dueReference tells whether a segment the rule refers to is itself due for evaluation.
func dueReference(seg *cdpv1alpha1.Segment, segments []cdpv1alpha1.Segment, due func(*cdpv1alpha1.Segment) string) bool {
	for _, name := range seg.Spec.Rule.ReferencedSegments() {
		if name == seg.Name {
			continue
		}
		i := slices.IndexFunc(segments, func(s cdpv1alpha1.Segment) bool { return s.Name == name })
		if i >= 0 && due(&segments[i]) != "" {
			return true
		}
	}
	return false
}
