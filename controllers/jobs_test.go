package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

func TestJobName(t *testing.T) {
	if got := jobName("crm", "sync-g3"); got != "crm-sync-g3" {
		t.Errorf("jobName = %q", got)
	}
	long := strings.Repeat("a", 60)
	got := jobName(long, "sync-t1795000000")
	if len(got) > 63 || !strings.HasSuffix(got, "-sync-t1795000000") {
		t.Errorf("jobName of a long name = %q (%d characters), want at most 63 ending with the suffix", got, len(got))
	}
	if other := jobName(long+"b", "sync-t1795000000"); other == got {
		t.Errorf("two long names map to the same Job name %q", got)
	}
}

func TestWorkerOptionsRefuseAPasswordInTheJobSpec(t *testing.T) {
	tests := []struct {
		opts    WorkerOptions
		wantErr bool
	}{
		{WorkerOptions{Image: "i", StoreDSN: "sqlite:/var/lib/kizuna/kizuna.db"}, false},
		{WorkerOptions{Image: "i", StoreDSN: "postgres://kizuna:pw@db:5432/kizuna"}, true},
		{WorkerOptions{Image: "i", StoreDSN: "postgres://db/kizuna?password=pw"}, true},
		{WorkerOptions{Image: "i", StoreDSN: "postgres://kizuna:pw@db:5432/kizuna", StoreSecret: "kizuna-store"}, false},
		{WorkerOptions{StoreDSN: "sqlite:x.db"}, true},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("Validate(%+v) = %v, want error %v", tt.opts, err, tt.wantErr)
		}
	}
}

func TestSyncJob(t *testing.T) {
	ds := &cdpv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: "crm", Namespace: "shop", Generation: 4},
		Spec: cdpv1alpha1.DataSourceSpec{
			Type: cdpv1alpha1.DataSourceRecords,
			Source: cdpv1alpha1.SourceLocation{S3: &cdpv1alpha1.S3Location{
				Bucket: "exports", Key: "crm.csv", CredentialsSecretRef: &cdpv1alpha1.LocalObjectReference{Name: "s3"},
			}},
			Format:    &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV},
			RecordKey: &cdpv1alpha1.ColumnRef{Column: "id"},
		},
	}
	job, err := syncJob(ds, "g4", 7, WorkerOptions{Image: "kizuna:test", StoreSecret: "kizuna-store", BackoffLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "crm-sync-g4" || job.Namespace != "shop" {
		t.Errorf("job %s/%s, want shop/crm-sync-g4", job.Namespace, job.Name)
	}
	if job.Annotations[annotationSequence] != "7" {
		t.Errorf("annotations %v do not number the Job", job.Annotations)
	}
	if job.Labels[LabelDataSource] != "crm" || job.Spec.Template.Labels[LabelDataSource] != "crm" {
		t.Errorf("labels %v do not name the DataSource", job.Labels)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || *job.Spec.BackoffLimit != 2 {
		t.Errorf("restartPolicy %s, backoffLimit %d", pod.RestartPolicy, *job.Spec.BackoffLimit)
	}
	if *pod.AutomountServiceAccountToken {
		t.Error("an S3 sync gets a service account token it does not need")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range pod.Containers[0].Env {
		env[e.Name] = e
	}
	if env[worker.EnvRunID].Value != job.Name {
		t.Errorf("run ID %q, want the Job's name", env[worker.EnvRunID].Value)
	}
	if ref := env[worker.EnvStoreDSN].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "kizuna-store" || ref.SecretKeyRef.Key != StoreSecretKey {
		t.Errorf("store DSN env %+v, want it from Secret kizuna-store", env[worker.EnvStoreDSN])
	}
	for _, key := range []string{worker.S3AccessKeyIDKey, worker.S3SecretAccessKeyKey} {
		e, ok := env[worker.SecretEnvName("s3", key)]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "s3" || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("no env from Secret s3 key %s: %+v", key, e)
		}
	}
	if !strings.Contains(env[worker.EnvDataSource].Value, `"bucket":"exports"`) {
		t.Errorf("the DataSource payload %q does not carry the spec", env[worker.EnvDataSource].Value)
	}
	for _, e := range pod.Containers[0].Env {
		if e.Value != "" && strings.Contains(e.Value, "secretAccessKey\":\"") {
			t.Errorf("env %s carries a credential in the Job spec", e.Name)
		}
	}

	again, err := syncJob(ds, "g4", 7, WorkerOptions{Image: "kizuna:test", StoreSecret: "kizuna-store", BackoffLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if again.Name != job.Name {
		t.Error("the same inputs give another Job name")
	}
}

func TestLastDue(t *testing.T) {
	sched, err := schedule.Parse("0 * * * *", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	if got := lastDue(sched, base, base.Add(20*time.Minute)); !got.IsZero() {
		t.Errorf("lastDue before the next hour = %v, want none", got)
	}
	if got, want := lastDue(sched, base, base.Add(3*time.Hour)), time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("lastDue after three missed hours = %v, want only the latest, %v", got, want)
	}
}
