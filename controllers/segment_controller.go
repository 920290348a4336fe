package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=segments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=segments/finalizers,verbs=update
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=segments/status,verbs=get;update;patch

// segmentReconciler checks a Segment's schedule, that the segments its rule refers to form no
// cycle and select from the same resolution, and that its references exist and are Ready; then
// evaluates it (segment_evaluation.go) when what it depends on changed, and reflects the
// evaluation into status.
type segmentReconciler struct {
	base
	store store.Store
}

func setupSegment(mgr ctrl.Manager, b base, opts controller.Options, o Options) error {
	indexer := mgr.GetFieldIndexer()
	ctx := context.Background()
	err := indexer.IndexField(ctx, &cdpv1alpha1.Segment{}, indexResolution,
		indexBy(func(s *cdpv1alpha1.Segment) []string { return []string{s.Spec.ResolutionRef.Name} }))
	if err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &cdpv1alpha1.Segment{}, indexSegments, indexBy(segmentReferencedSegments)); err != nil {
		return err
	}
	r := &segmentReconciler{base: b, store: o.Store}
	return ctrl.NewControllerManagedBy(mgr).
		Named("segment").
		For(&cdpv1alpha1.Segment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cdpv1alpha1.IdentityResolution{},
			enqueueReferencing(b.Client, &cdpv1alpha1.SegmentList{}, indexResolution)).
		Watches(&cdpv1alpha1.Segment{},
			enqueueReferencing(b.Client, &cdpv1alpha1.SegmentList{}, indexSegments)).
		// A sync of events may change any behavioural segment of the namespace.
		Watches(&cdpv1alpha1.DataSource{}, handler.EnqueueRequestsFromMapFunc(r.segmentsOfEventSource)).
		WithOptions(opts).
		Complete(r)
}

