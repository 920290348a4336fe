package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=channels,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=channels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=campaigns,verbs=get;list;watch

// channelReconciler checks that the Secrets holding a Channel's credentials exist with the keys
// its provider needs, and reflects what the channel sent and failed to send into status
// (delivery_totals.go).
type channelReconciler struct {
	base
	store store.Store
}

func setupChannel(mgr ctrl.Manager, b base, opts controller.Options, o Options) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &cdpv1alpha1.Channel{}, indexSecrets, indexBy(channelSecrets))
	if err != nil {
		return err
	}
	r := &channelReconciler{base: b, store: o.Store}
	bld := ctrl.NewControllerManagedBy(mgr).
		Named("channel").
		For(&cdpv1alpha1.Channel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, enqueueReferencing(b.Client, &cdpv1alpha1.ChannelList{}, indexSecrets))
	if o.Store != nil {
		bld = bld.Watches(&cdpv1alpha1.Campaign{}, handler.EnqueueRequestsFromMapFunc(channelsOfCampaign),
			builder.WithPredicates(campaignCountsChanged))
	}
	return bld.WithOptions(opts).Complete(r)
}

func (r *channelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ch cdpv1alpha1.Channel
	if err := r.Get(ctx, req.NamespacedName, &ch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := ch.DeepCopy()
	a := assessment{hasReferences: true}
	secrets := r.secretResolver(ch.Namespace)
	for _, need := range channelSecretKeys(&ch) {
		p, err := secrets.secretKeys(ctx, need.secret, need.keys...)
		if err != nil {
			return ctrl.Result{}, err
		}
		if p != nil {
			a.missing = p
			break
		}
	}
	setConditions(&ch.Status.Conditions, ch.Generation, r.clock.Now(), a)
	result, countErr := refreshTotals(ctx, r.store, &ch, setChannelCounts)
	if err := r.status().commit(ctx, before, &ch); err != nil {
		return ctrl.Result{}, err
	}
	return result, countErr
}

// secretNeed is a Secret and the keys that must be in it.
type secretNeed struct {
	secret string
	keys   []string
}

// channelSecretKeys lists the Secret keys a Channel's provider needs, in a stable order.
func channelSecretKeys(ch *cdpv1alpha1.Channel) []secretNeed {
	var needs []secretNeed
	s := ch.Spec
	if s.SMTP != nil && s.SMTP.AuthSecretRef != nil {
		needs = append(needs, secretNeed{s.SMTP.AuthSecretRef.Name, []string{"username", "password"}})
	}
	if s.Webhook != nil {
		needs = append(needs, secretNeed{s.Webhook.SigningSecretRef.Name, []string{s.Webhook.SigningSecretRef.Key}})
		if s.Webhook.HeadersSecretRef != nil {
			needs = append(needs, secretNeed{s.Webhook.HeadersSecretRef.Name, nil})
		}
	}
	if s.SMS != nil {
		keys := []string{"accountID", "authToken"}
		if s.SMS.Provider == "Vonage" {
			keys = []string{"apiKey", "apiSecret"}
		}
		needs = append(needs, secretNeed{s.SMS.CredentialsSecretRef.Name, keys})
	}
	if s.LINE != nil {
		needs = append(needs, secretNeed{s.LINE.ChannelAccessTokenSecretRef.Name, []string{s.LINE.ChannelAccessTokenSecretRef.Key}})
	}
	if s.Push != nil {
		needs = append(needs, secretNeed{s.Push.ServiceAccountSecretRef.Name, []string{s.Push.ServiceAccountSecretRef.Key}})
	}
	return needs
}
