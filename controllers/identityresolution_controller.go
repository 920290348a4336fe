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

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=identityresolutions,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=identityresolutions/status,verbs=get;update;patch

// identityResolutionReconciler checks that a resolution's schedule is valid and that every
// DataSource it merges exists and is Ready.
type identityResolutionReconciler struct{ base }

func setupIdentityResolution(mgr ctrl.Manager, b base, opts controller.Options, _ Options) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &cdpv1alpha1.IdentityResolution{},
		indexDataSources, indexBy(resolutionDataSources))
	if err != nil {
		return err
	}
	r := &identityResolutionReconciler{b}
	return ctrl.NewControllerManagedBy(mgr).
		Named("identityresolution").
		For(&cdpv1alpha1.IdentityResolution{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cdpv1alpha1.DataSource{},
			enqueueReferencing(b.Client, &cdpv1alpha1.IdentityResolutionList{}, indexDataSources)).
		WithOptions(opts).
		Complete(r)
}

func (r *identityResolutionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var idr cdpv1alpha1.IdentityResolution
	if err := r.Get(ctx, req.NamespacedName, &idr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := idr.DeepCopy()
	a := assessment{hasReferences: true, spec: validateSchedule("spec.schedule", idr.Spec.Schedule)}
	var f findings
	refs := r.resolver(idr.Namespace)
	for _, src := range idr.Spec.Sources {
		f.add(refs.kizunaObject(ctx, &cdpv1alpha1.DataSource{}, "DataSource", src.Name,
			cdpv1alpha1.ReasonDataSourceNotFound))
	}
	if f.err != nil {
		return ctrl.Result{}, f.err
	}
	a.missing, a.notReady = f.missing, f.notReady
	setConditions(&idr.Status.Conditions, idr.Generation, r.clock.Now(), a)
	return ctrl.Result{}, r.status().commit(ctx, before, &idr)
}
