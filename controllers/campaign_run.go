package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// A campaign's runs: each is due at a time its trigger gives, and is delivered by an Indexed
// Job named after the campaign and that time, so a retried reconcile finds the Job it made. A
// run whose rows are not all due at once (delayed steps of a series, messages deferred by quiet
// hours, retries) is continued by a further Job when they come due. One Job of a campaign runs
// at a time; the ledger in the store says what each run did.

const (
	// defaultStartingDeadline is how late a scheduled run may start when the spec says nothing.
	defaultStartingDeadline = time.Hour
	// progressInterval is how often a running delivery's counts are copied into status.
	progressInterval = 10 * time.Second
	// failedRunRetry is how long a run whose Job failed waits before a new Job continues it: a
	// refused credential or an unreachable provider is not fixed in seconds.
	failedRunRetry = 15 * time.Minute
	// defaultEventCheck is how often an event trigger looks for new events when the spec says
	// nothing (the API's default).
	defaultEventCheck = time.Minute
)

// runIfDue reflects the campaign's runs into status and starts the Job that is due, if any.
func (r *campaignReconciler) runIfDue(ctx context.Context, c *cdpv1alpha1.Campaign, ready bool) (ctrl.Result, error) {
	now := r.clock.Now()
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(c.Namespace), client.MatchingLabels{LabelCampaign: c.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list delivery Jobs: %w", err)
	}
	ordered := make([]*batchv1.Job, len(jobs.Items))
	for i := range jobs.Items {
		ordered[i] = &jobs.Items[i]
	}
	sortJobs(ordered)
	var finished []*batchv1.Job
	for _, j := range ordered {
		if jobFinished(j) {
			finished = append(finished, j)
		}
	}
	if err := deleteJobs(ctx, r, jobsBeyondHistory(finished, r.workers)); err != nil {
		return ctrl.Result{}, err
	}
	var latest *batchv1.Job
	if len(ordered) > 0 {
		latest = ordered[len(ordered)-1]
	}
	if err := r.reflectRuns(ctx, c, latest); err != nil {
		return ctrl.Result{}, err
	}

	if latest != nil && !jobFinished(latest) {
		if ptr.Deref(latest.Spec.Suspend, false) != c.Spec.Suspend {
			patch := client.MergeFrom(latest.DeepCopy())
			latest.Spec.Suspend = ptr.To(c.Spec.Suspend)
			if err := r.Patch(ctx, latest, patch); err != nil {
				return ctrl.Result{}, fmt.Errorf("suspend or resume Job %s: %w", latest.Name, err)
			}
		}
		if c.Spec.Suspend {
			r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonRunSuspended,
				fmt.Sprintf("Job %s is suspended with the campaign; setting spec.suspend to false continues it where it stopped.", latest.Name))
			return ctrl.Result{}, nil
		}
		r.setRunning(c, metav1.ConditionTrue, cdpv1alpha1.ReasonDelivering, fmt.Sprintf("Job %s is delivering run %s.", latest.Name, latest.Labels[labelRun]))
		return ctrl.Result{RequeueAfter: progressInterval}, nil
	}
	if c.Spec.Suspend {
		c.Status.NextRunTime = nil
		r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonRunSuspended, "The campaign is suspended: no run starts.")
		return ctrl.Result{}, nil
	}
	if !ready {
		return ctrl.Result{}, nil
	}
	if latest != nil && jobCondition(latest, batchv1.JobFailed) != nil {
		failedAt := jobCondition(latest, batchv1.JobFailed).LastTransitionTime.Time
		r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonDeliveryFailed,
			fmt.Sprintf("Job %s failed: see its Pods' logs (a channel that refuses its credentials stops a run). The run continues in a new Job %s after the failure.",
				latest.Name, failedRunRetry))
		if wait := failedAt.Add(failedRunRetry).Sub(now); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	} else {
		r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonNotDelivering, "No delivery Job is running.")
	}

	// Runs with work left come first, oldest first; then a new run if one is due.
	continueAt, job, err := r.continuation(ctx, c, now, ordered)
	if err != nil || job != nil {
		return ctrl.Result{}, errors.Join(err, r.createJob(ctx, c, job))
	}
	if waiting, err := r.unevaluatedSegment(ctx, c); err != nil || waiting != "" {
		if waiting != "" {
			r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonWaitingForSegments,
				fmt.Sprintf("Segment %s has not been evaluated yet: a run would find no audience. Its evaluation starts the run.", waiting))
		}
		return ctrl.Result{}, err
	}
	next, job, err := r.newRun(ctx, c, now, ordered)
	if err != nil {
		return ctrl.Result{}, err
	}
	if job != nil {
		if err := r.createJob(ctx, c, job); err != nil {
			return ctrl.Result{}, err
		}
		// Only once its Job exists is a scheduled time taken: a failed creation is tried again.
		at, _ := strconv.ParseInt(job.Annotations[annotationScheduledAt], 10, 64)
		c.Status.LastScheduleTime = &metav1.Time{Time: time.Unix(at, 0)}
		return ctrl.Result{}, nil
	}
	c.Status.NextRunTime = nil
	wake := next
	if !next.IsZero() {
		c.Status.NextRunTime = &metav1.Time{Time: next}
	}
	if !continueAt.IsZero() && (wake.IsZero() || continueAt.Before(wake)) {
		wake = continueAt
	}
	if wake.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(wake.Sub(now), time.Second)}, nil
}

