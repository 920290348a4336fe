package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=deliverypolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=deliverypolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=campaigns,verbs=get;list;watch

// deliveryPolicyReconciler checks the parts of a DeliveryPolicy admission cannot: time-zone names;
// and reflects what the caps and quiet hours of its namespace held back into status
// (delivery_totals.go).
type deliveryPolicyReconciler struct {
	base
	store store.Store
}

func setupDeliveryPolicy(mgr ctrl.Manager, b base, opts controller.Options, o Options) error {
	r := &deliveryPolicyReconciler{base: b, store: o.Store}
	bld := ctrl.NewControllerManagedBy(mgr).
		Named("deliverypolicy").
		For(&cdpv1alpha1.DeliveryPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	if o.Store != nil {
		bld = bld.Watches(&cdpv1alpha1.Campaign{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfCampaign),
			builder.WithPredicates(campaignCountsChanged))
	}
	return bld.WithOptions(opts).Complete(r)
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
	result, countErr := refreshTotals(ctx, r.store, &dp, setPolicyCounts)
	if err := r.status().commit(ctx, before, &dp); err != nil {
		return ctrl.Result{}, err
	}
	return result, countErr
}

// policiesOfCampaign lists the DeliveryPolicies of a Campaign's namespace: their counts are the
// namespace's, whichever policy the campaign follows.
func (r *deliveryPolicyReconciler) policiesOfCampaign(ctx context.Context, obj client.Object) []reconcile.Request {
	var policies cdpv1alpha1.DeliveryPolicyList
	if err := r.List(ctx, &policies, client.InNamespace(obj.GetNamespace())); err != nil {
		logf.FromContext(ctx).Error(err, "list delivery policies", "namespace", obj.GetNamespace())
		return nil
	}
	requests := make([]reconcile.Request, 0, len(policies.Items))
	for _, p := range policies.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
	}
	return requests
}
