package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WorkerOptions say how the Pods of Kizuna's Jobs run: the manager's settings.
type WorkerOptions struct {
	// Image of the kizuna binary the Jobs run.
	Image string
	// ServiceAccountName of the Pods; empty uses the namespace's default. Only Pods that read a
	// ConfigMap from the API get a token.
	ServiceAccountName string
	// StoreDSN is passed literally to the Pods when StoreSecret is empty: fine for a SQLite file on
	// a shared volume, never for a connection string with a password.
	StoreDSN string
	// StoreSecret names a Secret, in each namespace that runs Jobs, whose key "dsn" holds the
	// store's connection string.
	StoreSecret string
	// BackoffLimit is how often a failed Pod is retried.
	BackoffLimit int32
	// SuccessfulJobsHistoryLimit and FailedJobsHistoryLimit are how many finished Jobs of each
	// resource are kept for inspection; older ones are deleted.
	SuccessfulJobsHistoryLimit int
	FailedJobsHistoryLimit     int
	// LinkBaseURL is the public address of the unsubscribe and tracking links in messages, and
	// LinkSecret a Secret, in each namespace that sends, whose key "key" signs them. Without
	// them, messages carry no such links.
	LinkBaseURL string
	LinkSecret  string
}

// LinkSecretKey is the key of WorkerOptions.LinkSecret that holds the link signing key.
const LinkSecretKey = "key"

// StoreSecretKey is the key of WorkerOptions.StoreSecret that holds the connection string.
const StoreSecretKey = "dsn"

// Validate checks options that would otherwise fail at the first Job.
func (o WorkerOptions) Validate() error {
	if o.Image == "" {
		return fmt.Errorf("the worker image is not set")
	}
	if o.StoreSecret == "" && dsnHasPassword(o.StoreDSN) {
		return fmt.Errorf("the store's connection string has a password: set the worker store Secret so that Jobs read it from a Secret instead of their spec")
	}
	return nil
}

func dsnHasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return strings.Contains(dsn, "password=")
	}
	_, set := u.User.Password()
	return set || u.Query().Get("password") != "" || strings.Contains(dsn, "password=")
}

// Labels of Kizuna's Jobs.
const (
	labelName       = "app.kubernetes.io/name"
	labelComponent  = "app.kubernetes.io/component"
	labelManagedBy  = "app.kubernetes.io/managed-by"
	LabelDataSource = "cdp.kizuna.dev/datasource"
	labelGeneration = "cdp.kizuna.dev/generation"
	// annotationSequence numbers a resource's Jobs in the order they were started: finer than
	// creationTimestamp, which counts seconds.
	annotationSequence = "cdp.kizuna.dev/sequence"

	// LabelIdentityResolution names the IdentityResolution whose resolution Job it is.
	LabelIdentityResolution = "cdp.kizuna.dev/identityresolution"
	// LabelCampaign names the Campaign whose delivery Job it is.
	LabelCampaign = "cdp.kizuna.dev/campaign"
)

// jobsBeyondHistory returns the finished Jobs, ordered oldest first, that the history limits do
// not keep: the oldest succeeded ones beyond SuccessfulJobsHistoryLimit and the oldest failed
// ones beyond FailedJobsHistoryLimit.
func jobsBeyondHistory(finished []*batchv1.Job, opts WorkerOptions) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, j := range finished {
		if jobCondition(j, batchv1.JobComplete) != nil {
			succeeded = append(succeeded, j)
		} else {
			failed = append(failed, j)
		}
	}
	var extra []*batchv1.Job
	if n := len(succeeded) - opts.SuccessfulJobsHistoryLimit; n > 0 {
		extra = append(extra, succeeded[:n]...)
	}
	if n := len(failed) - opts.FailedJobsHistoryLimit; n > 0 {
		extra = append(extra, failed[:n]...)
	}
	return extra
}

// deleteJobs deletes Jobs with their Pods; a Job already gone is no error.
func deleteJobs(ctx context.Context, c client.Writer, jobs []*batchv1.Job) error {
	for _, j := range jobs {
		err := c.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old Job %s: %w", j.Name, err)
		}
	}
	return nil
}

// jobName makes a deterministic Job name of at most 63 characters from a resource's name and a
// suffix; a long name is cut and made unique with a hash of the whole.
func jobName(name, suffix string) string {
	full := name + "-" + suffix
	if len(full) <= 63 {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	hash := hex.EncodeToString(sum[:4])
	keep := 63 - len(suffix) - len(hash) - 2
	return strings.TrimRight(name[:keep], "-.") + "-" + hash + "-" + suffix
}

// storeEnv is how a Pod receives the store's connection string.
func (o WorkerOptions) storeEnv(envName string) corev1.EnvVar {
	if o.StoreSecret != "" {
		return corev1.EnvVar{Name: envName, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: o.StoreSecret}, Key: StoreSecretKey,
		}}}
	}
	return corev1.EnvVar{Name: envName, Value: o.StoreDSN}
}

// restrictedSecurityContext meets the restricted Pod Security Standard.
func restrictedSecurityContext() (*corev1.PodSecurityContext, *corev1.SecurityContext) {
	return &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}, &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
}
