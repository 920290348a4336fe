package controllers

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

func TestResolveJob(t *testing.T) {
	idr := &cdpv1alpha1.IdentityResolution{
		ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: "shop", Generation: 3},
		Spec: cdpv1alpha1.IdentityResolutionSpec{
			Sources:       []cdpv1alpha1.ResolutionSource{{Name: "crm", Priority: 10}, {Name: "ec"}},
			Deterministic: []cdpv1alpha1.DeterministicRule{{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}}},
			DryRun:        true,
		},
	}
	opts := WorkerOptions{Image: "kizuna:test", StoreSecret: "kizuna-store", ServiceAccountName: "kizuna-worker", BackoffLimit: 2}
	job, err := resolveJob(idr, "g3-0123456789", 9, opts)
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "customers-resolve-g3-0123456789" || job.Namespace != "shop" {
		t.Errorf("job %s/%s, want shop/customers-resolve-g3-0123456789", job.Namespace, job.Name)
	}
	if job.Annotations[annotationSequence] != "9" {
		t.Errorf("annotations %v do not number the Job", job.Annotations)
	}
	for _, labels := range []map[string]string{job.Labels, job.Spec.Template.Labels} {
		if labels[LabelIdentityResolution] != "customers" || labels[labelComponent] != "resolve" || labels[labelGeneration] != "3" {
			t.Errorf("labels %v do not name the resolution, the resolve component and the generation", labels)
		}
		if _, ok := labels[LabelDataSource]; ok {
			t.Errorf("labels %v make the Job look like a sync Job", labels)
		}
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || *job.Spec.BackoffLimit != 2 {
		t.Errorf("restartPolicy %s, backoffLimit %d", pod.RestartPolicy, *job.Spec.BackoffLimit)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the resolution Pod gets a service account token: it reads only the store")
	}
	if pod.ServiceAccountName != "kizuna-worker" || pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod service account %q, security context %+v", pod.ServiceAccountName, pod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "kizuna:test" || !reflect.DeepEqual(c.Args, []string{"worker", "resolve"}) {
		t.Errorf("container runs %s %v, want kizuna:test worker resolve", c.Image, c.Args)
	}
	if got := c.Resources.Requests.Memory().String(); got != "1Gi" {
		t.Errorf("memory request %s, want 1Gi", got)
	}
	if got := c.Resources.Requests.Cpu().String(); got != "500m" {
		t.Errorf("CPU request %s, want 500m", got)
	}
	if got := c.Resources.Limits.Memory().String(); got != "4Gi" {
		t.Errorf("memory limit %s, want 4Gi", got)
	}

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if len(env) != 3 {
		t.Errorf("env %v, want exactly the resolution, the run ID and the store", c.Env)
	}
	if env[worker.EnvRunID].Value != job.Name {
		t.Errorf("run ID %q, want the Job's name", env[worker.EnvRunID].Value)
	}
	if ref := env[worker.EnvStoreDSN].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "kizuna-store" || ref.SecretKeyRef.Key != StoreSecretKey {
		t.Errorf("store DSN env %+v, want it from Secret kizuna-store", env[worker.EnvStoreDSN])
	}
	var payload struct {
		Name       string                             `json:"name"`
		Namespace  string                             `json:"namespace"`
		Generation int64                              `json:"generation"`
		Spec       cdpv1alpha1.IdentityResolutionSpec `json:"spec"`
	}
	if err := json.Unmarshal([]byte(env[worker.EnvResolution].Value), &payload); err != nil {
		t.Fatalf("the resolution payload is not JSON: %v", err)
	}
	if payload.Name != "customers" || payload.Namespace != "shop" || payload.Generation != 3 || !reflect.DeepEqual(payload.Spec, idr.Spec) {
		t.Errorf("payload %+v does not carry the resolution", payload)
	}

	again, err := resolveJob(idr, "g3-0123456789", 9, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, job) {
		t.Error("the same inputs give another Job")
	}
	scheduled, err := resolveJob(idr, "t1795000000", 10, opts)
	if err != nil {
		t.Fatal(err)
	}
	if scheduled.Name != "customers-resolve-t1795000000" {
		t.Errorf("scheduled Job name %q", scheduled.Name)
	}
}

func TestResolveJobUsesALiteralStoreDSNWithoutASecret(t *testing.T) {
	idr := &cdpv1alpha1.IdentityResolution{ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: "shop", Generation: 1}}
	job, err := resolveJob(idr, "g1-x", 1, WorkerOptions{Image: "i", StoreDSN: "sqlite:/data/kizuna.db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == worker.EnvStoreDSN {
			if e.Value != "sqlite:/data/kizuna.db" || e.ValueFrom != nil {
				t.Errorf("store DSN env %+v, want the literal DSN", e)
			}
			return
		}
	}
	t.Error("no store DSN env")
}

