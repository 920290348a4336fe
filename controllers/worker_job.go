package controllers

import (
	"encoding/json"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// workerJob is what differs between the Jobs that run `kizuna worker <step>`: everything else
// (security context, restart policy, the store's environment, labels, the sequence annotation)
// is the same for every step, and buildWorkerJob writes it once.
type workerJob struct {
	// step is the worker's subcommand, also the container's name and the component label.
	step string
	// name and namespace of the Job; the name is also the run's ID in the store.
	name, namespace string
	// ownerLabel is the label naming the resource the Job works for.
	ownerLabel, ownerName string
	generation, sequence  int64
	// payloadEnv receives the resource (name, namespace, generation and spec) as JSON; a step
	// with a payload of its own passes it in env instead and leaves payloadEnv empty.
	payloadEnv string
	spec       any
	// env are further variables, such as one per Secret key.
	env []corev1.EnvVar
	// envFrom passes Secrets whole, each key a variable.
	envFrom []corev1.EnvFromSource
	// apiToken mounts the service account's token, for a step that reads the API.
	apiToken  bool
	resources corev1.ResourceRequirements
}

// buildWorkerJob builds the Job. It is a pure function of its inputs, so that the Job's name
// and content are the same however often a controller tries to create it.
func buildWorkerJob(w workerJob, opts WorkerOptions) (*batchv1.Job, error) {
	env := []corev1.EnvVar{{Name: worker.EnvRunID, Value: w.name}, opts.storeEnv(worker.EnvStoreDSN)}
	if w.payloadEnv != "" {
		payload, err := json.Marshal(struct {
			Name       string `json:"name"`
			Namespace  string `json:"namespace"`
			Generation int64  `json:"generation"`
			Spec       any    `json:"spec"`
		}{w.ownerName, w.namespace, w.generation, w.spec})
		if err != nil {
			return nil, fmt.Errorf("encode the spec of %s: %w", w.ownerName, err)
		}
		env = append([]corev1.EnvVar{{Name: w.payloadEnv, Value: string(payload)}}, env...)
	}
	env = append(env, w.env...)
	labels := map[string]string{
		labelName:       "kizuna",
		labelComponent:  w.step,
		labelManagedBy:  "kizuna-manager",
		w.ownerLabel:    w.ownerName,
		labelGeneration: strconv.FormatInt(w.generation, 10),
	}
	podSecurity, containerSecurity := restrictedSecurityContext()
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.namespace, Labels: labels,
			Annotations: map[string]string{annotationSequence: strconv.FormatInt(w.sequence, 10)}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(opts.BackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           opts.ServiceAccountName,
					AutomountServiceAccountToken: ptr.To(w.apiToken),
					SecurityContext:              podSecurity,
					Containers: []corev1.Container{{
						Name:            w.step,
						Image:           opts.Image,
						Args:            []string{"worker", w.step},
						EnvFrom:         w.envFrom,
						Env:             env,
						SecurityContext: containerSecurity,
						// Downloads are spooled and sorts spill to a temporary folder.
						VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
						Resources:    w.resources,
					}},
					Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}, nil
}
