package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// maxFirstErrors bounds the quarantined rows shown in status.
const maxFirstErrors = 5

// reconcileSync runs a DataSource's sync Jobs: one when the spec is new or changed, one per
// sync request (annotation), one per scheduled time, never two at once; it reflects the latest finished run into status and keeps a
// bounded history of Jobs.
func (r *dataSourceReconciler) reconcileSync(ctx context.Context, ds *cdpv1alpha1.DataSource, ready bool) (ctrl.Result, error) {
	now := r.clock.Now()
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(ds.Namespace), client.MatchingLabels{LabelDataSource: ds.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list sync Jobs: %w", err)
	}
	var active, finished []*batchv1.Job
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if !metav1.IsControlledBy(job, ds) {
			continue
		}
		if jobFinished(job) {
			finished = append(finished, job)
		} else {
			active = append(active, job)
		}
	}
	sortJobs(finished)

	if len(finished) > 0 {
		if err := r.reflectRun(ctx, ds, finished[len(finished)-1]); err != nil {
			return ctrl.Result{}, err
		}
	}
	setSyncConditions(ds, active, now)
	if err := r.pruneJobs(ctx, finished); err != nil {
		return ctrl.Result{}, err
	}

	ds.Status.NextSyncTime = nil
	if !ready || ds.Spec.Suspend || r.store == nil || ds.Spec.Source.Collector != nil {
		// A collector source receives events as they are posted; it has nothing to sync.
		return ctrl.Result{}, nil
	}
	var sched *schedule.Schedule
	if s := ds.Spec.Schedule; s != nil {
		var err error
		if sched, err = schedule.Parse(s.Cron, s.TimeZone); err != nil {
			return ctrl.Result{}, nil // reported as SpecValid=False
		}
	}

	var result ctrl.Result
	if sched != nil {
		next := sched.Next(now)
		ds.Status.NextSyncTime = &metav1.Time{Time: next}
		result.RequeueAfter = next.Sub(now)
	}
	if len(active) > 0 {
		return result, nil // one sync at a time; the Job's end wakes this controller
	}

	request := ds.Annotations[cdpv1alpha1.SyncRequestAnnotation]
	switch {
	case ds.Status.SyncGeneration != ds.Generation:
		if err := r.startSync(ctx, ds, "g"+strconv.FormatInt(ds.Generation, 10)); err != nil {
			return ctrl.Result{}, err
		}
		ds.Status.SyncGeneration = ds.Generation
		ds.Status.LastSyncRequest = request
	case request != "" && request != ds.Status.LastSyncRequest:
		if err := r.startSync(ctx, ds, "r"+shortHash(request)); err != nil {
			return ctrl.Result{}, err
		}
		ds.Status.LastSyncRequest = request
	case sched != nil:
		due := lastDue(sched, scheduleBase(ds), now)
		if due.IsZero() {
			break
		}
		if err := r.startSync(ctx, ds, "t"+strconv.FormatInt(due.Unix(), 10)); err != nil {
			return ctrl.Result{}, err
		}
		ds.Status.LastScheduleTime = &metav1.Time{Time: due}
	}
	return result, nil
}

// shortHash names a sync request in a Job name.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:5])
}

// scheduleBase is the time after which the schedule's next run is due.
func scheduleBase(ds *cdpv1alpha1.DataSource) time.Time {
	if ds.Status.LastScheduleTime != nil {
		return ds.Status.LastScheduleTime.Time
	}
	return ds.CreationTimestamp.Time
}

// lastDue returns the latest scheduled time in (after, now], or zero when none is due. Missed
// runs are not caught up one by one: one sync brings the data up to date.
func lastDue(sched *schedule.Schedule, after, now time.Time) time.Time {
	var due time.Time
	for t := sched.Next(after); !t.After(now); t = sched.Next(t) {
		due = t
	}
	return due
}

