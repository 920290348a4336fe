package controllers

import (
	"encoding/json"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// resolveJob builds the Job that resolves an IdentityResolution once; sequence numbers the
// resolution's Jobs. It is a pure function of its inputs: runSuffix is "g<generation>-<input
// fingerprint>" for a run started by a spec or data change, or "t<unix time>" for a scheduled
// one, so that the Job's name, which is also the run's ID in the store, is the same however often
// the controller tries to create it.
func resolveJob(idr *cdpv1alpha1.IdentityResolution, runSuffix string, sequence int64, opts WorkerOptions) (*batchv1.Job, error) {
	name := jobName(idr.Name, "resolve-"+runSuffix)
	payload, err := json.Marshal(struct {
		Name       string                             `json:"name"`
		Namespace  string                             `json:"namespace"`
		Generation int64                              `json:"generation"`
		Spec       cdpv1alpha1.IdentityResolutionSpec `json:"spec"`
	}{idr.Name, idr.Namespace, idr.Generation, idr.Spec})
	if err != nil {
		return nil, fmt.Errorf("encode the spec of IdentityResolution %s: %w", idr.Name, err)
	}

	env := []corev1.EnvVar{
		{Name: worker.EnvResolution, Value: string(payload)},
		{Name: worker.EnvRunID, Value: name},
		opts.storeEnv(worker.EnvStoreDSN),
	}
	labels := map[string]string{
		labelName:               "kizuna",
		labelComponent:          "resolve",
		labelManagedBy:          "kizuna-manager",
		LabelIdentityResolution: idr.Name,
		labelGeneration:         strconv.FormatInt(idr.Generation, 10),
	}
	podSecurity, containerSecurity := restrictedSecurityContext()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: idr.Namespace, Labels: labels,
			Annotations: map[string]string{annotationSequence: strconv.FormatInt(sequence, 10)}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(opts.BackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: opts.ServiceAccountName,
					// The worker reads and writes only the store: it never calls the API.
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podSecurity,
					Containers: []corev1.Container{{
						Name:            "resolve",
						Image:           opts.Image,
						Args:            []string{"worker", "resolve"},
						Env:             env,
						SecurityContext: containerSecurity,
						VolumeMounts:    []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
						// Resolution holds every live record of the sources and the published
						// profiles in memory.
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
						},
					}},
					Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	return job, nil
}
