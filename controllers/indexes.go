package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Field indexes from a resource to the names of the objects it references, so that a change to a
// Secret, a DataSource or a Segment re-reconciles exactly the resources that use it.
const (
	indexSecrets          = "kizuna.index.secrets"
	indexConfigMaps       = "kizuna.index.configMaps"
	indexDataSources      = "kizuna.index.dataSources"
	indexResolution       = "kizuna.index.resolution"
	indexSegments         = "kizuna.index.segments"
	indexChannels         = "kizuna.index.channels"
	indexDeliveryPolicies = "kizuna.index.deliveryPolicies"
)

// dataSourceSecrets lists the Secrets a DataSource reads.
func dataSourceSecrets(ds *cdpv1alpha1.DataSource) []string {
	src := ds.Spec.Source
	var names []string
	if src.HTTP != nil && src.HTTP.AuthorizationSecretRef != nil {
		names = append(names, src.HTTP.AuthorizationSecretRef.Name)
	}
	if src.S3 != nil && src.S3.CredentialsSecretRef != nil {
		names = append(names, src.S3.CredentialsSecretRef.Name)
	}
	if src.Postgres != nil {
		names = append(names, src.Postgres.ConnectionSecretRef.Name)
	}
	if src.Collector != nil {
		names = append(names, src.Collector.WriteKeySecretRef.Name)
	}
	return sortedUnique(names)
}

// dataSourceConfigMaps lists the ConfigMaps a DataSource reads.
func dataSourceConfigMaps(ds *cdpv1alpha1.DataSource) []string {
	if ds.Spec.Source.ConfigMap == nil {
		return nil
	}
	return []string{ds.Spec.Source.ConfigMap.Name}
}

// resolutionDataSources lists the DataSources an IdentityResolution merges.
func resolutionDataSources(idr *cdpv1alpha1.IdentityResolution) []string {
	names := make([]string, 0, len(idr.Spec.Sources))
	for _, s := range idr.Spec.Sources {
		names = append(names, s.Name)
	}
	return sortedUnique(names)
}

// segmentReferencedSegments lists the Segments a Segment's rule tests membership of.
func segmentReferencedSegments(seg *cdpv1alpha1.Segment) []string {
	return seg.Spec.Rule.ReferencedSegments()
}

// channelSecrets lists the Secrets a Channel reads.
func channelSecrets(ch *cdpv1alpha1.Channel) []string {
	var names []string
	s := ch.Spec
	if s.SMTP != nil && s.SMTP.AuthSecretRef != nil {
		names = append(names, s.SMTP.AuthSecretRef.Name)
	}
	if s.Webhook != nil {
		names = append(names, s.Webhook.SigningSecretRef.Name)
		if s.Webhook.HeadersSecretRef != nil {
			names = append(names, s.Webhook.HeadersSecretRef.Name)
		}
	}
	if s.SMS != nil {
		names = append(names, s.SMS.CredentialsSecretRef.Name)
	}
	if s.LINE != nil {
		names = append(names, s.LINE.ChannelAccessTokenSecretRef.Name)
	}
	if s.Push != nil {
		names = append(names, s.Push.ServiceAccountSecretRef.Name)
	}
	return sortedUnique(names)
}

// campaignSegments lists the Segments a Campaign includes or excludes.
func campaignSegments(c *cdpv1alpha1.Campaign) []string {
	var names []string
	for _, ref := range c.Spec.Audience.Include {
		names = append(names, ref.Name)
	}
	for _, ref := range c.Spec.Audience.Exclude {
		names = append(names, ref.Name)
	}
	return sortedUnique(names)
}

// campaignChannels lists the Channels a Campaign's steps send through.
func campaignChannels(c *cdpv1alpha1.Campaign) []string {
	var names []string
	for _, step := range c.Spec.Steps {
		for _, m := range step.Messages {
			names = append(names, m.ChannelRef.Name)
		}
	}
	return sortedUnique(names)
}

// campaignPolicy is the DeliveryPolicy that applies to a Campaign: the one it names, else the
// namespace's default.
func campaignPolicy(c *cdpv1alpha1.Campaign) string {
	if c.Spec.PolicyRef != nil {
		return c.Spec.PolicyRef.Name
	}
	return cdpv1alpha1.DefaultDeliveryPolicyName
}

// indexBy adapts a function over a typed object to a field indexer.
func indexBy[T client.Object](names func(T) []string) client.IndexerFunc {
	return func(obj client.Object) []string {
		typed, ok := obj.(T)
		if !ok {
			return nil
		}
		return names(typed)
	}
}

// enqueueReferencing maps a changed object to the resources of list's kind in its namespace whose
// index holds the object's name.
func enqueueReferencing(c client.Client, list client.ObjectList, index string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		l, ok := list.DeepCopyObject().(client.ObjectList)
		if !ok {
			return nil
		}
		if err := c.List(ctx, l, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
			logf.FromContext(ctx).Error(err, "list referencing objects", "index", index, "name", obj.GetName())
			return nil
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return nil
		}
		requests := make([]reconcile.Request, 0, len(items))
		for _, item := range items {
			o, ok := item.(client.Object)
			if !ok {
				continue
			}
			requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}})
		}
		return requests
	})
}
