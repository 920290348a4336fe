package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/template"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=campaigns,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdp.kizuna.dev,resources=campaigns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete;patch

// campaignReconciler checks that a Campaign's templates parse and suit their channels, that its
// schedule is valid, and that its segments, channels and delivery policy exist and are Ready;
// then starts its runs as delivery Jobs when they are due (campaign_run.go) and reflects the
// ledger's counts into status.
type campaignReconciler struct {
	base
	store   store.Store
	workers WorkerOptions
	// emptyChecks remembers, by campaign, the latest segment-entry check whose entrants made an
	// empty audience (an emptyCheck), so that the reconciles until the next check do not compute
	// it again unless something it depends on changed. Forgotten on a restart, it costs one more
	// computation.
	emptyChecks sync.Map
}

func setupCampaign(mgr ctrl.Manager, b base, opts controller.Options, o Options) error {
	indexer := mgr.GetFieldIndexer()
	ctx := context.Background()
	indexes := map[string]client.IndexerFunc{
		indexSegments:         indexBy(campaignSegments),
		indexChannels:         indexBy(campaignChannels),
		indexDeliveryPolicies: indexBy(func(c *cdpv1alpha1.Campaign) []string { return []string{campaignPolicy(c)} }),
	}
	for _, name := range slices.Sorted(maps.Keys(indexes)) {
		if err := indexer.IndexField(ctx, &cdpv1alpha1.Campaign{}, name, indexes[name]); err != nil {
			return err
		}
	}
	r := &campaignReconciler{base: b, store: o.Store, workers: o.Workers}
	return ctrl.NewControllerManagedBy(mgr).
		Named("campaign").
		For(&cdpv1alpha1.Campaign{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&batchv1.Job{}).
		Watches(&cdpv1alpha1.Segment{}, enqueueReferencing(b.Client, &cdpv1alpha1.CampaignList{}, indexSegments)).
		Watches(&cdpv1alpha1.Channel{}, enqueueReferencing(b.Client, &cdpv1alpha1.CampaignList{}, indexChannels),
			builder.WithPredicates(ignoreDeliveryCounts)).
		Watches(&cdpv1alpha1.DeliveryPolicy{}, enqueueReferencing(b.Client, &cdpv1alpha1.CampaignList{}, indexDeliveryPolicies),
			builder.WithPredicates(ignoreDeliveryCounts)).
		// An Events source's sync ending releases the runs of event triggers that waited for it,
		// and its declared properties are what their where may read.
		Watches(&cdpv1alpha1.DataSource{}, handler.EnqueueRequestsFromMapFunc(r.eventCampaignsOfSource)).
		WithOptions(opts).
		Complete(r)
}

// eventCampaignsOfSource lists the campaigns with an event trigger in an Events DataSource's
// namespace.
func (r *campaignReconciler) eventCampaignsOfSource(ctx context.Context, obj client.Object) []reconcile.Request {
	ds, ok := obj.(*cdpv1alpha1.DataSource)
	if !ok || ds.Spec.Type != cdpv1alpha1.DataSourceEvents {
		return nil
	}
	var campaigns cdpv1alpha1.CampaignList
	if err := r.List(ctx, &campaigns, client.InNamespace(ds.Namespace)); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for _, c := range campaigns.Items {
		if c.Spec.Trigger.Event != nil {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
		}
	}
	return requests
}

func (r *campaignReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c cdpv1alpha1.Campaign
	if err := r.Get(ctx, req.NamespacedName, &c); err != nil {
		if apierrors.IsNotFound(err) {
			r.emptyChecks.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := c.DeepCopy()
	a, err := r.assess(ctx, &c)
	if err != nil {
		return ctrl.Result{}, err
	}
	setConditions(&c.Status.Conditions, c.Generation, r.clock.Now(), a)
	result := ctrl.Result{}
	var runErr error
	if r.store != nil {
		result, runErr = r.runIfDue(ctx, &c, a.ready())
	}
	if err := r.status().commit(ctx, before, &c); err != nil {
		return ctrl.Result{}, err
	}
	return result, runErr
}

func (r *campaignReconciler) assess(ctx context.Context, c *cdpv1alpha1.Campaign) (assessment, error) {
	a := assessment{hasReferences: true, spec: validateSchedule("spec.trigger.schedule", c.Spec.Trigger.Schedule)}
	if a.spec == nil {
		a.spec = parseCampaignTemplates(c)
	}

	var f findings
	refs := r.resolver(c.Namespace)
	for _, name := range campaignSegments(c) {
		f.add(refs.kizunaObject(ctx, &cdpv1alpha1.Segment{}, "Segment", name, cdpv1alpha1.ReasonSegmentNotFound))
	}
	channelTypes := map[string]cdpv1alpha1.ChannelType{}
	for _, name := range campaignChannels(c) {
		var ch cdpv1alpha1.Channel
		f.add(refs.kizunaObject(ctx, &ch, "Channel", name, cdpv1alpha1.ReasonChannelNotFound))
		if ch.Spec.Type != "" {
			channelTypes[name] = ch.Spec.Type
		}
	}
	if c.Spec.PolicyRef != nil {
		f.add(refs.kizunaObject(ctx, &cdpv1alpha1.DeliveryPolicy{}, "DeliveryPolicy", c.Spec.PolicyRef.Name,
			cdpv1alpha1.ReasonDeliveryPolicyNotFound))
	} else {
		// The namespace's default policy applies when it exists; a campaign needs none.
		_, notReady, err := refs.kizunaObject(ctx, &cdpv1alpha1.DeliveryPolicy{}, "DeliveryPolicy",
			cdpv1alpha1.DefaultDeliveryPolicyName, cdpv1alpha1.ReasonDeliveryPolicyNotFound)
		f.add(nil, notReady, err)
	}
	if f.err != nil {
		return assessment{}, f.err
	}
	a.missing, a.notReady = f.missing, f.notReady
	if a.spec == nil {
		a.spec = checkTemplatesFitChannels(c, channelTypes)
	}
	if a.spec == nil && a.missing == nil && a.notReady == nil {
		idr, fields, err := r.audienceFields(ctx, c)
		if err != nil {
			return assessment{}, err
		}
		if fields != nil {
			known := map[string]bool{}
			for name := range fields.Attributes {
				known[name] = true
			}
			a.spec = checkTemplateReads(c, channelTypes, known)
			if a.spec == nil {
				a.spec = checkEventTrigger(c, idr.Name, fields.EventProperties)
			}
		}
	}
	return a, nil
}

// audienceFields returns the resolution the audience's segments select from and the fields its
// DataSources declare, or nil when they cannot be known yet.
func (r *campaignReconciler) audienceFields(ctx context.Context, c *cdpv1alpha1.Campaign) (*cdpv1alpha1.IdentityResolution, *worker.Fields, error) {
	var seg cdpv1alpha1.Segment
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.Audience.Include[0].Name}, &seg); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	var idr cdpv1alpha1.IdentityResolution
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: seg.Spec.ResolutionRef.Name}, &idr); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	var sources cdpv1alpha1.DataSourceList
	if err := r.List(ctx, &sources, client.InNamespace(c.Namespace)); err != nil {
		return nil, nil, fmt.Errorf("list data sources: %w", err)
	}
	ptrs := make([]*cdpv1alpha1.DataSource, len(sources.Items))
	for i := range sources.Items {
		ptrs[i] = &sources.Items[i]
	}
	fields := worker.DeclaredFields(&idr, ptrs)
	return &idr, &fields, nil
}