func (r *segmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var seg cdpv1alpha1.Segment
	if err := r.Get(ctx, req.NamespacedName, &seg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.store != nil {
		if !seg.DeletionTimestamp.IsZero() {
			return ctrl.Result{}, r.forget(ctx, &seg)
		}
		if err := r.keepUntilForgotten(ctx, &seg); err != nil {
			return ctrl.Result{}, err
		}
	}
	before := seg.DeepCopy()
	a, err := r.assess(ctx, &seg)
	if err != nil {
		return ctrl.Result{}, err
	}
	setConditions(&seg.Status.Conditions, seg.Generation, r.clock.Now(), a)
	result := ctrl.Result{}
	var evalErr error
	if r.store != nil {
		result, evalErr = r.evaluateIfDue(ctx, &seg, a.ready())
	}
	if err := r.status().commit(ctx, before, &seg); err != nil {
		return ctrl.Result{}, err
	}
	return result, evalErr
}

// keepUntilForgotten adds the finalizer that lets forget run before the segment goes.
func (r *segmentReconciler) keepUntilForgotten(ctx context.Context, seg *cdpv1alpha1.Segment) error {
	if controllerutil.ContainsFinalizer(seg, cdpv1alpha1.SegmentDataFinalizer) {
		return nil
	}
	// The optimistic lock keeps a concurrent writer's finalizers: a merge patch replaces the list.
	patch := client.MergeFromWithOptions(seg.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(seg, cdpv1alpha1.SegmentDataFinalizer)
	if err := r.Patch(ctx, seg, patch); err != nil {
		return fmt.Errorf("add finalizer to segment %s: %w", seg.Name, err)
	}
	return nil
}

// forget deletes a deleted segment's members, history and evaluations from the store, then
// lets Kubernetes remove it. Segments that refer to it become not Ready (SegmentNotFound).
func (r *segmentReconciler) forget(ctx context.Context, seg *cdpv1alpha1.Segment) error {
	if !controllerutil.ContainsFinalizer(seg, cdpv1alpha1.SegmentDataFinalizer) {
		return nil
	}
	if err := r.store.DeleteSegment(ctx, seg.Namespace, seg.Name); err != nil {
		return fmt.Errorf("delete segment %s/%s from the store: %w", seg.Namespace, seg.Name, err)
	}
	patch := client.MergeFromWithOptions(seg.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(seg, cdpv1alpha1.SegmentDataFinalizer)
	if err := r.Patch(ctx, seg, patch); err != nil {
		return fmt.Errorf("remove finalizer from segment %s: %w", seg.Name, err)
	}
	return nil
}

// segmentsOfEventSource lists the segments of an Events DataSource's namespace.
func (r *segmentReconciler) segmentsOfEventSource(ctx context.Context, obj client.Object) []reconcile.Request {
	ds, ok := obj.(*cdpv1alpha1.DataSource)
	if !ok || ds.Spec.Type != cdpv1alpha1.DataSourceEvents {
		return nil
	}
	var segments cdpv1alpha1.SegmentList
	if err := r.List(ctx, &segments, client.InNamespace(ds.Namespace)); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(segments.Items))
	for _, s := range segments.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
	}
	return requests
}

func (r *segmentReconciler) assess(ctx context.Context, seg *cdpv1alpha1.Segment) (assessment, error) {
	a := assessment{hasReferences: true, spec: validateSchedule("spec.schedule", seg.Spec.Schedule)}

	var all cdpv1alpha1.SegmentList
	if err := r.List(ctx, &all, client.InNamespace(seg.Namespace)); err != nil {
		return assessment{}, fmt.Errorf("list segments: %w", err)
	}
	byName := make(map[string]*cdpv1alpha1.Segment, len(all.Items))
	edges := make(map[string][]string, len(all.Items))
	for i := range all.Items {
		s := &all.Items[i]
		byName[s.Name] = s
		edges[s.Name] = segmentReferencedSegments(s)
	}
	// The segment being reconciled may be newer than the cache's copy of itself.
	edges[seg.Name] = segmentReferencedSegments(seg)

	if a.spec == nil {
		if cycle := findCycle(seg.Name, edges); cycle != nil {
			a.spec = &problem{cdpv1alpha1.ReasonSegmentCycle,
				fmt.Sprintf("spec.rule: segments refer to each other in a cycle (%s): remove one of the segment conditions.",
					strings.Join(cycle, " -> "))}
		}
	}

	var f findings
	refs := r.resolver(seg.Namespace)
	f.add(refs.kizunaObject(ctx, &cdpv1alpha1.IdentityResolution{}, "IdentityResolution",
		seg.Spec.ResolutionRef.Name, cdpv1alpha1.ReasonIdentityResolutionNotFound))
	for _, name := range edges[seg.Name] {
		other, ok := byName[name]
		if !ok {
			f.add(&problem{cdpv1alpha1.ReasonSegmentNotFound,
				fmt.Sprintf("Segment %q named in spec.rule not found in namespace %q: create it or fix the rule.", name, seg.Namespace)}, nil, nil)
			continue
		}
		if a.spec == nil && other.Spec.ResolutionRef.Name != seg.Spec.ResolutionRef.Name {
			a.spec = &problem{cdpv1alpha1.ReasonSegmentResolutionMismatch,
				fmt.Sprintf("spec.rule: Segment %q selects from IdentityResolution %q but this segment selects from %q: membership can only be tested within one resolution.",
					name, other.Spec.ResolutionRef.Name, seg.Spec.ResolutionRef.Name)}
		}
		if name != seg.Name {
			f.add(refs.kizunaObject(ctx, &cdpv1alpha1.Segment{}, "Segment", name, cdpv1alpha1.ReasonSegmentNotFound))
		}
	}
	if f.err != nil {
		return assessment{}, f.err
	}
	a.missing, a.notReady = f.missing, f.notReady
	return a, nil
}

// findCycle returns a path start -> ... -> start through edges, or nil when start is on no cycle.
// Among several cycles it returns the one found first in name order, so the message is stable.
func findCycle(start string, edges map[string][]string) []string {
	var path []string
	onPath := map[string]bool{}
	done := map[string]bool{}
	var visit func(node string) []string
	visit = func(node string) []string {
		if node == start && len(path) > 0 {
			return append(slices.Clone(path), start)
		}
		if onPath[node] || done[node] {
			return nil
		}
		onPath[node] = true
		path = append(path, node)
		next := slices.Clone(edges[node])
		slices.Sort(next)
		for _, n := range next {
			if cycle := visit(n); cycle != nil {
				return cycle
			}
		}
		path = path[:len(path)-1]
		onPath[node] = false
		done[node] = true
		return nil
	}
	return visit(start)
}
