package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kizuna-dev/kizuna/test/kubelet"
)

// shellJob returns a Job whose Pod runs script with /bin/sh.
func shellJob(ns, name, script string, backoffLimit int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(backoffLimit),
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: ptr.To(int64(5)),
					Containers: []corev1.Container{{
						Name:    "main",
						Image:   shellImage,
						Command: []string{"sh", "-c", script},
					}},
				},
			},
		},
	}
}

// fileWriter returns a function that writes a file of a folder of the test's, the local stand-in
// for a volume mounted into the workers, and returns its path.
func fileWriter(t *testing.T) func(name, content string) string {
	dir := t.TempDir()
	return func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

func createObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// jobCondition waits until the Job has the condition type with status True.
func jobCondition(t *testing.T, job *batchv1.Job, condType batchv1.JobConditionType) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(job), job)).To(Succeed())
		found := false
		for _, c := range job.Status.Conditions {
			if c.Type == condType && c.Status == corev1.ConditionTrue {
				found = true
			}
		}
		g.Expect(found).To(BeTrue(), "conditions: %+v", job.Status.Conditions)
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())
}

// recordsOf returns the kubelet's records of the processes of a namespace.
func recordsOf(ns string) []kubelet.Record {
	var out []kubelet.Record
	for _, r := range local.Kubelet.History() {
		if r.Namespace == ns {
			out = append(out, r)
		}
	}
	return out
}

func podsOf(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func TestJobThatExitsZeroCompletes(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	job := shellJob(ns, "ok", `echo "hello from $HOSTNAME"`, 0)
	createObject(t, job)
	jobCondition(t, job, batchv1.JobComplete)

	if job.Status.Succeeded != 1 || job.Status.Failed != 0 {
		t.Errorf("succeeded=%d failed=%d, want 1 and 0", job.Status.Succeeded, job.Status.Failed)
	}
	records := recordsOf(ns)
	if len(records) != 1 || records[0].ExitCode != 0 {
		t.Fatalf("processes = %+v, want one that exited 0", records)
	}
	logs, err := local.Kubelet.Logs(ns, records[0].Pod)
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello from " + records[0].Pod; !strings.Contains(logs, want) {
		t.Errorf("log %q does not contain %q", logs, want)
	}
}

func TestJobThatExitsOneRetriesUpToBackoffLimitThenFails(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	job := shellJob(ns, "fails", "exit 1", 1)
	createObject(t, job)
	jobCondition(t, job, batchv1.JobFailed)

	records := recordsOf(ns)
	if len(records) != 2 {
		t.Fatalf("ran %d processes, want 2 (the first try and one retry)", len(records))
	}
	for _, r := range records {
		if r.ExitCode != 1 {
			t.Errorf("process of %s exited %d, want 1", r.Pod, r.ExitCode)
		}
	}
	if job.Status.Failed != 2 {
		t.Errorf("job.status.failed = %d, want 2", job.Status.Failed)
	}
	var reason string
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed {
			reason = c.Reason
		}
	}
	if reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("Failed reason = %q, want %q", reason, batchv1.JobReasonBackoffLimitExceeded)
	}
	for _, p := range podsOf(t, ns) {
		if p.Status.Phase != corev1.PodFailed {
			t.Errorf("pod %s is %s, want Failed", p.Name, p.Status.Phase)
			continue
		}
		if s := p.Status.ContainerStatuses; len(s) != 1 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 1 {
			t.Errorf("pod %s container status = %+v, want terminated with exit code 1", p.Name, s)
		}
	}
}

func TestIndexedJobRespectsParallelismAndIndexes(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	job := shellJob(ns, "indexed", `echo "index=$JOB_COMPLETION_INDEX"; sleep 1`, 0)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Completions = ptr.To(int32(4))
	job.Spec.Parallelism = ptr.To(int32(2))
	createObject(t, job)
	jobCondition(t, job, batchv1.JobComplete)

	records := recordsOf(ns)
	if len(records) != 4 {
		t.Fatalf("ran %d processes, want 4", len(records))
	}
	var indexes []string
	for _, r := range records {
		logs, err := local.Kubelet.Logs(ns, r.Pod)
		if err != nil {
			t.Fatal(err)
		}
		index := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(logs), "index="))
		if index != r.Labels[batchv1.JobCompletionIndexAnnotation] {
			t.Errorf("pod %s printed index %q, its label says %q", r.Pod, index, r.Labels[batchv1.JobCompletionIndexAnnotation])
		}
		indexes = append(indexes, index)
	}
	sort.Strings(indexes)
	if !slices.Equal(indexes, []string{"0", "1", "2", "3"}) {
		t.Errorf("indexes = %v, want 0 to 3 once each", indexes)
	}
	if got := maxOverlap(records); got > 2 {
		t.Errorf("%d processes ran at once, parallelism is 2", got)
	}
}

// maxOverlap is the largest number of processes that ran at the same time.
func maxOverlap(records []kubelet.Record) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range records {
		edges = append(edges, edge{r.Started, +1}, edge{r.Exited, -1})
	}
	// At equal times, count the exit first: the next process started after the previous ended.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].at.Before(edges[j].at)
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	return most
}

