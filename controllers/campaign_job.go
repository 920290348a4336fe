package controllers

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// deliverJob builds the Indexed Job that delivers a campaign run: one Pod per shard, each the
// recipients whose profile hashes to its completion index. A Pod is replaced only once the one
// before it has stopped (podReplacementPolicy Failed), and a new Pod takes the shard over: the
// rows its predecessor left pending are its own at once. jobSuffix tells apart the Jobs of
// one run: the first, and those that continue it when delayed steps or deferred messages come due.
func deliverJob(p *worker.CampaignPayload, jobSuffix string, sequence int64, opts WorkerOptions) (*batchv1.Job, error) {
	c := p.Campaign
	var env []corev1.EnvVar
	seen := map[string]bool{}
	var wholeSecrets []string
	for _, ch := range p.Channels {
		for _, sk := range worker.ChannelSecrets(ch) {
			name := worker.SecretEnvName(sk.Name, sk.Key)
			if seen[name] {
				continue
			}
			seen[name] = true
			env = append(env, secretEnv(name, sk.Name, sk.Key))
		}
		wholeSecrets = append(wholeSecrets, worker.ChannelWholeSecrets(ch)...)
	}
	// A Secret read whole (a webhook's headers) is passed by reference, every key of it under a
	// prefix, so that its values stay out of the Job; the marker tells the worker it was passed.
	slices.Sort(wholeSecrets)
	wholeSecrets = slices.Compact(wholeSecrets)
	var envFrom []corev1.EnvFromSource
	for _, secret := range wholeSecrets {
		envFrom = append(envFrom, corev1.EnvFromSource{Prefix: worker.SecretEnvPrefix(secret),
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}})
		env = append(env, corev1.EnvVar{Name: worker.SecretEnvMarker(secret), Value: secret})
	}
	if opts.LinkBaseURL != "" && opts.LinkSecret != "" {
		env = append(env, corev1.EnvVar{Name: worker.EnvLinkBaseURL, Value: opts.LinkBaseURL},
			secretEnv(worker.EnvLinkKey, opts.LinkSecret, LinkSecretKey))
	}
	slices.SortFunc(env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode the run of campaign %s: %w", c.Name, err)
	}
	env = append(env, corev1.EnvVar{Name: worker.EnvCampaign, Value: string(payload)})
	shards := int32(max(p.Run.Shards, 1))
	job, err := buildWorkerJob(workerJob{
		step: "deliver", name: jobName(p.Run.Run, jobSuffix), namespace: c.Namespace,
		ownerLabel: LabelCampaign, ownerName: c.Name, generation: c.Generation, sequence: sequence,
		env: env, envFrom: envFrom,
		resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
	}, opts)
	if err != nil {
		return nil, err
	}
	job.Labels[labelRun] = p.Run.Run
	job.Spec.Template.Labels[labelRun] = p.Run.Run
	job.Annotations[annotationScheduledAt] = strconv.FormatInt(p.Run.ScheduledAt.Unix(), 10)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Completions = ptr.To(shards)
	job.Spec.Parallelism = ptr.To(shards)
	job.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	// Retries are counted per shard, so that one shard's failures do not end the others.
	job.Spec.BackoffLimitPerIndex = ptr.To(opts.BackoffLimit)
	job.Spec.BackoffLimit = nil
	job.Spec.Suspend = ptr.To(c.Spec.Suspend)
	return job, nil
}

func secretEnv(name, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key,
	}}}
}

// Labels and annotations of delivery Jobs.
const (
	// labelRun names the campaign run a Job delivers.
	labelRun = "cdp.kizuna.dev/run"
	// annotationScheduledAt is the Unix time the run was due.
	annotationScheduledAt = "cdp.kizuna.dev/scheduled-at"
)