func (r *campaignReconciler) setRunning(c *cdpv1alpha1.Campaign, status metav1.ConditionStatus, reason, message string) {
	setCondition(&c.Status.Conditions, cdpv1alpha1.ConditionRunning, status, reason, message, c.Generation, r.clock.Now())
}

func (r *campaignReconciler) createJob(ctx context.Context, c *cdpv1alpha1.Campaign, job *batchv1.Job) error {
	if job == nil {
		return nil
	}
	if err := ctrl.SetControllerReference(c, job, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Job %s: %w", job.Name, err)
	}
	r.setRunning(c, metav1.ConditionTrue, cdpv1alpha1.ReasonDelivering, fmt.Sprintf("Job %s is delivering run %s.", job.Name, job.Labels[labelRun]))
	return nil
}

// recentRunsKept is how many runs status.recentRuns describes.
const recentRunsKept = 5

// reflectRuns copies the ledger's counts of the latest runs, and the totals, into status.
func (r *campaignReconciler) reflectRuns(ctx context.Context, c *cdpv1alpha1.Campaign, latest *batchv1.Job) error {
	runs, err := r.store.DeliveryRuns(ctx, c.Namespace, c.Name, recentRunsKept)
	if err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	recent := make([]cdpv1alpha1.CampaignRunSummary, 0, len(runs))
	for i, run := range runs {
		if i == 0 && latest != nil && jobFinished(latest) && run.CompletedAt.IsZero() {
			// The Job is done: if nothing is left to send, so is the run.
			if done, err := r.store.CompleteDeliveryRun(ctx, c.Namespace, c.Name, run.Run, r.clock.Now()); err == nil {
				run = done
			}
		}
		counts, err := r.store.DeliveryCounts(ctx, c.Namespace, c.Name, run.Run)
		if err != nil {
			return fmt.Errorf("count run %s: %w", run.Run, err)
		}
		summary := cdpv1alpha1.CampaignRunSummary{Name: run.Run, StartTime: &metav1.Time{Time: run.CreatedAt}, Counts: deliveryCounts(counts)}
		if !run.CompletedAt.IsZero() {
			summary.CompletionTime = &metav1.Time{Time: run.CompletedAt}
		}
		recent = append(recent, summary)
	}
	c.Status.RecentRuns = nil
	if len(recent) > 0 {
		latestRun := recent[0]
		c.Status.LastRun, c.Status.RecentRuns = &latestRun, recent
	}
	// Completed runs keep their counts in the store: the totals cost the runs still open.
	totals, err := r.store.CampaignDeliveryCounts(ctx, c.Namespace, c.Name)
	if err != nil {
		return fmt.Errorf("count the campaign's runs: %w", err)
	}
	c.Status.Totals = deliveryCounts(totals)
	return nil
}

