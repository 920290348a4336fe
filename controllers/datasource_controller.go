package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=datasources,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=datasources/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete

// dataSourceReconciler checks that a DataSource's schedule is valid and that the Secrets and
// ConfigMaps it reads exist with the keys it needs, runs its sync Jobs, and reflects their runs,
// read from the store, into status.
type dataSourceReconciler struct {
	base
	store   store.Store
	workers WorkerOptions
}

func setupDataSource(mgr ctrl.Manager, b base, opts controller.Options, o Options) error {
	indexer := mgr.GetFieldIndexer()
	ctx := context.Background()
	if err := indexer.IndexField(ctx, &cdpv1alpha1.DataSource{}, indexSecrets, indexBy(dataSourceSecrets)); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &cdpv1alpha1.DataSource{}, indexConfigMaps, indexBy(dataSourceConfigMaps)); err != nil {
		return err
	}
	r := &dataSourceReconciler{base: b, store: o.Store, workers: o.Workers}
	return ctrl.NewControllerManagedBy(mgr).
		Named("datasource").
		// A changed sync-request annotation asks for a sync, so annotation changes count too.
		For(&cdpv1alpha1.DataSource{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{}).
		WatchesMetadata(&corev1.Secret{}, enqueueReferencing(b.Client, &cdpv1alpha1.DataSourceList{}, indexSecrets)).
		WatchesMetadata(&corev1.ConfigMap{}, enqueueReferencing(b.Client, &cdpv1alpha1.DataSourceList{}, indexConfigMaps)).
		WithOptions(opts).
		Complete(r)
}

func (r *dataSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ds cdpv1alpha1.DataSource
	if err := r.Get(ctx, req.NamespacedName, &ds); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := ds.DeepCopy()
	a, err := r.assess(ctx, &ds)
	if err != nil {
		return ctrl.Result{}, err
	}
	setConditions(&ds.Status.Conditions, ds.Generation, r.clock.Now(), a)
	result, syncErr := r.reconcileSync(ctx, &ds, a.ready())
	if err := r.status().commit(ctx, before, &ds); err != nil {
		return ctrl.Result{}, err
	}
	if syncErr != nil {
		return ctrl.Result{}, syncErr
	}
	return result, nil
}

func (r *dataSourceReconciler) assess(ctx context.Context, ds *cdpv1alpha1.DataSource) (assessment, error) {
	a := assessment{hasReferences: true, spec: validateDataSource(ds)}
	resolve := r.secretResolver(ds.Namespace)
	var checks []func() (*problem, error)
	for _, sk := range worker.SecretKeys(&ds.Spec) {
		checks = append(checks, func() (*problem, error) { return resolve.secretKeys(ctx, sk.Name, sk.Key) })
	}
	if c := ds.Spec.Source.Collector; c != nil {
		checks = append(checks, func() (*problem, error) {
			return resolve.secretKeys(ctx, c.WriteKeySecretRef.Name, c.WriteKeySecretRef.Key)
		})
	}
	if sel := ds.Spec.Source.ConfigMap; sel != nil {
		checks = append(checks, func() (*problem, error) { return resolve.configMapKey(ctx, *sel) })
	}
	for _, check := range checks {
		p, err := check()
		if err != nil {
			return assessment{}, err
		}
		if p != nil {
			a.missing = p
			break
		}
	}
	return a, nil
}

// validateDataSource checks what admission cannot: the schedule's meaning and time-zone names.
func validateDataSource(ds *cdpv1alpha1.DataSource) *problem {
	if p := validateSchedule("spec.schedule", ds.Spec.Schedule); p != nil {
		return p
	}
	zones := map[string]string{}
	for i, attr := range ds.Spec.Attributes {
		zones[fmt.Sprintf("spec.attributes[%d].timeZone", i)] = attr.TimeZone
	}
	if ev := ds.Spec.Event; ev != nil {
		zones["spec.event.timestamp.timeZone"] = ev.Timestamp.TimeZone
		for i, prop := range ev.Properties {
			zones[fmt.Sprintf("spec.event.properties[%d].timeZone", i)] = prop.TimeZone
		}
	}
	return validateTimeZones(zones)
}

// validateSchedule checks a schedule's cron expression and time zone.
func validateSchedule(field string, s *cdpv1alpha1.Schedule) *problem {
	if s == nil {
		return nil
	}
	if _, err := schedule.LoadLocation(s.TimeZone); err != nil {
		return &problem{cdpv1alpha1.ReasonInvalidTimeZone, fmt.Sprintf("%s.timeZone: %v.", field, err)}
	}
	if _, err := schedule.Parse(s.Cron, s.TimeZone); err != nil {
		return &problem{cdpv1alpha1.ReasonInvalidSchedule, fmt.Sprintf("%s.cron: %v.", field, err)}
	}
	return nil
}

// validateTimeZones checks time-zone names keyed by their field path; it reports the first bad
// one in path order, so the message is stable.
func validateTimeZones(zones map[string]string) *problem {
	for _, field := range slices.Sorted(maps.Keys(zones)) {
		if zone := zones[field]; zone != "" {
			if _, err := schedule.LoadLocation(zone); err != nil {
				return &problem{cdpv1alpha1.ReasonInvalidTimeZone, fmt.Sprintf("%s: %v.", field, err)}
			}
		}
	}
	return nil
}
