package controllers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// What a resolution Job remembers. Status has no field for the input fingerprint, the schedule
// time or the Job whose run it shows, so the Jobs carry them: the newest Job, which pruning
// always keeps, says what the runs have covered.
const (
	// annotationInputs is the fingerprint of the sources' data the Job was started for.
	annotationInputs = "cdp.kizuna.dev/inputs"
	// annotationScheduleTime is the latest scheduled time the runs had covered when the Job
	// started, in RFC 3339.
	annotationScheduleTime = "cdp.kizuna.dev/schedule-time"
	// annotationReflected marks a finished Job whose run status shows.
	annotationReflected = "cdp.kizuna.dev/reflected"
)

const (
	// resolutionRunsToRead bounds the runs read from the store to find a Job's run and the
	// published one; only one Job runs at a time, so they are among the newest.
	resolutionRunsToRead = 20
	// maxIgnoredValues bounds status.ignoredValues.
	maxIgnoredValues = 20
	// maxIgnoredValueLength is the API's bound of an ignored value's length.
	maxIgnoredValueLength = 64
)

// resolutionOutcome is what a reconcile did that is announced once status is written: events,
// and the finished Job whose run status now shows.
type resolutionOutcome struct {
	events    []resolutionEvent
	reflected *batchv1.Job
}

type resolutionEvent struct {
	eventType, reason, note string
	job                     *batchv1.Job
}

// reconcileResolution runs an IdentityResolution's Jobs: one when the spec is new or changed, one
// when its sources' data changed (without a schedule) or per scheduled time (with one), never two
// at once, and none until every source has synced; it reflects the latest finished run into
// status and keeps a bounded history of Jobs.
func (r *identityResolutionReconciler) reconcileResolution(ctx context.Context, idr *cdpv1alpha1.IdentityResolution,
	sources []*cdpv1alpha1.DataSource, ready bool) (ctrl.Result, resolutionOutcome, error) {
	var done resolutionOutcome
	now := r.clock.Now()
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(idr.Namespace), client.MatchingLabels{LabelIdentityResolution: idr.Name}); err != nil {
		return ctrl.Result{}, done, fmt.Errorf("list resolution Jobs: %w", err)
	}
	var all, active, finished []*batchv1.Job
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if !metav1.IsControlledBy(job, idr) {
			continue
		}
		all = append(all, job)
		if jobFinished(job) {
			finished = append(finished, job)
		} else {
			active = append(active, job)
		}
	}
	sortJobs(all)
	sortJobs(active)
	sortJobs(finished)

	if len(finished) > 0 {
		latest := finished[len(finished)-1]
		reflected, err := r.reflectRun(ctx, idr, latest)
		if err != nil {
			return ctrl.Result{}, done, err
		}
		if reflected {
			done.reflected = latest
			c := meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolved)
			eventType := corev1.EventTypeNormal
			if c.Status != metav1.ConditionTrue {
				eventType = corev1.EventTypeWarning
			}
			done.events = append(done.events, resolutionEvent{eventType, c.Reason, c.Message, latest})
		}
	}
	var blocked *problem
	switch {
	case !ready:
		blocked = &problem{cdpv1alpha1.ReasonResolutionNotReady, "The resolution is not Ready: see the Ready condition."}
	case r.store != nil:
		blocked = waitingForSources(sources)
	}
	setResolutionConditions(idr, active, blocked, now)
	if err := r.pruneJobs(ctx, finished); err != nil {
		return ctrl.Result{}, done, err
	}

	if blocked != nil || r.store == nil {
		return ctrl.Result{}, done, nil
	}
	var sched *schedule.Schedule
	if s := idr.Spec.Schedule; s != nil {
		var err error
		if sched, err = schedule.Parse(s.Cron, s.TimeZone); err != nil {
			return ctrl.Result{}, done, nil // reported as SpecValid=False
		}
	}
	var result ctrl.Result
	if sched != nil {
		result.RequeueAfter = sched.Next(now).Sub(now)
	}
	if len(active) > 0 {
		return result, done, nil // one run at a time; the Job's end wakes this controller
	}

	var newest *batchv1.Job
	if len(all) > 0 {
		newest = all[len(all)-1]
	}
	inputs := inputFingerprint(sources)
	suffix, covered := nextResolution(idr, newest, inputs, sched, now)
	if suffix == "" {
		return result, done, nil
	}
	job, err := r.startResolution(ctx, idr, suffix, nextSequence(all), inputs, covered)
	if err != nil {
		return ctrl.Result{}, done, err
	}
	done.events = append(done.events, resolutionEvent{corev1.EventTypeNormal, "ResolutionStarted",
		fmt.Sprintf("Started resolution Job %s", job.Name), job})
	return result, done, nil
}

