package controllers

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=identityresolutions,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=identityresolutions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete;patch

// identityResolutionReconciler checks that a resolution's schedule is valid and that every
// DataSource it merges exists and is Ready, runs its resolution Jobs, and reflects their runs,
// read from the store, into status.
type identityResolutionReconciler struct {
	base
	store   store.Store
	workers WorkerOptions
}

func setupIdentityResolution(mgr ctrl.Manager, b base, opts controller.Options, o Options) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &cdpv1alpha1.IdentityResolution{},
		indexDataSources, indexBy(resolutionDataSources))
	if err != nil {
		return err
	}
	r := &identityResolutionReconciler{base: b, store: o.Store, workers: o.Workers}
	return ctrl.NewControllerManagedBy(mgr).
		Named("identityresolution").
		For(&cdpv1alpha1.IdentityResolution{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&batchv1.Job{}).
		// Every change to a source counts, its status too: a finished sync is new input.
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
	sources := make([]*cdpv1alpha1.DataSource, 0, len(idr.Spec.Sources))
	for _, src := range idr.Spec.Sources {
		ds := &cdpv1alpha1.DataSource{}
		f.add(refs.kizunaObject(ctx, ds, "DataSource", src.Name, cdpv1alpha1.ReasonDataSourceNotFound))
		sources = append(sources, ds)
	}
	if f.err != nil {
		return ctrl.Result{}, f.err
	}
	a.missing, a.notReady = f.missing, f.notReady
	setConditions(&idr.Status.Conditions, idr.Generation, r.clock.Now(), a)
	result, done, runErr := r.reconcileResolution(ctx, &idr, sources, a.ready())
	if err := r.status().commit(ctx, before, &idr); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.announce(ctx, &idr, done); err != nil {
		return ctrl.Result{}, err
	}
	if runErr != nil {
		return ctrl.Result{}, runErr
	}
	return result, nil
}