// checkEventTrigger checks that an event trigger's where reads event properties the namespace's
// Events DataSources declare, with operators their types allow: a misspelt property would
// otherwise make every run fail.
func checkEventTrigger(c *cdpv1alpha1.Campaign, resolution string, properties map[string]cdpv1alpha1.AttributeType) *problem {
	if c.Spec.Trigger.Event == nil {
		return nil
	}
	if err := worker.CheckEventTrigger(c, resolution, properties); err != nil {
		return &problem{cdpv1alpha1.ReasonInvalidEventFilter, err.Error() + "."}
	}
	return nil
}

// checkTemplateReads checks that every template reads only attributes the audience's sources
// declare, and that payloads render to JSON: a misspelt attribute would otherwise render empty
// in every message. known nil skips the check.
func checkTemplateReads(c *cdpv1alpha1.Campaign, channelTypes map[string]cdpv1alpha1.ChannelType, known map[string]bool) *problem {
	if known == nil {
		return nil
	}
	return eachChannelTemplate(c, channelTypes, func(field, _ string, chType cdpv1alpha1.ChannelType, t cdpv1alpha1.MessageTemplate) *problem {
		required := make([]string, len(t.RequiredAttributes))
		for k, a := range t.RequiredAttributes {
			required[k] = string(a)
		}
		report := template.Check(template.Parts{Subject: t.Subject, Text: t.Text, HTML: t.HTML, Payload: t.Payload},
			required, template.ChannelKind(chType), known)
		if err := report.Err(); err != nil {
			return &problem{cdpv1alpha1.ReasonInvalidTemplate, fmt.Sprintf("%s: %v", field, err)}
		}
		return nil
	})
}