func syncedDataSource(name string, synced time.Time) *cdpv1alpha1.DataSource {
	ds := &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if !synced.IsZero() {
		ds.Status.LastSuccessfulSyncTime = &metav1.Time{Time: synced}
	}
	return ds
}

func TestInputFingerprint(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	crm, ec := syncedDataSource("crm", t0), syncedDataSource("ec", t0.Add(time.Hour))
	base := inputFingerprint([]*cdpv1alpha1.DataSource{crm, ec})
	if len(base) != 10 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Errorf("fingerprint %q is not 10 hex digits: it goes into Job names", base)
	}
	if got := inputFingerprint([]*cdpv1alpha1.DataSource{ec, crm}); got != base {
		t.Errorf("the order of the sources changes the fingerprint: %q, %q", got, base)
	}

	// What a sync that changed nothing leaves alone does not count.
	unrelated := crm.DeepCopy()
	unrelated.Status.SyncCount = 7
	unrelated.Status.ActiveJob = "crm-sync-t1"
	unrelated.Status.LastSync = &cdpv1alpha1.SyncSummary{JobName: "crm-sync-t1", Result: cdpv1alpha1.SyncResultFailed}
	if got := inputFingerprint([]*cdpv1alpha1.DataSource{unrelated, ec}); got != base {
		t.Errorf("a failed sync changes the fingerprint: %q, %q", got, base)
	}

	// A newer successful sync of any source does.
	resynced := syncedDataSource("crm", t0.Add(time.Second))
	if got := inputFingerprint([]*cdpv1alpha1.DataSource{resynced, ec}); got == base {
		t.Error("a new successful sync leaves the fingerprint as it was")
	}
	// So do another source and a source that has not synced.
	if got := inputFingerprint([]*cdpv1alpha1.DataSource{crm, ec, syncedDataSource("pos", t0)}); got == base {
		t.Error("a new source leaves the fingerprint as it was")
	}
	if got := inputFingerprint([]*cdpv1alpha1.DataSource{crm, syncedDataSource("ec", time.Time{})}); got == base {
		t.Error("a source that never synced has the fingerprint of a synced one")
	}
	// The same times under other names are other data.
	if got := inputFingerprint([]*cdpv1alpha1.DataSource{syncedDataSource("crm2", t0), ec}); got == base {
		t.Error("renaming a source leaves the fingerprint as it was")
	}
}

func TestWaitingForSources(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	collector := syncedDataSource("web", time.Time{})
	collector.Spec.Source.Collector = &cdpv1alpha1.CollectorSource{}
	if p := waitingForSources([]*cdpv1alpha1.DataSource{syncedDataSource("crm", t0), collector}); p != nil {
		t.Errorf("synced sources and a collector wait: %v", p)
	}
	p := waitingForSources([]*cdpv1alpha1.DataSource{syncedDataSource("crm", t0), syncedDataSource("ec", time.Time{}), syncedDataSource("pos", time.Time{})})
	if p == nil || p.Reason != cdpv1alpha1.ReasonWaitingForSources || !strings.Contains(p.Message, `DataSource "ec"`) {
		t.Errorf("problem %v, want WaitingForSources naming the first source that never synced, ec", p)
	}
}

func TestIgnoredValues(t *testing.T) {
	in := []store.IgnoredValue{
		{Type: "Phone", Value: "0*******0", Records: 120},
		{Type: "CompanyName+PersonName", Value: "株*******郎", Records: 40},
		{Type: "Custom:member_no", Value: "0***9", Records: 30},
		{Type: "Fax", Value: "0***1", Records: 25},
		{Type: "Email", Value: strings.Repeat("x", 100), Records: 21},
	}
	got := ignoredValues(in)
	want := []cdpv1alpha1.IgnoredIdentifierValue{
		{Type: cdpv1alpha1.IdentifierPhone, Value: "0*******0", Records: 120},
		{Type: cdpv1alpha1.IdentifierCompanyName, Value: "株*******郎", Records: 40},
		{Type: cdpv1alpha1.IdentifierCustom, Value: "0***9", Records: 30},
		{Type: cdpv1alpha1.IdentifierEmail, Value: strings.Repeat("x", 64), Records: 21},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ignoredValues =\n%+v\nwant\n%+v", got, want)
	}

	many := make([]store.IgnoredValue, 30)
	for i := range many {
		many[i] = store.IgnoredValue{Type: "Email", Value: "a***z", Records: int64(100 - i)}
	}
	got = ignoredValues(many)
	if len(got) != maxIgnoredValues || got[0].Records != 100 || got[len(got)-1].Records != 81 {
		t.Errorf("ignoredValues of 30 kept %d, from %d to %d records; want the 20 most shared", len(got), got[0].Records, got[len(got)-1].Records)
	}
	if ignoredValues(nil) != nil {
		t.Error("no ignored values make a non-nil list")
	}
}

