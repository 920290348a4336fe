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

// syncJob builds the Job that syncs a DataSource once; sequence numbers the DataSource's Jobs. It is
// a pure function of its inputs: runSuffix is "g<generation>" for a sync started by a spec change, or "t<unix time>" for a
// scheduled one, so that the Job's name, which is also the run's ID in the store, is the same
// however often the controller tries to create it.
func syncJob(ds *cdpv1alpha1.DataSource, runSuffix string, sequence int64, opts WorkerOptions) (*batchv1.Job, error) {
	name := jobName(ds.Name, "sync-"+runSuffix)
	payload, err := json.Marshal(struct {
		Name       string                     `json:"name"`
		Namespace  string                     `json:"namespace"`
		Generation int64                      `json:"generation"`
		Spec       cdpv1alpha1.DataSourceSpec `json:"spec"`
	}{ds.Name, ds.Namespace, ds.Generation, ds.Spec})
	if err != nil {
		return nil, fmt.Errorf("encode the spec of DataSource %s: %w", ds.Name, err)
	}

	env := []corev1.EnvVar{
		{Name: worker.EnvDataSource, Value: string(payload)},
		{Name: worker.EnvRunID, Value: name},
		opts.storeEnv(worker.EnvStoreDSN),
	}
	for _, sk := range worker.SecretKeys(&ds.Spec) {
		env = append(env, corev1.EnvVar{Name: worker.SecretEnvName(sk.Name, sk.Key), ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: sk.Name}, Key: sk.Key},
		}})
	}

	labels := map[string]string{
		labelName:       "kizuna",
		labelComponent:  "sync",
		labelManagedBy:  "kizuna-manager",
		LabelDataSource: ds.Name,
		labelGeneration: strconv.FormatInt(ds.Generation, 10),
	}
	podSecurity, containerSecurity := restrictedSecurityContext()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ds.Namespace, Labels: labels,
			Annotations: map[string]string{annotationSequence: strconv.FormatInt(sequence, 10)}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(opts.BackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: opts.ServiceAccountName,
					// Only a ConfigMap source reads the API; every other sync runs without a token.
					AutomountServiceAccountToken: ptr.To(ds.Spec.Source.ConfigMap != nil),
					SecurityContext:              podSecurity,
					Containers: []corev1.Container{{
						Name:            "sync",
						Image:           opts.Image,
						Args:            []string{"worker", "sync"},
						Env:             env,
						SecurityContext: containerSecurity,
						// Downloads are spooled to a temporary folder.
						VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
						},
					}},
					Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	return job, nil
}