func deliveryCounts(c store.DeliveryCounts) cdpv1alpha1.DeliveryCounts {
	return cdpv1alpha1.DeliveryCounts{
		Targeted: c.Total - c.Holdout, Sent: c.Sent, Suppressed: c.Suppressed, Capped: c.Capped,
		Deferred: c.Deferred, Failed: c.Failed, Pending: c.Pending, Holdout: c.Holdout,
	}
}

// continuation returns the Job that continues the oldest run whose remaining rows are due, or
// the earliest time one will be. It marks complete the open runs that have nothing left.
func (r *campaignReconciler) continuation(ctx context.Context, c *cdpv1alpha1.Campaign, now time.Time, jobs []*batchv1.Job) (time.Time, *batchv1.Job, error) {
	runs, err := r.store.DeliveryRuns(ctx, c.Namespace, c.Name, 0)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("read runs: %w", err)
	}
	var earliest time.Time
	for i := len(runs) - 1; i >= 0; i-- {
		run := runs[i]
		if !run.CompletedAt.IsZero() {
			continue
		}
		next, ok, err := r.store.NextDelivery(ctx, c.Namespace, c.Name, run.Run)
		if err != nil {
			return time.Time{}, nil, err
		}
		if !ok {
			// Nothing left to send: the run is complete, and its counts are kept, however long
			// ago its Job finished.
			if _, err := r.store.CompleteDeliveryRun(ctx, c.Namespace, c.Name, run.Run, now); err != nil {
				return time.Time{}, nil, err
			}
			continue
		}
		if next.After(now) {
			if earliest.IsZero() || next.Before(earliest) {
				earliest = next
			}
			continue
		}
		payload, err := r.payload(ctx, c, worker.CampaignRun{
			Namespace: c.Namespace, Campaign: c.Name, Run: run.Run, Trigger: run.Trigger,
			ScheduledAt: run.ScheduledAt, Shards: run.Shards,
		})
		if err != nil {
			return time.Time{}, nil, err
		}
		job, err := deliverJob(payload, "c"+strconv.FormatInt(now.Unix(), 10), nextSequence(jobs), r.workers)
		return time.Time{}, job, err
	}
	return earliest, nil, nil
}

// periodicCheck returns the latest check of a segment-entry or event trigger due by now, every
// period from the campaign's creation, and the one after it.
func periodicCheck(c *cdpv1alpha1.Campaign, every cdpv1alpha1.Duration, fallback time.Duration, now time.Time) (due, next time.Time) {
	period, err := every.Parse()
	if err != nil || period <= 0 {
		period = fallback
	}
	created := c.CreationTimestamp.Time
	due = created.Add(now.Sub(created).Truncate(period))
	return due, due.Add(period)
}