func TestResolvedCondition(t *testing.T) {
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	run := &store.ResolutionRun{RunID: "customers-resolve-g1-x", Status: store.SyncSucceeded, StartedAt: start, FinishedAt: start.Add(83 * time.Second),
		Records: 1200, Profiles: 1000, Merges: 3, Splits: 1, NewProfiles: 12}
	status, reason, message := resolvedCondition(run.RunID, run, 4, 83*time.Second)
	if status != metav1.ConditionTrue || reason != cdpv1alpha1.ReasonPublished {
		t.Errorf("published run: %s %s", status, reason)
	}
	for _, part := range []string{"customers-resolve-g1-x", "generation 4", "1m23s", "1200 records in 1000 profiles", "12 new, 3 merged, 1 split"} {
		if !strings.Contains(message, part) {
			t.Errorf("message %q lacks %q", message, part)
		}
	}

	dry := *run
	dry.DryRun = true
	status, reason, message = resolvedCondition(dry.RunID, &dry, 3, 300*time.Millisecond)
	if status != metav1.ConditionTrue || reason != cdpv1alpha1.ReasonDryRun || !strings.Contains(message, "Nothing was published") || !strings.Contains(message, "300ms") {
		t.Errorf("dry run: %s %s %q", status, reason, message)
	}

	failed := store.ResolutionRun{RunID: "customers-resolve-g2-y", Status: store.SyncFailed, Message: "read the records of DataSource crm: disk full"}
	status, reason, message = resolvedCondition(failed.RunID, &failed, 3, 0)
	if status != metav1.ConditionFalse || reason != cdpv1alpha1.ReasonResolutionFailed || !strings.Contains(message, "disk full") {
		t.Errorf("failed run: %s %s %q", status, reason, message)
	}

	// A run still Running when its Job ended never finished.
	crashed := store.ResolutionRun{RunID: "customers-resolve-g2-z", Status: store.SyncRunning, Message: "publishing"}
	status, reason, message = resolvedCondition(crashed.RunID, &crashed, 3, 0)
	if status != metav1.ConditionFalse || reason != cdpv1alpha1.ReasonResolutionFailed || !strings.Contains(message, "ended before the run finished") {
		t.Errorf("unfinished run: %s %s %q", status, reason, message)
	}
}

func TestSetResolutionConditions(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	idr := &cdpv1alpha1.IdentityResolution{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	setResolutionConditions(idr, nil, nil, now)
	if c := meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolved); c == nil || c.Reason != cdpv1alpha1.ReasonNeverResolved || c.Status != metav1.ConditionFalse {
		t.Errorf("Resolved before any run: %+v", c)
	}
	if c := meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolving); c == nil || c.Reason != cdpv1alpha1.ReasonNoResolutionRunning {
		t.Errorf("Resolving without Jobs: %+v", c)
	}

	blocked := &problem{cdpv1alpha1.ReasonWaitingForSources, `DataSource "crm" has not synced successfully yet`}
	setResolutionConditions(idr, nil, blocked, now)
	if c := meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolving); c.Reason != cdpv1alpha1.ReasonWaitingForSources || c.Message != blocked.Message {
		t.Errorf("Resolving while blocked: %+v", c)
	}

	// A running Job wins, and a finished run's Resolved is kept for the new generation.
	setCondition(&idr.Status.Conditions, cdpv1alpha1.ConditionResolved, metav1.ConditionTrue, cdpv1alpha1.ReasonPublished, "published", 1, now)
	idr.Generation = 3
	active := []*batchv1.Job{{ObjectMeta: metav1.ObjectMeta{Name: "customers-resolve-g3-x"}}}
	setResolutionConditions(idr, active, blocked, now.Add(time.Minute))
	c := meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolving)
	if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "customers-resolve-g3-x") {
		t.Errorf("Resolving with an active Job: %+v", c)
	}
	c = meta.FindStatusCondition(idr.Status.Conditions, cdpv1alpha1.ConditionResolved)
	if c.Reason != cdpv1alpha1.ReasonPublished || c.ObservedGeneration != 3 || !c.LastTransitionTime.Time.Equal(now) {
		t.Errorf("Resolved after a spec change: %+v", c)
	}
}