// nextResolution decides whether a resolution runs now, from the newest of its Jobs (nil when it
// has none) and the fingerprint of its sources' data. It returns the run's Job name suffix, or ""
// when no run is due, and the latest scheduled time the runs will have covered.
//
// A new or changed spec runs at once. Without a schedule, so does every change of the sources'
// data; a schedule batches those changes into one run per scheduled time. Missed scheduled times
// are not caught up one by one, and any run started after a scheduled time covers it.
func nextResolution(idr *cdpv1alpha1.IdentityResolution, newest *batchv1.Job, inputs string, sched *schedule.Schedule, now time.Time) (string, time.Time) {
	covered := coveredScheduleTime(newest)
	var due time.Time
	if sched != nil {
		base := covered
		if base.IsZero() {
			base = idr.CreationTimestamp.Time
		}
		due = lastDue(sched, base, now)
	}
	if !due.IsZero() {
		covered = due
	}
	switch {
	case newest == nil || jobGeneration(newest) != idr.Generation || (sched == nil && newest.Annotations[annotationInputs] != inputs):
		return "g" + strconv.FormatInt(idr.Generation, 10) + "-" + inputs, covered
	case !due.IsZero():
		return "t" + strconv.FormatInt(due.Unix(), 10), covered
	}
	return "", covered
}

// inputFingerprint names the data a resolution's sources hold: it changes whenever a source
// completes a sync (status.lastSuccessfulSyncTime) and does not depend on the order the sources
// are listed in.
func inputFingerprint(sources []*cdpv1alpha1.DataSource) string {
	parts := make([]string, 0, len(sources))
	for _, ds := range sources {
		var synced string
		if t := ds.Status.LastSuccessfulSyncTime; t != nil {
			synced = t.UTC().Format(time.RFC3339Nano)
		}
		parts = append(parts, ds.Name+"="+synced)
	}
	slices.Sort(parts)
	return shortHash(strings.Join(parts, "\n"))
}

// waitingForSources reports the first source, in spec order, that has not synced successfully
// yet: resolving without its records would split profiles that its records would join. A
// collector source receives events as they are posted and has nothing to wait for.
func waitingForSources(sources []*cdpv1alpha1.DataSource) *problem {
	for _, ds := range sources {
		if ds.Spec.Source.Collector == nil && ds.Status.LastSuccessfulSyncTime == nil {
			return &problem{cdpv1alpha1.ReasonWaitingForSources, fmt.Sprintf(
				"DataSource %q has not synced successfully yet: the resolution runs once every source has.", ds.Name)}
		}
	}
	return nil
}

// jobGeneration is the generation of the spec a resolution Job was started for.
func jobGeneration(job *batchv1.Job) int64 {
	n, _ := strconv.ParseInt(job.Labels[labelGeneration], 10, 64)
	return n
}

// coveredScheduleTime is the latest scheduled time the runs had covered when job started; zero
// without a job or a schedule.
func coveredScheduleTime(job *batchv1.Job) time.Time {
	if job == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, job.Annotations[annotationScheduleTime])
	if err != nil {
		return time.Time{}
	}
	return t
}

// nextSequence numbers the next Job after the sorted Jobs.
func nextSequence(sorted []*batchv1.Job) int64 {
	if len(sorted) == 0 {
		return 1
	}
	n, _ := strconv.ParseInt(sorted[len(sorted)-1].Annotations[annotationSequence], 10, 64)
	return n + 1
}

func (r *identityResolutionReconciler) startResolution(ctx context.Context, idr *cdpv1alpha1.IdentityResolution, suffix string,
	sequence int64, inputs string, covered time.Time) (*batchv1.Job, error) {
	job, err := resolveJob(idr, suffix, sequence, r.workers)
	if err != nil {
		return nil, err
	}
	job.Annotations[annotationInputs] = inputs
	if !covered.IsZero() {
		job.Annotations[annotationScheduleTime] = covered.UTC().Format(time.RFC3339)
	}
	if err := ctrl.SetControllerReference(idr, job, r.Scheme()); err != nil {
		return nil, err
	}
	err = r.Create(ctx, job)
	if apierrors.IsAlreadyExists(err) {
		// Created by an earlier reconcile that the cache does not show yet: adopt it.
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("create resolution Job %s: %w", job.Name, err)
	}
	setResolving(idr, job.Name, r.clock.Now())
	return job, nil
}

