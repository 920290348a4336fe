package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// conditionedObject is a Kizuna resource whose status carries conditions.
type conditionedObject interface {
	client.Object
	StatusConditions() *[]metav1.Condition
	SetObservedGeneration(int64)
}

// problem is something that keeps an object from being Ready: a condition reason and a message
// that says what is wrong and what to do. Messages hold no volatile text (times, counters), so
// that an unchanged world writes an unchanged status.
type problem struct {
	Reason  string
	Message string
}

func (p *problem) Error() string { return p.Reason + ": " + p.Message }

// assessment is what a reconciler found out about an object.
type assessment struct {
	// spec is set when the spec is invalid in a way admission could not check.
	spec *problem
	// hasReferences is false for kinds that reference nothing; they get no ReferencesResolved.
	hasReferences bool
	// missing is set when a referenced object does not exist.
	missing *problem
	// notReady is set when a referenced object exists but is not Ready.
	notReady *problem
}

// ready says whether the assessment finds nothing in the way.
func (a assessment) ready() bool { return a.spec == nil && a.missing == nil && a.notReady == nil }

// setConditions writes the SpecValid, ReferencesResolved and Ready conditions of an assessment.
// Conditions whose status does not change keep their lastTransitionTime.
func setConditions(conditions *[]metav1.Condition, generation int64, now time.Time, a assessment) {
	set := func(condType string, status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type:               condType,
			Status:             status,
			Reason:             reason,
			Message:            message,
			ObservedGeneration: generation,
			LastTransitionTime: metav1.NewTime(now),
		})
	}

	if a.spec != nil {
		set(cdpv1alpha1.ConditionSpecValid, metav1.ConditionFalse, a.spec.Reason, a.spec.Message)
	} else {
		set(cdpv1alpha1.ConditionSpecValid, metav1.ConditionTrue, cdpv1alpha1.ReasonValid, "The spec is valid.")
	}

	if a.hasReferences {
		if a.missing != nil {
			set(cdpv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, a.missing.Reason, a.missing.Message)
		} else {
			set(cdpv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue, cdpv1alpha1.ReasonResolved,
				"Every referenced object exists.")
		}
	}

	switch {
	case a.spec != nil:
		set(cdpv1alpha1.ConditionReady, metav1.ConditionFalse, a.spec.Reason, a.spec.Message)
	case a.missing != nil:
		set(cdpv1alpha1.ConditionReady, metav1.ConditionFalse, a.missing.Reason, a.missing.Message)
	case a.notReady != nil:
		set(cdpv1alpha1.ConditionReady, metav1.ConditionFalse, a.notReady.Reason, a.notReady.Message)
	default:
		set(cdpv1alpha1.ConditionReady, metav1.ConditionTrue, cdpv1alpha1.ReasonReady, "Ready.")
	}
}

// statusWriter writes an object's status once per reconcile, only when it changed, and records an
// event when Ready changes, after the write succeeded.
type statusWriter struct {
	client   client.Client
	recorder recorder.EventRecorder
}

// commit patches the status of obj from before to obj. before is the object as read.
func (w statusWriter) commit(ctx context.Context, before, obj conditionedObject) error {
	obj.SetObservedGeneration(obj.GetGeneration())
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	if err := w.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("write status of %s: %w", obj.GetName(), err)
	}

	was := meta.FindStatusCondition(*before.StatusConditions(), cdpv1alpha1.ConditionReady)
	now := meta.FindStatusCondition(*obj.StatusConditions(), cdpv1alpha1.ConditionReady)
	if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
		return nil
	}
	eventType := corev1.EventTypeNormal
	if now.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	w.recorder.Eventf(obj, nil, eventType, now.Reason, "Reconcile", "%s", now.Message)
	return nil
}
