package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=deliverypolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=deliverypolicies/status,verbs=get;update;patch

// deliveryPolicyReconciler checks the parts of a DeliveryPolicy admission cannot: time-zone names.
type deliveryPolicyReconciler struct{ base }

func setupDeliveryPolicy(mgr ctrl.Manager, b base, opts controller.Options, _ Options) error {
	r := &deliveryPolicyReconciler{b}
	return ctrl.NewControllerManagedBy(mgr).
		Named("deliverypolicy").
		For(&cdpv1alpha1.DeliveryPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Complete(r)
}

func (r *deliveryPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dp cdpv1alpha1.DeliveryPolicy
	if err := r.Get(ctx, req.NamespacedName, &dp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := dp.DeepCopy()
	a := assessment{}
	if qh := dp.Spec.QuietHours; qh != nil {
		a.spec = validateTimeZones(map[string]string{"spec.quietHours.defaultTimeZone": qh.DefaultTimeZone})
	}
	setConditions(&dp.Status.Conditions, dp.Generation, r.clock.Now(), a)
	return ctrl.Result{}, r.status().commit(ctx, before, &dp)
}