// eachChannelTemplate calls check with every template of every message whose channel's type is
// known (channels not found are reported elsewhere), and returns the first problem.
func eachChannelTemplate(c *cdpv1alpha1.Campaign, channelTypes map[string]cdpv1alpha1.ChannelType,
	check func(field, channel string, chType cdpv1alpha1.ChannelType, t cdpv1alpha1.MessageTemplate) *problem) *problem {
	for i, step := range c.Spec.Steps {
		for j, m := range step.Messages {
			chType, ok := channelTypes[m.ChannelRef.Name]
			if !ok {
				continue
			}
			field := fmt.Sprintf("spec.steps[%d].messages[%d]", i, j)
			templates := []cdpv1alpha1.MessageTemplate{m.Template}
			for _, v := range m.Variants {
				templates = append(templates, v.Template)
			}
			for _, t := range templates {
				if p := check(field, m.ChannelRef.Name, chType, t); p != nil {
					return p
				}
			}
		}
	}
	return nil
}

// parseCampaignTemplates parses every template of every step, message and variant.
func parseCampaignTemplates(c *cdpv1alpha1.Campaign) *problem {
	for i, step := range c.Spec.Steps {
		for j, m := range step.Messages {
			field := fmt.Sprintf("spec.steps[%d].messages[%d]", i, j)
			if p := parseTemplate(field+".template", m.Template); p != nil {
				return p
			}
			for k, v := range m.Variants {
				if p := parseTemplate(fmt.Sprintf("%s.variants[%d].template", field, k), v.Template); p != nil {
					return p
				}
			}
		}
	}
	return nil
}

func parseTemplate(field string, t cdpv1alpha1.MessageTemplate) *problem {
	_, err := template.Parse(template.Parts{Subject: t.Subject, Text: t.Text, HTML: t.HTML, Payload: t.Payload})
	if err != nil {
		return &problem{cdpv1alpha1.ReasonInvalidTemplate, fmt.Sprintf("%s: %v.", field, err)}
	}
	return nil
}

// checkTemplatesFitChannels checks that each message has the parts its channel sends; channels
// missing from channelTypes (not found) are skipped, their absence is reported elsewhere.
func checkTemplatesFitChannels(c *cdpv1alpha1.Campaign, channelTypes map[string]cdpv1alpha1.ChannelType) *problem {
	return eachChannelTemplate(c, channelTypes, func(field, channel string, chType cdpv1alpha1.ChannelType, t cdpv1alpha1.MessageTemplate) *problem {
		if missing := missingTemplateParts(chType, t); missing != "" {
			return &problem{cdpv1alpha1.ReasonTemplateIncomplete,
				fmt.Sprintf("%s: Channel %q is of type %s and needs %s in the template.", field, channel, chType, missing)}
		}
		return nil
	})
}

// missingTemplateParts says which parts a channel type needs that a template lacks, or "".
func missingTemplateParts(chType cdpv1alpha1.ChannelType, t cdpv1alpha1.MessageTemplate) string {
	switch chType {
	case cdpv1alpha1.ChannelSMTP:
		if t.Subject == "" {
			return "a subject"
		}
		if t.Text == "" && t.HTML == "" {
			return "text or html"
		}
	case cdpv1alpha1.ChannelSMS, cdpv1alpha1.ChannelPush:
		if t.Text == "" {
			return "text"
		}
	case cdpv1alpha1.ChannelLINE:
		if t.Text == "" && t.Payload == "" {
			return "text or a Flex message payload"
		}
	case cdpv1alpha1.ChannelWebhook:
		if t.Payload == "" {
			return "a payload"
		}
	}
	return ""
}