// reflectRun copies the run recorded by the latest finished Job into status, once per Job: it
// reports whether it did, so that the Job is marked once status is written.
func (r *identityResolutionReconciler) reflectRun(ctx context.Context, idr *cdpv1alpha1.IdentityResolution, job *batchv1.Job) (bool, error) {
	if job.Annotations[annotationReflected] != "" || r.store == nil {
		return false, nil
	}
	runs, err := r.store.ResolutionRuns(ctx, idr.Namespace, idr.Name, resolutionRunsToRead)
	if err != nil {
		return false, fmt.Errorf("read the runs of %s from the store: %w", idr.Name, err)
	}
	state, err := r.store.ResolutionState(ctx, idr.Namespace, idr.Name)
	if err != nil {
		return false, fmt.Errorf("read the published generation of %s from the store: %w", idr.Name, err)
	}
	now := r.clock.Now()
	idr.Status.PublishedGeneration = state.PublishedGeneration
	switch published := findResolutionRun(runs, state.RunID); {
	case state.PublishedGeneration == 0:
		idr.Status.Profiles, idr.Status.Records = 0, 0
	case published != nil:
		idr.Status.Profiles, idr.Status.Records = published.Profiles, published.Records
	}

	run := findResolutionRun(runs, job.Name)
	if run == nil {
		summary := &cdpv1alpha1.ResolutionRunSummary{StartTime: job.Status.StartTime, CompletionTime: job.Status.CompletionTime}
		message := fmt.Sprintf("Resolution Job %s finished without recording a run: see the logs of its Pods.", job.Name)
		if c := jobCondition(job, batchv1.JobFailed); c != nil {
			summary.CompletionTime = &c.LastTransitionTime
			failure := c.Reason
			if c.Message != "" {
				failure += ": " + c.Message
			}
			message = fmt.Sprintf("Resolution Job %s failed before it recorded a run (%s): see the logs of its Pods.", job.Name, failure)
		}
		idr.Status.LastRun = summary
		setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolved, metav1.ConditionFalse, cdpv1alpha1.ReasonResolutionJobFailed,
			truncateMessage(message, 2048), idr.Generation, now)
		logf.FromContext(ctx).Info("resolution Job finished without a run", "job", job.Name)
		return true, nil
	}

	summary := &cdpv1alpha1.ResolutionRunSummary{
		StartTime:   &metav1.Time{Time: run.StartedAt},
		Records:     run.Records,
		Profiles:    run.Profiles,
		Merges:      run.Merges,
		Splits:      run.Splits,
		NewProfiles: run.NewProfiles,
		DryRun:      run.DryRun,
	}
	var took time.Duration
	if !run.FinishedAt.IsZero() {
		summary.CompletionTime = &metav1.Time{Time: run.FinishedAt}
		took = run.FinishedAt.Sub(run.StartedAt)
	}
	idr.Status.LastRun = summary
	generation := run.Generation
	if state.RunID == run.RunID {
		generation = state.PublishedGeneration
	}
	status, reason, message := resolvedCondition(job.Name, run, generation, took)
	if status == metav1.ConditionTrue {
		idr.Status.IgnoredValues = ignoredValues(run.Ignored)
	}
	setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolved, status, reason, message, idr.Generation, now)
	logf.FromContext(ctx).Info("resolution finished", "job", job.Name, "status", run.Status, "dryRun", run.DryRun,
		"duration", took, "records", run.Records, "profiles", run.Profiles, "merges", run.Merges, "splits", run.Splits,
		"newProfiles", run.NewProfiles, "publishedGeneration", state.PublishedGeneration)
	return true, nil
}

func findResolutionRun(runs []store.ResolutionRun, runID string) *store.ResolutionRun {
	if runID == "" {
		return nil
	}
	for i := range runs {
		if runs[i].RunID == runID {
			return &runs[i]
		}
	}
	return nil
}

// resolvedCondition is the Resolved condition a finished run makes.
func resolvedCondition(job string, run *store.ResolutionRun, generation int64, took time.Duration) (metav1.ConditionStatus, string, string) {
	counts := fmt.Sprintf("%d records in %d profiles; %d new, %d merged, %d split", run.Records, run.Profiles, run.NewProfiles, run.Merges, run.Splits)
	switch {
	case run.Status != store.SyncSucceeded:
		message := run.Message
		switch {
		case run.Status == store.SyncRunning:
			message = "its Job ended before the run finished: see the logs of its Pods"
		case message == "":
			message = "the run recorded no reason"
		}
		return metav1.ConditionFalse, cdpv1alpha1.ReasonResolutionFailed, truncateMessage(fmt.Sprintf("Resolution %s failed: %s", job, message), 2048)
	case run.DryRun:
		return metav1.ConditionTrue, cdpv1alpha1.ReasonDryRun, fmt.Sprintf("Dry run %s took %s: %s. Nothing was published.", job, formatDuration(took), counts)
	}
	return metav1.ConditionTrue, cdpv1alpha1.ReasonPublished, fmt.Sprintf("Resolution %s published generation %d in %s: %s.", job, generation, formatDuration(took), counts)
}