// newRun returns the Job of a run that is due now, or when the next one will be.
func (r *campaignReconciler) newRun(ctx context.Context, c *cdpv1alpha1.Campaign, now time.Time, jobs []*batchv1.Job) (time.Time, *batchv1.Job, error) {
	last := c.CreationTimestamp.Time
	if c.Status.LastScheduleTime != nil {
		last = c.Status.LastScheduleTime.Time
	}
	for _, j := range jobs {
		if at, err := strconv.ParseInt(j.Annotations[annotationScheduledAt], 10, 64); err == nil && time.Unix(at, 0).After(last) {
			last = time.Unix(at, 0)
		}
	}
	ran := c.Status.LastScheduleTime != nil || len(jobs) > 0
	trigger := c.Spec.Trigger
	run := worker.CampaignRun{Namespace: c.Namespace, Campaign: c.Name, Shards: int(ptr.Deref(c.Spec.Parallelism, 1))}
	var next time.Time
	// entryInputs is what a segment-entry run's audience depends on, for emptyChecks.
	var entryInputs string
	var err error
	switch {
	case trigger.Once != nil:
		at := trigger.Once.At.Time
		if ran && !last.Before(at) {
			return time.Time{}, nil, nil
		}
		if at.After(now) {
			return at, nil, nil
		}
		run.Trigger, run.ScheduledAt = worker.TriggerOnce, at
	case trigger.Schedule != nil:
		sched, err := schedule.Parse(trigger.Schedule.Cron, trigger.Schedule.TimeZone)
		if err != nil {
			return time.Time{}, nil, nil // reported as SpecValid=False
		}
		due, missed := latestDue(sched, last, now)
		next = sched.Next(now)
		if due.IsZero() {
			return next, nil, nil
		}
		deadline := defaultStartingDeadline
		if d := c.Spec.StartingDeadline; d != nil {
			if parsed, err := d.Parse(); err == nil {
				deadline = parsed
			}
		}
		if now.Sub(due) > deadline {
			c.Status.LastScheduleTime = &metav1.Time{Time: due}
			r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonRunMissed,
				fmt.Sprintf("The run due at %s was skipped (%d scheduled times missed): it is more than %s late (spec.startingDeadline).",
					due.UTC().Format(time.RFC3339), missed, deadline))
			r.recorder.Eventf(c, nil, "Warning", cdpv1alpha1.ReasonRunMissed, "Schedule", "skipped the run due at %s", due.UTC().Format(time.RFC3339))
			return next, nil, nil
		}
		run.Trigger, run.ScheduledAt = worker.TriggerSchedule, due
	case trigger.SegmentEntry != nil:
		var due time.Time
		due, next = periodicCheck(c, trigger.SegmentEntry.CheckEvery, 15*time.Minute, now)
		if !due.After(last) {
			return next, nil, nil
		}
		if entryInputs, err = r.audienceInputs(ctx, c); err != nil {
			return time.Time{}, nil, err
		}
		if checked, ok := r.emptyChecks.Load(client.ObjectKeyFromObject(c)); ok {
			if e := checked.(emptyCheck); e.uid == c.UID && e.inputs == entryInputs && !due.After(e.due) {
				return next, nil, nil
			}
		}
		from, err := worker.WindowStart(ctx, r.store, c, c.CreationTimestamp.Time)
		if err != nil {
			return time.Time{}, nil, err
		}
		entered, err := worker.ProfilesEntered(ctx, r.store, c, from)
		if err != nil || !entered {
			// Nobody new: no Job, and the window still starts at the previous run, so the
			// next check finds whoever enters before it.
			return next, nil, err
		}
		run.Trigger, run.ScheduledAt, run.EnteredAfter = worker.TriggerSegmentEntry, due, from
	case trigger.Event != nil:
		var due time.Time
		due, next = periodicCheck(c, trigger.Event.CheckEvery, defaultEventCheck, now)
		if !due.After(last) {
			return next, nil, nil
		}
		created := c.CreationTimestamp.Time
		from, err := worker.WindowStart(ctx, r.store, c, created)
		if err != nil {
			return time.Time{}, nil, err
		}
		after, through := worker.EventWindow(trigger.Event, created, from, due)
		if !through.After(after) {
			return next, nil, nil // the first check comes before the delay has passed
		}
		if syncing, err := r.eventSyncBefore(ctx, c.Namespace, through); err != nil || syncing != "" {
			if syncing != "" {
				r.setRunning(c, metav1.ConditionFalse, cdpv1alpha1.ReasonWaitingForEvents,
					fmt.Sprintf("Job %s began syncing events before %s, where the window of the run due at %s ends, and has not finished: the run waits for it, so as to miss none of its events.",
						syncing, through.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339)))
			}
			return next, nil, err
		}
		inputs, err := r.eventInputs(ctx, c)
		if err != nil {
			return time.Time{}, nil, err
		}
		arrived, err := worker.EventsArrived(ctx, r.store, c, inputs.IdentityResolution.Name, inputs.Properties, after, through)
		if err != nil || !arrived {
			// Nothing to do: the next check reads from the same start, so an event that a sync
			// brings late into this window is still found.
			return next, nil, err
		}
		run.Trigger, run.ScheduledAt, run.ReceivedAfter, run.ReceivedThrough = worker.TriggerEvent, due, after, through
	default:
		return time.Time{}, nil, nil
	}
	run.Run = jobName(c.Name, strconv.FormatInt(run.ScheduledAt.Unix(), 10))
	payload, err := r.payload(ctx, c, run)
	if err != nil {
		return time.Time{}, nil, err
	}
	if run.Trigger == worker.TriggerSegmentEntry {
		// Profiles entered, but they may have left again, be excluded, or have been reached by
		// an earlier run: the audience says, for the cost of reading the included segments'
		// history since the last run and the excluded segments' members, where a Job would
		// cost a Pod to plan an empty run. Once per check: the reconciles in between skip it.
		audience, err := worker.PlanAudience(ctx, r.store, payload)
		if err != nil {
			return time.Time{}, nil, err
		}
		if audience.Recipients+audience.Holdout == 0 {
			r.emptyChecks.Store(client.ObjectKeyFromObject(c), emptyCheck{uid: c.UID, due: run.ScheduledAt, inputs: entryInputs})
			return next, nil, nil
		}
	}
	job, err := deliverJob(payload, "run", nextSequence(jobs), r.workers)
	if err != nil {
		return time.Time{}, nil, err
	}
	return next, job, nil
}

