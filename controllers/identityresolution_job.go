package controllers

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// resolveJob builds the Job that resolves an IdentityResolution once; sequence numbers the
// resolution's Jobs. runSuffix is "g<generation>-<input fingerprint>" for a run started by a spec
// or data change, or "t<unix time>" for a scheduled one.
func resolveJob(idr *cdpv1alpha1.IdentityResolution, runSuffix string, sequence int64, opts WorkerOptions) (*batchv1.Job, error) {
	return buildWorkerJob(workerJob{
		step: "resolve", name: jobName(idr.Name, "resolve-"+runSuffix), namespace: idr.Namespace,
		ownerLabel: LabelIdentityResolution, ownerName: idr.Name, generation: idr.Generation, sequence: sequence,
		payloadEnv: worker.EnvResolution, spec: idr.Spec,
		// The worker reads and writes only the store: it never calls the API.
		apiToken: false,
		// Resolution holds every live record of the sources in memory; the worker sets Go's
		// soft memory limit to 90% of the container's.
		resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
		},
	}, opts)
}