func (r *dataSourceReconciler) startSync(ctx context.Context, ds *cdpv1alpha1.DataSource, suffix string) error {
	job, err := syncJob(ds, suffix, ds.Status.SyncCount+1, r.workers)
	if err != nil {
		return err
	}
	if err := ctrl.SetControllerReference(ds, job, r.Scheme()); err != nil {
		return err
	}
	err = r.Create(ctx, job)
	if apierrors.IsAlreadyExists(err) {
		// Created by an earlier reconcile whose status write was lost: adopt it.
		err = nil
	}
	if err != nil {
		return fmt.Errorf("create sync Job %s: %w", job.Name, err)
	}
	ds.Status.SyncCount++
	ds.Status.ActiveJob = job.Name
	setSyncing(ds, job.Name, r.clock.Now())
	r.recorder.Eventf(ds, job, corev1.EventTypeNormal, "SyncStarted", "Sync", "Started sync Job %s", job.Name)
	return nil
}

// reflectRun copies the run recorded by the latest finished Job into status, once per Job.
func (r *dataSourceReconciler) reflectRun(ctx context.Context, ds *cdpv1alpha1.DataSource, job *batchv1.Job) error {
	if last := ds.Status.LastSync; last != nil && last.JobName == job.Name {
		return nil
	}
	if r.store == nil {
		return nil
	}
	run, err := r.store.Run(ctx, ds.Namespace, ds.Name, job.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ds.Status.LastSync = &cdpv1alpha1.SyncSummary{
			JobName: job.Name,
			Result:  cdpv1alpha1.SyncResultFailed,
			Reason:  cdpv1alpha1.ReasonSyncJobFailed,
			Message: fmt.Sprintf("sync Job %s failed before it recorded a run: see the logs of its Pods", job.Name),
		}
		if c := jobCondition(job, batchv1.JobFailed); c != nil {
			ds.Status.LastSync.CompletionTime = &c.LastTransitionTime
		}
		return nil
	case err != nil:
		return fmt.Errorf("read run %s from the store: %w", job.Name, err)
	}
	summary := &cdpv1alpha1.SyncSummary{
		JobName:         job.Name,
		Result:          syncResult(run.Status),
		Reason:          syncReason(run.Status),
		Message:         truncateMessage(run.Message, 2048),
		StartTime:       &metav1.Time{Time: run.StartedAt},
		RowsRead:        run.RowsRead,
		RowsLoaded:      run.RowsLoaded,
		Inserted:        run.Inserted,
		Updated:         run.Updated,
		RowsQuarantined: run.RowsQuarantined,
		RecordsDeleted:  run.RecordsDeleted,
	}
	if !run.FinishedAt.IsZero() {
		summary.CompletionTime = &metav1.Time{Time: run.FinishedAt}
	}
	if run.RowsQuarantined > 0 {
		rows, err := r.store.Quarantined(ctx, ds.Namespace, ds.Name, run.RunID, maxFirstErrors)
		if err != nil {
			return fmt.Errorf("read quarantined rows of run %s: %w", run.RunID, err)
		}
		for _, q := range rows {
			summary.FirstErrors = append(summary.FirstErrors, cdpv1alpha1.RowError{Row: q.Row, Reason: truncateMessage(q.Reason, 512)})
		}
	}
	ds.Status.LastSync = summary
	if summary.Result != cdpv1alpha1.SyncResultFailed && summary.CompletionTime != nil {
		ds.Status.LastSuccessfulSyncTime = summary.CompletionTime
	}
	stats, err := r.store.SourceStats(ctx, ds.Namespace, ds.Name)
	if err != nil {
		return fmt.Errorf("count the records of %s: %w", ds.Name, err)
	}
	ds.Status.Records = stats.Records
	if ds.Spec.Type == cdpv1alpha1.DataSourceEvents {
		ds.Status.Records = stats.Events
	}
	logf.FromContext(ctx).Info("sync finished", "job", job.Name, "result", summary.Result,
		"rowsRead", run.RowsRead, "rowsLoaded", run.RowsLoaded, "rowsQuarantined", run.RowsQuarantined)
	return nil
}

func syncReason(s store.SyncStatus) string {
	switch s {
	case store.SyncSucceeded:
		return cdpv1alpha1.ReasonSyncSucceeded
	case store.SyncSkipped:
		return cdpv1alpha1.ReasonNotModified
	}
	return cdpv1alpha1.ReasonSyncFailed
}

