package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// resolver looks up the objects a resource references, in the resource's namespace, and turns
// what is missing into a problem.
//
// Secrets and ConfigMaps are read straight from the API server (reader is uncached for them): the
// manager watches only their metadata, so that it never keeps every Secret of the cluster in
// memory.
type resolver struct {
	reader    client.Reader
	namespace string
}

// secretKeys checks that a Secret exists and holds every key.
func (r resolver) secretKeys(ctx context.Context, name string, keys ...string) (*problem, error) {
	var secret corev1.Secret
	err := r.reader.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: name}, &secret)
	if apierrors.IsNotFound(err) {
		return &problem{cdpv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %q not found in namespace %q: create it with the keys %v.", name, r.namespace, keys)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get Secret %s: %w", name, err)
	}
	for _, key := range keys {
		if _, ok := secret.Data[key]; !ok {
			if _, ok := secret.StringData[key]; !ok {
				return &problem{cdpv1alpha1.ReasonSecretKeyNotFound,
					fmt.Sprintf("Secret %q has no key %q: add it.", name, key)}, nil
			}
		}
	}
	return nil, nil
}

// configMapKey checks that a ConfigMap exists and holds a key in data or binaryData.
func (r resolver) configMapKey(ctx context.Context, sel cdpv1alpha1.ConfigMapKeySelector) (*problem, error) {
	var cm corev1.ConfigMap
	err := r.reader.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: sel.Name}, &cm)
	if apierrors.IsNotFound(err) {
		return &problem{cdpv1alpha1.ReasonConfigMapNotFound,
			fmt.Sprintf("ConfigMap %q not found in namespace %q: create it with the key %q.", sel.Name, r.namespace, sel.Key)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get ConfigMap %s: %w", sel.Name, err)
	}
	if _, ok := cm.Data[sel.Key]; ok {
		return nil, nil
	}
	if _, ok := cm.BinaryData[sel.Key]; ok {
		return nil, nil
	}
	return &problem{cdpv1alpha1.ReasonConfigMapKeyNotFound,
		fmt.Sprintf("ConfigMap %q has no key %q: add it.", sel.Name, sel.Key)}, nil
}

// kizunaObject fetches a referenced Kizuna resource. It returns a problem with notFoundReason when
// the object does not exist, and a ReferenceNotReady problem as notReady when it is not Ready.
func (r resolver) kizunaObject(ctx context.Context, obj conditionedObject, kind, name, notFoundReason string) (missing, notReady *problem, err error) {
	err = r.reader.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return &problem{notFoundReason,
			fmt.Sprintf("%s %q not found in namespace %q: create it or fix the reference.", kind, name, r.namespace)}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	if !meta.IsStatusConditionTrue(*obj.StatusConditions(), cdpv1alpha1.ConditionReady) {
		reason := "it has not been reconciled yet"
		if c := meta.FindStatusCondition(*obj.StatusConditions(), cdpv1alpha1.ConditionReady); c != nil {
			reason = c.Reason + ": " + c.Message
		}
		return nil, &problem{cdpv1alpha1.ReasonReferenceNotReady,
			fmt.Sprintf("%s %q is not Ready (%s)", kind, name, reason)}, nil
	}
	return nil, nil, nil
}

// findings gathers the results of several reference checks, keeping the first problem of each
// kind, so that a condition reports one thing to fix at a time in a stable order.
type findings struct {
	missing, notReady *problem
	err               error
}

func (f *findings) add(missing, notReady *problem, err error) {
	if f.err == nil {
		f.err = err
	}
	if f.missing == nil {
		f.missing = missing
	}
	if f.notReady == nil {
		f.notReady = notReady
	}
}

// sortedUnique returns the distinct non-empty names in order, for index keys.
func sortedUnique(names []string) []string {
	out := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}