func TestJobsBeyondHistory(t *testing.T) {
	job := func(name string, t batchv1.JobConditionType) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: batchv1.JobStatus{
			Conditions: []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}},
		}}
	}
	finished := []*batchv1.Job{
		job("s1", batchv1.JobComplete), job("f1", batchv1.JobFailed), job("s2", batchv1.JobComplete),
		job("f2", batchv1.JobFailed), job("s3", batchv1.JobComplete),
	}
	var names []string
	for _, j := range jobsBeyondHistory(finished, WorkerOptions{SuccessfulJobsHistoryLimit: 2, FailedJobsHistoryLimit: 1}) {
		names = append(names, j.Name)
	}
	if strings.Join(names, ",") != "s1,f1" {
		t.Errorf("beyond the history: %v, want the oldest succeeded and the oldest failed, s1,f1", names)
	}
	if got := jobsBeyondHistory(finished, WorkerOptions{SuccessfulJobsHistoryLimit: 3, FailedJobsHistoryLimit: 2}); len(got) != 0 {
		t.Errorf("within the limits, %d Jobs are beyond the history", len(got))
	}

	// A resolution keeps its newest finished Job even when the limits keep none.
	names = nil
	for _, j := range resolutionJobsToPrune(finished, WorkerOptions{}) {
		names = append(names, j.Name)
	}
	if strings.Join(names, ",") != "s1,s2,f1,f2" {
		t.Errorf("pruned %v, want every Job but the newest, s3", names)
	}
	if got := resolutionJobsToPrune(nil, WorkerOptions{}); len(got) != 0 {
		t.Errorf("pruned %d Jobs of none", len(got))
	}
}

func TestNextResolution(t *testing.T) {
	created := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	idr := &cdpv1alpha1.IdentityResolution{ObjectMeta: metav1.ObjectMeta{Name: "customers", Generation: 2, CreationTimestamp: metav1.Time{Time: created}}}
	ran := func(generation, inputs string, covered time.Time) *batchv1.Job {
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{labelGeneration: generation},
			Annotations: map[string]string{annotationInputs: inputs},
		}}
		if !covered.IsZero() {
			job.Annotations[annotationScheduleTime] = covered.Format(time.RFC3339)
		}
		return job
	}
	now := created.Add(10 * time.Minute)
	hourly, err := schedule.Parse("0 * * * *", "Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	nine := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

	tests := []struct {
		name        string
		newest      *batchv1.Job
		sched       *schedule.Schedule
		now         time.Time
		wantSuffix  string
		wantCovered time.Time
	}{
		{name: "first run", now: now, wantSuffix: "g2-aaaaaaaaaa"},
		{name: "first run of a scheduled resolution runs at once", sched: hourly, now: now, wantSuffix: "g2-aaaaaaaaaa"},
		{name: "nothing changed", newest: ran("2", "aaaaaaaaaa", time.Time{}), now: now},
		{name: "spec changed", newest: ran("1", "aaaaaaaaaa", time.Time{}), now: now, wantSuffix: "g2-aaaaaaaaaa"},
		{name: "data changed", newest: ran("2", "bbbbbbbbbb", time.Time{}), now: now, wantSuffix: "g2-aaaaaaaaaa"},
		{name: "a schedule batches data changes", newest: ran("2", "bbbbbbbbbb", time.Time{}), sched: hourly, now: now},
		{name: "scheduled time due", newest: ran("2", "aaaaaaaaaa", time.Time{}), sched: hourly, now: nine.Add(time.Second),
			wantSuffix: "t" + strconv.FormatInt(nine.Unix(), 10), wantCovered: nine},
		{name: "missed scheduled times run once, for the latest", newest: ran("2", "aaaaaaaaaa", nine), sched: hourly, now: nine.Add(3*time.Hour + time.Minute),
			wantSuffix: "t" + strconv.FormatInt(nine.Add(3*time.Hour).Unix(), 10), wantCovered: nine.Add(3 * time.Hour)},
		{name: "scheduled time covered", newest: ran("2", "bbbbbbbbbb", nine), sched: hourly, now: nine.Add(59 * time.Minute), wantCovered: nine},
		{name: "a spec change covers the scheduled time due", newest: ran("1", "aaaaaaaaaa", time.Time{}), sched: hourly, now: nine.Add(time.Minute),
			wantSuffix: "g2-aaaaaaaaaa", wantCovered: nine},
		{name: "a spec change carries the covered time", newest: ran("1", "aaaaaaaaaa", nine), sched: hourly, now: nine.Add(time.Minute),
			wantSuffix: "g2-aaaaaaaaaa", wantCovered: nine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suffix, covered := nextResolution(idr, tt.newest, "aaaaaaaaaa", tt.sched, tt.now)
			if suffix != tt.wantSuffix || !covered.Equal(tt.wantCovered) {
				t.Errorf("nextResolution = %q, covering %v; want %q, covering %v", suffix, covered, tt.wantSuffix, tt.wantCovered)
			}
		})
	}
}