func syncResult(s store.SyncStatus) cdpv1alpha1.SyncResult {
	switch s {
	case store.SyncSucceeded:
		return cdpv1alpha1.SyncResultSucceeded
	case store.SyncSkipped:
		return cdpv1alpha1.SyncResultSkipped
	}
	return cdpv1alpha1.SyncResultFailed
}

// setSyncConditions sets Syncing from the active Jobs and Synced from the latest run.
func setSyncConditions(ds *cdpv1alpha1.DataSource, active []*batchv1.Job, now time.Time) {
	ds.Status.ActiveJob = ""
	if len(active) > 0 {
		ds.Status.ActiveJob = active[0].Name
		setSyncing(ds, active[0].Name, now)
	} else {
		reason, message := cdpv1alpha1.ReasonNoSyncRunning, "No sync is running."
		if ds.Spec.Suspend {
			reason, message = cdpv1alpha1.ReasonSyncSuspended, "spec.suspend is true: no sync starts until it is false."
		}
		setCondition(&ds.Status.Conditions, cdpv1alpha1.ConditionSyncing, metav1.ConditionFalse, reason, message, ds.Generation, now)
	}

	last := ds.Status.LastSync
	var status metav1.ConditionStatus
	var reason, message string
	switch {
	case last == nil:
		status, reason, message = metav1.ConditionFalse, cdpv1alpha1.ReasonNeverSynced, "No sync has finished yet."
	case last.Result == cdpv1alpha1.SyncResultSucceeded:
		status, reason = metav1.ConditionTrue, last.Reason
		message = fmt.Sprintf("Sync %s loaded %d of %d rows; %d quarantined, %d records deleted.",
			last.JobName, last.RowsLoaded, last.RowsRead, last.RowsQuarantined, last.RecordsDeleted)
	case last.Result == cdpv1alpha1.SyncResultSkipped:
		status, reason, message = metav1.ConditionTrue, last.Reason, fmt.Sprintf("Sync %s skipped: %s", last.JobName, last.Message)
	default:
		status, reason, message = metav1.ConditionFalse, last.Reason, fmt.Sprintf("Sync %s failed: %s", last.JobName, last.Message)
	}
	setCondition(&ds.Status.Conditions, cdpv1alpha1.ConditionSynced, status, reason, message, ds.Generation, now)
}

func setSyncing(ds *cdpv1alpha1.DataSource, job string, now time.Time) {
	setCondition(&ds.Status.Conditions, cdpv1alpha1.ConditionSyncing, metav1.ConditionTrue, cdpv1alpha1.ReasonSyncRunning,
		fmt.Sprintf("Sync Job %s is running.", job), ds.Generation, now)
}

func setCondition(conds *[]metav1.Condition, condType string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message,
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
	})
}

// pruneJobs deletes the finished Jobs beyond the history limits, oldest first.
func (r *dataSourceReconciler) pruneJobs(ctx context.Context, finished []*batchv1.Job) error {
	var succeeded, failed []*batchv1.Job
	for _, j := range finished {
		if jobCondition(j, batchv1.JobComplete) != nil {
			succeeded = append(succeeded, j)
		} else {
			failed = append(failed, j)
		}
	}
	var extra []*batchv1.Job
	if n := len(succeeded) - r.workers.SuccessfulJobsHistoryLimit; n > 0 {
		extra = append(extra, succeeded[:n]...)
	}
	if n := len(failed) - r.workers.FailedJobsHistoryLimit; n > 0 {
		extra = append(extra, failed[:n]...)
	}
	for _, j := range extra {
		err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old Job %s: %w", j.Name, err)
		}
	}
	return nil
}

func jobFinished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobComplete) != nil || jobCondition(job, batchv1.JobFailed) != nil
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// sortJobs orders Jobs by their sequence number, oldest first.
func sortJobs(jobs []*batchv1.Job) {
	sequence := func(j *batchv1.Job) int64 {
		n, _ := strconv.ParseInt(j.Annotations[annotationSequence], 10, 64)
		return n
	}
	slices.SortStableFunc(jobs, func(a, b *batchv1.Job) int { return cmp.Compare(sequence(a), sequence(b)) })
}

func truncateMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
