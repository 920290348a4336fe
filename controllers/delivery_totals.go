package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// What a namespace delivered, in the status of its Channels and DeliveryPolicies. The store keeps
// running totals of the ledger's outcomes per channel, policy and state, added to as each outcome is
// recorded. The Campaign controller copies a run's counts into the Campaign's status as the run
// progresses; a change of those counts wakes the Channels of the campaign's steps and the
// DeliveryPolicies of its namespace, which read the totals again.

// totalsRefreshInterval is how often a Channel or DeliveryPolicy reads the totals when no
// Campaign wakes it: for outcomes no Campaign's status reflects (a Campaign deleted before its
// Job finished, a `kizuna run --send`).
const totalsRefreshInterval = time.Minute

// refreshTotals reads the totals of obj's namespace into its status with set and says when to
// read them again. Without a store it leaves the status alone.
func refreshTotals[T client.Object](ctx context.Context, s store.Store, obj T, set func(T, []store.DeliveryTotal)) (ctrl.Result, error) {
	if s == nil {
		return ctrl.Result{}, nil
	}
	totals, err := s.DeliveryTotals(ctx, obj.GetNamespace())
	if err != nil {
		return ctrl.Result{}, err
	}
	set(obj, totals)
	return ctrl.Result{RequeueAfter: totalsRefreshInterval}, nil
}

// setChannelCounts sets what a channel sent and failed to send, and when it last sent, from its
// namespace's totals.
func setChannelCounts(ch *cdpv1alpha1.Channel, totals []store.DeliveryTotal) {
	ch.Status.MessagesSent, ch.Status.MessagesFailed = 0, 0
	var last time.Time
	for _, t := range totals {
		if t.Channel != ch.Name {
			continue
		}
		switch t.State {
		case store.DeliverySent:
			ch.Status.MessagesSent += t.Count
			if t.Last.After(last) {
				last = t.Last
			}
		case store.DeliveryFailed:
			ch.Status.MessagesFailed += t.Count
		}
	}
	// Kept when the totals have no time: counts from before the store kept one.
	if !last.IsZero() {
		ch.Status.LastSendTime = &metav1.Time{Time: last}
	}
}

// setPolicyCounts sets what the policy's caps and quiet hours held back, over all channels.
func setPolicyCounts(dp *cdpv1alpha1.DeliveryPolicy, totals []store.DeliveryTotal) {
	dp.Status.Capped, dp.Status.Deferred = 0, 0
	for _, t := range totals {
		if t.Policy != dp.Name {
			continue
		}
		switch t.State {
		case store.DeliveryCapped:
			dp.Status.Capped += t.Count
		case store.DeliveryDeferred:
			dp.Status.Deferred += t.Count
		}
	}
}

// campaignCountsChanged passes the updates of a Campaign whose ledger counts in status changed:
// outcomes were recorded since the Campaign controller last copied them. Creations and
// deletions change no totals (the ledger outlives a Campaign).
var campaignCountsChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*cdpv1alpha1.Campaign)
		updated, okNew := e.ObjectNew.(*cdpv1alpha1.Campaign)
		if !okOld || !okNew {
			return false
		}
		return !equality.Semantic.DeepEqual(old.Status.Totals, updated.Status.Totals) ||
			!equality.Semantic.DeepEqual(old.Status.LastRun, updated.Status.LastRun)
	},
}

// channelsOfCampaign maps a Campaign to the Channels its steps send through.
func channelsOfCampaign(_ context.Context, obj client.Object) []reconcile.Request {
	c, ok := obj.(*cdpv1alpha1.Campaign)
	if !ok {
		return nil
	}
	names := campaignChannels(c)
	requests := make([]reconcile.Request, 0, len(names))
	for _, name := range names {
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: name}})
	}
	return requests
}

// ignoreDeliveryCounts drops the updates of a Channel or DeliveryPolicy that changed nothing but
// its delivery counts: no Campaign reads them, and they change as often as runs progress.
var ignoreDeliveryCounts = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool { return !onlyCountsChanged(e.ObjectOld, e.ObjectNew) },
}

// onlyCountsChanged says whether updated differs from old in its delivery counts and in nothing
// else (but the resource version and managed fields that every write changes).
func onlyCountsChanged(old, updated client.Object) bool {
	countsOld, restOld, okOld := splitCounts(old)
	countsNew, restNew, okNew := splitCounts(updated)
	return okOld && okNew && countsOld != countsNew && equality.Semantic.DeepEqual(restOld, restNew)
}

// splitCounts returns the delivery counts of a Channel or DeliveryPolicy, and a copy of it
// without them, its resource version or its managed fields; false for another kind.
func splitCounts(obj client.Object) (counts [2]int64, rest client.Object, ok bool) {
	switch x := obj.(type) {
	case *cdpv1alpha1.Channel:
		c := x.DeepCopy()
		counts = [2]int64{c.Status.MessagesSent, c.Status.MessagesFailed}
		// The last send time moves with the sent count.
		c.Status.MessagesSent, c.Status.MessagesFailed, c.Status.LastSendTime = 0, 0, nil
		rest = c
	case *cdpv1alpha1.DeliveryPolicy:
		c := x.DeepCopy()
		counts = [2]int64{c.Status.Capped, c.Status.Deferred}
		c.Status.Capped, c.Status.Deferred = 0, 0
		rest = c
	default:
		return counts, nil, false
	}
	rest.SetResourceVersion("")
	rest.SetManagedFields(nil)
	return counts, rest, true
}