func TestKilledProcessFailsThePodAndTheJobRetries(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	marker := filepath.Join(t.TempDir(), "attempted")
	// The first attempt sleeps until it is killed; the retry finds the marker and succeeds.
	job := shellJob(ns, "killed", fmt.Sprintf(`if [ -e %[1]s ]; then exit 0; fi; touch %[1]s; exec sleep 600`, marker), 2)
	createObject(t, job)

	var first kubelet.Record
	NewWithT(t).Eventually(func(g Gomega) {
		records := recordsOf(ns)
		g.Expect(records).To(HaveLen(1))
		_, err := os.Stat(marker)
		g.Expect(err).NotTo(HaveOccurred())
		first = records[0]
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())
	if err := local.Kubelet.Kill(first.UID); err != nil {
		t.Fatal(err)
	}

	jobCondition(t, job, batchv1.JobComplete)
	if job.Status.Failed != 1 || job.Status.Succeeded != 1 {
		t.Errorf("failed=%d succeeded=%d, want 1 and 1", job.Status.Failed, job.Status.Succeeded)
	}
	var killed corev1.Pod
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: first.Pod}, &killed); err != nil {
		t.Fatal(err)
	}
	s := killed.Status.ContainerStatuses
	if killed.Status.Phase != corev1.PodFailed || len(s) != 1 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 137 {
		t.Errorf("killed pod: phase %s, statuses %+v; want Failed with exit code 137 (128+SIGKILL)", killed.Status.Phase, s)
	}
}

func TestDeletingAPodStopsItsProcess(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sleeper"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(int64(5)),
			Containers:                    []corev1.Container{{Name: "main", Image: shellImage, Command: []string{"sh", "-c", "exec sleep 600"}}},
		},
	}
	createObject(t, pod)
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())

	if err := k8s.Delete(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	NewWithT(t).Eventually(func() bool {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})
		return apierrors.IsNotFound(err)
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(BeTrue(), "the pod object was not removed")
	records := recordsOf(ns)
	if len(records) != 1 || records[0].Exited.IsZero() || records[0].ExitCode != 128+15 {
		t.Fatalf("records = %+v, want one process ended by SIGTERM (exit code 143)", records)
	}
}

func TestDeletingTheOwnerRemovesJobAndPods(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner"}}
	createObject(t, owner)
	job := shellJob(ns, "owned", "exec sleep 600", 0)
	job.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
	createObject(t, job)
	NewWithT(t).Eventually(func(g Gomega) {
		records := recordsOf(ns)
		g.Expect(records).To(HaveLen(1))
		g.Expect(records[0].Exited.IsZero()).To(BeTrue())
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())

	if err := k8s.Delete(context.Background(), owner, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(job), &batchv1.Job{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "job still exists: %v", err)
		g.Expect(podsOf(t, ns)).To(BeEmpty())
		g.Expect(recordsOf(ns)[0].Exited.IsZero()).To(BeFalse(), "the process still runs")
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())
}

func TestPodEnvironmentResolvesSecretsConfigMapsAndFields(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	createObject(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}, Data: map[string][]byte{"token": []byte("s3cret")}})
	createObject(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"REGION": "JP"}})
	job := shellJob(ns, "env", `echo "token=$TOKEN region=$REGION pod=$POD_NAME ns=$POD_NAMESPACE greeting=$GREETING"`, 0)
	job.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "settings"},
	}}}
	job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "GREETING", Value: "hello $(REGION)"},
	}
	createObject(t, job)
	jobCondition(t, job, batchv1.JobComplete)

	records := recordsOf(ns)
	if len(records) != 1 {
		t.Fatalf("ran %d processes, want 1", len(records))
	}
	logs, err := local.Kubelet.Logs(ns, records[0].Pod)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("token=s3cret region=JP pod=%s ns=%s greeting=hello JP", records[0].Pod, ns)
	if strings.TrimSpace(logs) != want {
		t.Errorf("log = %q, want %q", logs, want)
	}
}

func TestPodsOfUnknownImagesStayPending(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "nginx:1.27"}}},
	}
	createObject(t, pod)
	// A Pod of ours created after it is bound and run, so the kubelet has seen both.
	job := shellJob(ns, "ours", "true", 0)
	createObject(t, job)
	jobCondition(t, job, batchv1.JobComplete)
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != "" || pod.Status.Phase != corev1.PodPending {
		t.Errorf("pod of an unknown image: node %q, phase %s; want unbound and Pending", pod.Spec.NodeName, pod.Status.Phase)
	}
}

// BenchmarkTrivialJob measures the round trip of a one-Pod Job on the local cluster: create it,
// the Job controller makes a Pod, the kubelet binds and runs it, and the Job is Complete.
func BenchmarkTrivialJob(b *testing.B) {
	ns := fmt.Sprintf("bench-%d", nsCounter.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		job := shellJob(ns, fmt.Sprintf("trivial-%d", i), "true", 0)
		if err := k8s.Create(context.Background(), job); err != nil {
			b.Fatal(err)
		}
		for complete := false; !complete; {
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(job), job); err != nil {
				b.Fatal(err)
			}
			for _, c := range job.Status.Conditions {
				complete = complete || (c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue)
			}
			if !complete {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}
