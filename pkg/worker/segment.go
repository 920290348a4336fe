package worker

import (
	"context"
	"fmt"
	"slices"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/resolve"
	"github.com/kizuna-dev/kizuna/pkg/segment"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Fields are what a segment's rule may read: the profile attributes the resolution's Records
// sources declare and the event properties every Events source of the namespace declares, by
// name and type. A rule naming anything else is refused before it reaches the database.
type Fields struct {
	Attributes      map[string]cdpv1alpha1.AttributeType
	EventProperties map[string]cdpv1alpha1.AttributeType
}

// DeclaredFields collects the fields of the DataSources of one namespace for a resolution.
func DeclaredFields(idr *cdpv1alpha1.IdentityResolution, sources []*cdpv1alpha1.DataSource) Fields {
	merged := map[string]bool{}
	for _, s := range idr.Spec.Sources {
		merged[s.Name] = true
	}
	f := Fields{Attributes: map[string]cdpv1alpha1.AttributeType{}, EventProperties: map[string]cdpv1alpha1.AttributeType{}}
	// Every message a campaign sends is an event too (message_sent, message_failed, ...), and so
	// is every open and click of one (message_opened, message_clicked), with these properties,
	// so that a segment can select "received the welcome series" or "clicked in it".
	for _, name := range DeliveryEventProperties {
		f.EventProperties[name] = cdpv1alpha1.AttributeString
	}
	for _, ds := range sources {
		switch {
		case ds.Spec.Type == cdpv1alpha1.DataSourceEvents && ds.Spec.Event != nil:
			for _, p := range ds.Spec.Event.Properties {
				f.EventProperties[string(p.Name)] = typeOrString(p.Type)
			}
		case merged[ds.Name]:
			for _, a := range ds.Spec.Attributes {
				f.Attributes[string(a.Name)] = typeOrString(a.Type)
			}
		}
	}
	return f
}

func typeOrString(t cdpv1alpha1.AttributeType) cdpv1alpha1.AttributeType {
	if t == "" {
		return cdpv1alpha1.AttributeString
	}
	return t
}

// DeliveryEventProperties are the properties of the events of source store.CampaignEventSource:
// those that deliveries write, and the opens and clicks that the link server records, whose
// clicks alone have a url.
var DeliveryEventProperties = []string{"campaign", "run", "step", "variant", "channel", "url"}

// SegmentOptions are the parts of an evaluation that come from where it runs.
type SegmentOptions struct {
	// Now is the evaluation's clock: relative windows ("in the last 30 days") end at it.
	Now func() time.Time
}

// CompileSegment compiles a Segment's rule for the store's dialect against the resolution's
// published generation.
func CompileSegment(st store.Store, seg *cdpv1alpha1.Segment, fields Fields, generation int64, now time.Time) (segment.Query, error) {
	dialect := segment.SQLite
	if st.Dialect() == store.DialectPostgres {
		dialect = segment.PostgreSQL
	}
	loc := time.UTC
	if s := seg.Spec.Schedule; s != nil && s.TimeZone != "" {
		l, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return segment.Query{}, fmt.Errorf("spec.schedule.timeZone: %w", err)
		}
		loc = l
	}
	return segment.Compile(&seg.Spec.Rule, segment.Options{
		Dialect: dialect, Namespace: seg.Namespace, Resolution: seg.Spec.ResolutionRef.Name,
		Slot: generation % 2, Now: now, Location: loc,
		Attributes: fields.Attributes, EventProperties: fields.EventProperties,
	})
}

// EvaluateSegment links new events to profiles, evaluates the segment's rule against the
// resolution's published profiles, and records who entered and who left, atomically.
func EvaluateSegment(ctx context.Context, st store.Store, seg *cdpv1alpha1.Segment, resolution *resolve.Config, fields Fields, opts SegmentOptions) (store.SegmentEvaluationResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	started := opts.Now()
	state, err := st.ResolutionState(ctx, seg.Namespace, seg.Spec.ResolutionRef.Name)
	if err != nil {
		return store.SegmentEvaluationResult{}, fmt.Errorf("read the published generation: %w", err)
	}
	if state.PublishedGeneration == 0 {
		return store.SegmentEvaluationResult{}, fmt.Errorf("IdentityResolution %s has published no profiles yet", seg.Spec.ResolutionRef.Name)
	}
	if err := LinkEvents(ctx, st, resolution, state.PublishedGeneration); err != nil {
		return store.SegmentEvaluationResult{}, err
	}
	q, err := CompileSegment(st, seg, fields, state.PublishedGeneration, started)
	if err != nil {
		return store.SegmentEvaluationResult{}, err
	}
	return st.EvaluateSegment(ctx, store.SegmentEvaluation{
		Namespace: seg.Namespace, Segment: seg.Name, Resolution: seg.Spec.ResolutionRef.Name,
		ResolutionGeneration: state.PublishedGeneration, Query: q.SQL, Args: q.Args, StartedAt: started,
	})
}

// LinkEvents brings the resolution's identity links up to date: it maps each identifier that
// events carry, as the source wrote it, to the profile whose normalised identifiers hold it.
// A new generation rebuilds every link; otherwise only the identifiers of events received since
// the last link are added. Normalising happens here, in Go, with the resolution's own rules, so
// that segment queries join events to profiles on plain equality.
func LinkEvents(ctx context.Context, st store.Store, cfg *resolve.Config, generation int64) error {
	// Campaigns' events wait aside until flushed: those of every outcome recorded so far are
	// read from here on.
	if _, err := st.FlushDeliveryEvents(ctx); err != nil {
		return err
	}
	linked, err := st.IdentityLinkState(ctx, cfg.Namespace, cfg.Name)
	if err != nil {
		return fmt.Errorf("read the identity links: %w", err)
	}
	through, err := st.LatestEventReceipt(ctx, cfg.Namespace)
	if err != nil {
		return fmt.Errorf("read the latest event: %w", err)
	}
	replace := linked.Generation != generation
	since := linked.ReceivedThrough
	if replace {
		since = time.Time{}
	} else if !through.After(since) {
		return nil // nothing new
	}
	// Profiles by normalised identifier: "type\x00value" keys.
	owner := map[string]string{}
	err = st.ScanProfiles(ctx, cfg.Namespace, cfg.Name, func(p store.Profile) error {
		owner[store.ProfileIDIdentifier+"\x00"+p.ID] = p.ID
		for t, values := range p.Identifiers {
			for _, v := range values {
				owner[t+"\x00"+v] = p.ID
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the profiles' identifiers: %w", err)
	}
	var links []store.IdentityLink
	err = st.EventIdentifiers(ctx, cfg.Namespace, since, func(idType, value string) error {
		// A campaign's event of a message that went to no address names the profile itself.
		n, ok := value, idType == store.ProfileIDIdentifier
		if !ok {
			n, ok = cfg.Normalizer.Normalize(idType, value)
		}
		if !ok {
			return nil
		}
		if id, ok := owner[idType+"\x00"+n]; ok {
			links = append(links, store.IdentityLink{Type: idType, Value: value, ProfileID: id})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the events' identifiers: %w", err)
	}
	err = st.WriteIdentityLinks(ctx, store.IdentityLinkUpdate{
		Namespace: cfg.Namespace, Resolution: cfg.Name, Generation: generation, ReceivedThrough: through, Replace: replace,
	}, slices.Values(links))
	if err != nil {
		return fmt.Errorf("write the identity links: %w", err)
	}
	return nil
}