// emptyCheck is a segment-entry check whose audience was empty: at due, for a campaign of uid,
// with the inputs audienceInputs said.
type emptyCheck struct {
	uid    types.UID
	due    time.Time
	inputs string
}

// audienceInputs says what a segment-entry run's audience depends on: the campaign's spec, the
// latest evaluation of each of its segments (its number and time: a segment deleted and made
// again counts from 1), and the states of its runs' rows (who an earlier run reached), which
// reflectRuns has just read into status.totals.
func (r *campaignReconciler) audienceInputs(ctx context.Context, c *cdpv1alpha1.Campaign) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "generation %d; totals %+v", c.Generation, c.Status.Totals)
	for _, name := range campaignSegments(c) {
		latest, err := r.store.SegmentEvaluations(ctx, c.Namespace, name, 1)
		if err != nil {
			return "", fmt.Errorf("read the evaluations of segment %s: %w", name, err)
		}
		for _, e := range latest {
			fmt.Fprintf(&b, "; %s %d %s", name, e.Evaluation, e.FinishedAt.UTC().Format(time.RFC3339Nano))
		}
	}
	return b.String(), nil
}

// unevaluatedSegment names an included or excluded segment whose latest evaluation did not
// succeed for its current spec, or returns "".
func (r *campaignReconciler) unevaluatedSegment(ctx context.Context, c *cdpv1alpha1.Campaign) (string, error) {
	for _, name := range campaignSegments(c) {
		var seg cdpv1alpha1.Segment
		if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, &seg); err != nil {
			return "", client.IgnoreNotFound(err)
		}
		evaluated := meta.FindStatusCondition(seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated)
		if evaluated == nil || evaluated.Status != metav1.ConditionTrue || evaluated.ObservedGeneration != seg.Generation {
			return name, nil
		}
	}
	return "", nil
}

// latestDue returns the latest time of the schedule after last and not after now, and how many
// such times there were; zero when none.
func latestDue(sched *schedule.Schedule, last, now time.Time) (time.Time, int) {
	var due time.Time
	n := 0
	// A cron of every minute missed for a year is half a million times: enough to bound.
	for t := sched.Next(last); !t.After(now) && n < 1_000_000; t = sched.Next(t) {
		due = t
		n++
	}
	return due, n
}