// formatDuration rounds a run's duration for a message.
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// ignoredValues turns a run's ignored values into status: at most maxIgnoredValues, in the
// worker's order (most shared first), each typed by the first identifier type of its rule.
func ignoredValues(in []store.IgnoredValue) []cdpv1alpha1.IgnoredIdentifierValue {
	var out []cdpv1alpha1.IgnoredIdentifierValue
	for _, v := range in {
		if len(out) == maxIgnoredValues {
			break
		}
		t, ok := ignoredValueType(v.Type)
		if !ok {
			continue
		}
		out = append(out, cdpv1alpha1.IgnoredIdentifierValue{
			Type: t, Value: truncateMessage(v.Value, maxIgnoredValueLength), Records: v.Records,
		})
	}
	return out
}

// ignoredValueType reads the type the worker reports for an ignored value: an identifier type,
// "Custom:<name>" for a custom one, or a rule's types joined with "+", of which the first is kept.
func ignoredValueType(s string) (cdpv1alpha1.IdentifierType, bool) {
	first, _, _ := strings.Cut(s, "+")
	first, _, _ = strings.Cut(first, ":")
	t := cdpv1alpha1.IdentifierType(first)
	switch t {
	case cdpv1alpha1.IdentifierEmail, cdpv1alpha1.IdentifierPhone, cdpv1alpha1.IdentifierCustomerID,
		cdpv1alpha1.IdentifierCompanyName, cdpv1alpha1.IdentifierPersonName, cdpv1alpha1.IdentifierPostalCode,
		cdpv1alpha1.IdentifierLineUserID, cdpv1alpha1.IdentifierDeviceToken, cdpv1alpha1.IdentifierCustom:
		return t, true
	}
	return "", false
}

// setResolutionConditions sets Resolving from the active Jobs and what blocks a run, and keeps
// Resolved, which only a finished run changes, describing the current generation.
func setResolutionConditions(idr *cdpv1alpha1.IdentityResolution, active []*batchv1.Job, blocked *problem, now time.Time) {
	switch {
	case len(active) > 0:
		setResolving(idr, active[0].Name, now)
	case blocked != nil:
		setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolving, metav1.ConditionFalse, blocked.Reason, blocked.Message, idr.Generation, now)
	default:
		setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolving, metav1.ConditionFalse, cdpv1alpha1.ReasonNoResolutionRunning,
			"No resolution is running.", idr.Generation, now)
	}

	if c := meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolved); c != nil {
		setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolved, c.Status, c.Reason, c.Message, idr.Generation, now)
	} else {
		setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolved, metav1.ConditionFalse, cdpv1alpha1.ReasonNeverResolved,
			"No resolution has finished yet.", idr.Generation, now)
	}
}

func setResolving(idr *cdpv1alpha1.IdentityResolution, job string, now time.Time) {
	setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolving, metav1.ConditionTrue, cdpv1alpha1.ReasonResolutionRunning,
		fmt.Sprintf("Resolution Job %s is running.", job), idr.Generation, now)
}

// pruneJobs deletes the finished Jobs beyond the history limits, oldest first.
func (r *identityResolutionReconciler) pruneJobs(ctx context.Context, finished []*batchv1.Job) error {
	return deleteJobs(ctx, r.Client, resolutionJobsToPrune(finished, r.workers))
}

// resolutionJobsToPrune returns the finished Jobs, sorted oldest first, beyond the history limits,
// but never the newest one, whatever the limits: it holds the run status shows and what the runs
// have covered.
func resolutionJobsToPrune(finished []*batchv1.Job, opts WorkerOptions) []*batchv1.Job {
	if len(finished) == 0 {
		return nil
	}
	newest := finished[len(finished)-1]
	return slices.DeleteFunc(jobsBeyondHistory(finished, opts), func(j *batchv1.Job) bool { return j == newest })
}

// announce records the outcome's events and marks the Job whose run status now shows; it runs
// after status is written, so that a lost status write leaves the run to reflect again.
func (r *identityResolutionReconciler) announce(ctx context.Context, idr *cdpv1alpha1.IdentityResolution, done resolutionOutcome) error {
	for _, e := range done.events {
		r.recorder.Eventf(idr, e.job, e.eventType, e.reason, "Resolve", "%s", e.note)
	}
	job := done.reflected
	if job == nil {
		return nil
	}
	patch := client.MergeFrom(job.DeepCopy())
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[annotationReflected] = "true"
	if err := r.Patch(ctx, job, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark resolution Job %s reflected: %w", job.Name, err)
	}
	return nil
}
