package controllers

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// syncJob builds the Job that syncs a DataSource once; sequence numbers the DataSource's Jobs.
// runSuffix is "g<generation>" for a sync started by a spec change, "r<hash>" for one a
// sync-request annotation asked for, or "t<unix time>" for a scheduled one.
func syncJob(ds *cdpv1alpha1.DataSource, runSuffix string, sequence int64, opts WorkerOptions) (*batchv1.Job, error) {
	var env []corev1.EnvVar
	for _, sk := range worker.SecretKeys(&ds.Spec) {
		env = append(env, corev1.EnvVar{Name: worker.SecretEnvName(sk.Name, sk.Key), ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: sk.Name}, Key: sk.Key},
		}})
	}
	return buildWorkerJob(workerJob{
		step: "sync", name: jobName(ds.Name, "sync-"+runSuffix), namespace: ds.Namespace,
		ownerLabel: LabelDataSource, ownerName: ds.Name, generation: ds.Generation, sequence: sequence,
		payloadEnv: worker.EnvDataSource, spec: ds.Spec, env: env,
		// Only a ConfigMap source reads the API; every other sync runs without a token.
		apiToken: ds.Spec.Source.ConfigMap != nil,
		resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
	}, opts)
}