// payload gathers what a delivery Job reads: the campaign, its channels, its policy and the
// resolution its segments select from.
func (r *campaignReconciler) payload(ctx context.Context, c *cdpv1alpha1.Campaign, run worker.CampaignRun) (*worker.CampaignPayload, error) {
	p := &worker.CampaignPayload{Campaign: c.DeepCopy(), Run: run}
	p.Campaign.Status = cdpv1alpha1.CampaignStatus{}
	p.Campaign.ManagedFields = nil
	var seg cdpv1alpha1.Segment
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.Audience.Include[0].Name}, &seg); err != nil {
		return nil, fmt.Errorf("read segment %s: %w", c.Spec.Audience.Include[0].Name, err)
	}
	p.Resolution = seg.Spec.ResolutionRef.Name
	for _, name := range campaignChannels(c) {
		var ch cdpv1alpha1.Channel
		if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, &ch); err != nil {
			return nil, fmt.Errorf("read channel %s: %w", name, err)
		}
		ch.Status, ch.ManagedFields = cdpv1alpha1.ChannelStatus{}, nil
		p.Channels = append(p.Channels, &ch)
	}
	if run.Trigger == worker.TriggerEvent && !run.ReceivedThrough.IsZero() {
		// A new run of an event trigger; a continuation finds its run planned already.
		inputs, err := r.eventInputs(ctx, c)
		if err != nil {
			return nil, err
		}
		p.Events = inputs
	}
	var policy cdpv1alpha1.DeliveryPolicy
	err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: campaignPolicy(c)}, &policy)
	switch {
	case err == nil:
		policy.Status, policy.ManagedFields = cdpv1alpha1.DeliveryPolicyStatus{}, nil
		p.Policy = &policy
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read delivery policy: %w", err)
	}
	return p, nil
}

// eventSyncBefore names an unfinished sync Job of an Events DataSource of the namespace that was
// created at or before t, or returns "". A sync stamps its events' receipt when it starts
// reading but commits them when it ends: until it does, a run whose window ends at t would not
// see events received before t, and the next run, reading from t on, would never see them.
func (r *campaignReconciler) eventSyncBefore(ctx context.Context, namespace string, t time.Time) (string, error) {
	var sources cdpv1alpha1.DataSourceList
	if err := r.List(ctx, &sources, client.InNamespace(namespace)); err != nil {
		return "", fmt.Errorf("list data sources: %w", err)
	}
	events := map[string]bool{}
	for _, ds := range sources.Items {
		if ds.Spec.Type == cdpv1alpha1.DataSourceEvents {
			events[ds.Name] = true
		}
	}
	if len(events) == 0 {
		return "", nil
	}
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(namespace), client.HasLabels{LabelDataSource}); err != nil {
		return "", fmt.Errorf("list sync Jobs: %w", err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if events[j.Labels[LabelDataSource]] && !jobFinished(j) && !j.CreationTimestamp.After(t) {
			return j.Name, nil
		}
	}
	return "", nil
}

// eventInputs gathers what a run of the campaign's event trigger reads besides the campaign:
// the resolution its segments select from, and the event properties the namespace declares.
func (r *campaignReconciler) eventInputs(ctx context.Context, c *cdpv1alpha1.Campaign) (*worker.EventInputs, error) {
	idr, fields, err := r.audienceFields(ctx, c)
	if err != nil {
		return nil, err
	}
	if idr == nil {
		return nil, fmt.Errorf("the resolution of segment %s is not found", c.Spec.Audience.Include[0].Name)
	}
	idr.Status, idr.ManagedFields = cdpv1alpha1.IdentityResolutionStatus{}, nil
	return &worker.EventInputs{IdentityResolution: idr, Properties: fields.EventProperties}, nil
}
