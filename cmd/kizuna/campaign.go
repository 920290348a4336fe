package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/manifest"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// campaignLocal runs every Campaign of the set once, now: with send, it plans a run and
// delivers it through the channels; without, it only says whom a run would reach.
func campaignLocal(cmd *cobra.Command, st store.Store, set *manifest.Set, send bool, linkBaseURL string) error {
	if len(set.Campaigns) == 0 {
		return nil
	}
	ctx := cmd.Context()
	creds := worker.MapCredentials{Secrets: set.Secrets, ConfigMaps: set.ConfigMaps}
	table := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	if send {
		_, _ = fmt.Fprintln(table, "\nCAMPAIGN\tRUN\tTARGETED\tSENT\tSUPPRESSED\tCAPPED\tDEFERRED\tFAILED\tPENDING\tHOLDOUT")
	} else {
		_, _ = fmt.Fprintln(table, "\nCAMPAIGN\tRECIPIENTS\tHOLDOUT\tALREADY REACHED\tVARIANTS\t(planned only: --send delivers)")
	}
	failed := 0
	now := time.Now().UTC()
	for _, located := range set.Campaigns {
		camp := located.Object
		payload, err := localCampaignPayload(set, camp, now)
		if err != nil {
			failed++
			_, _ = fmt.Fprintf(table, "%s\tError: %v\n", camp.Name, err)
			continue
		}
		if payload.Run.Trigger == worker.TriggerEvent {
			// Locally, a run reads the events received since the window of the campaign's
			// latest run in the store (every event the first time; without --send, which records
			// no run, the same events again), up to the trigger's delay before now.
			runs, err := st.DeliveryRuns(ctx, camp.Namespace, camp.Name, 1)
			if err != nil {
				return fmt.Errorf("read the runs of campaign %s: %w", camp.Name, err)
			}
			var previous time.Time
			if len(runs) > 0 {
				previous = runs[0].ScheduledAt
			}
			payload.Run.ReceivedAfter, payload.Run.ReceivedThrough = worker.EventWindow(camp.Spec.Trigger.Event, time.Time{}, previous, now)
		}
		if !send {
			plan, err := worker.PlanAudience(ctx, st, payload)
			if err != nil {
				failed++
				_, _ = fmt.Fprintf(table, "%s\tError: %v\n", camp.Name, err)
				continue
			}
			_, _ = fmt.Fprintf(table, "%s\t%d\t%d\t%d\t%v\n", camp.Name, plan.Recipients, plan.Holdout, plan.AlreadyReached, plan.Variants)
			continue
		}
		signer, err := linkSigner(linkBaseURL, camp.Namespace, os.Getenv(worker.EnvLinkKey))
		if err != nil {
			return err
		}
		counts, err := deliverLocal(ctx, st, payload, creds, signer)
		if err != nil {
			failed++
			_, _ = fmt.Fprintf(table, "%s\t%s\tError: %v\n", camp.Name, payload.Run.Run, err)
			continue
		}
		_, _ = fmt.Fprintf(table, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", camp.Name, payload.Run.Run,
			counts.Total-counts.Holdout, counts.Sent, counts.Suppressed, counts.Capped, counts.Deferred, counts.Failed,
			counts.Pending, counts.Holdout)
	}
	_ = table.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d Campaigns did not run", failed, len(set.Campaigns))
	}
	return nil
}

func deliverLocal(ctx context.Context, st store.Store, p *worker.CampaignPayload, creds worker.Credentials, signer *links.Signer) (store.DeliveryCounts, error) {
	opts := worker.DeliveryOptions{Worker: "local/" + p.Run.Run, Links: signer}
	if _, err := worker.DeliverRun(ctx, st, p, creds, opts); err != nil {
		return store.DeliveryCounts{}, err
	}
	return st.DeliveryCounts(ctx, p.Campaign.Namespace, p.Campaign.Name, p.Run.Run)
}

// localCampaignPayload gathers a campaign's channels, policy and resolution from the set, for a
// run due now.
func localCampaignPayload(set *manifest.Set, camp *cdpv1alpha1.Campaign, now time.Time) (*worker.CampaignPayload, error) {
	p := &worker.CampaignPayload{Campaign: camp, Run: worker.CampaignRun{
		Namespace: camp.Namespace, Campaign: camp.Name, Run: camp.Name + "-local-" + strconv.FormatInt(now.UnixMilli(), 10),
		Trigger: worker.TriggerOnce, ScheduledAt: now, Shards: 1,
	}}
	var included *cdpv1alpha1.Segment
	for _, ref := range camp.Spec.Audience.Include {
		for _, s := range set.Segments {
			if s.Object.Namespace == camp.Namespace && s.Object.Name == ref.Name {
				p.Resolution, included = s.Object.Spec.ResolutionRef.Name, s.Object
			}
		}
	}
	if p.Resolution == "" {
		return nil, fmt.Errorf("none of the included segments is among the manifests: the resolution to read profiles from is unknown")
	}
	if camp.Spec.Trigger.Event != nil {
		idr, fields, err := segmentInputs(set, included)
		if err != nil {
			return nil, err
		}
		p.Run.Trigger = worker.TriggerEvent
		p.Events = &worker.EventInputs{IdentityResolution: idr, Properties: fields.EventProperties}
	}
	wanted := map[string]bool{}
	for _, step := range camp.Spec.Steps {
		for _, m := range step.Messages {
			wanted[m.ChannelRef.Name] = true
		}
	}
	for _, ch := range set.Channels {
		if ch.Object.Namespace == camp.Namespace && wanted[ch.Object.Name] {
			p.Channels = append(p.Channels, ch.Object)
			delete(wanted, ch.Object.Name)
		}
	}
	if len(wanted) > 0 {
		return nil, fmt.Errorf("channel %q is not among the manifests", slices.Sorted(maps.Keys(wanted))[0])
	}
	policyName := cdpv1alpha1.DefaultDeliveryPolicyName
	if camp.Spec.PolicyRef != nil {
		policyName = camp.Spec.PolicyRef.Name
	}
	for _, dp := range set.DeliveryPolicies {
		if dp.Object.Namespace == camp.Namespace && dp.Object.Name == policyName {
			p.Policy = dp.Object
		}
	}
	if p.Policy == nil && camp.Spec.PolicyRef != nil {
		return nil, fmt.Errorf("delivery policy %q is not among the manifests", policyName)
	}
	return p, nil
}

func newPreviewCampaignCommand() *cobra.Command {
	var opts struct {
		path, manifests, storeDSN, namespace, profile, linkBaseURL string
	}
	cmd := &cobra.Command{
		Use:   "campaign -f CAMPAIGN.yaml --store DSN --profile ID",
		Short: "Render the messages one profile would get from a Campaign",
		Long: `Renders each step of the Campaigns in a file for one profile of the store, with the choices a
delivery would make: the experiment variant or holdout, the first channel whose address,
consent and suppression list let it reach the profile, and the template's subject and bodies.
Nothing is sent and nothing is written.

The Segments, Channels and DeliveryPolicies the campaign names are taken from --manifests, by
default the campaign file's folder.`,
		Example: `  kizuna preview campaign -f examples/retail/campaigns.yaml --store sqlite:kizuna.db --profile cus_0b3k9x`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.manifests == "" {
				opts.manifests = filepath.Dir(opts.path)
			}
			return previewCampaigns(cmd, opts.path, opts.manifests, opts.storeDSN, opts.namespace, opts.profile, opts.linkBaseURL)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.path, "filename", "f", "", "file of Campaign manifests")
	f.StringVar(&opts.manifests, "manifests", "", "file or folder of the Segments, Channels and DeliveryPolicies (default: the campaign file's folder)")
	f.StringVar(&opts.storeDSN, "store", "", "store connection string: sqlite:PATH or postgres://...")
	f.StringVarP(&opts.namespace, "namespace", "n", "default", "namespace of manifests that name none")
	f.StringVar(&opts.profile, "profile", "", "ID of the profile to render the messages for")
	f.StringVar(&opts.linkBaseURL, "link-base-url", "", "public base URL of unsubscribe and tracking links")
	for _, name := range []string{"filename", "store", "profile"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func previewCampaigns(cmd *cobra.Command, path, manifests, dsn, namespace, profile, linkBaseURL string) error {
	ctx := cmd.Context()
	campaigns, set, st, err := previewInputs(ctx, path, manifests, dsn, namespace, "Campaign",
		func(s *manifest.Set) int { return len(s.Campaigns) })
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	out := cmd.OutOrStdout()
	now := time.Now().UTC()
	for _, located := range campaigns.Campaigns {
		camp := located.Object
		payload, err := localCampaignPayload(set, camp, now)
		if err != nil {
			return fmt.Errorf("campaign %s: %w", camp.Name, err)
		}
		signer, err := linkSigner(linkBaseURL, camp.Namespace, os.Getenv(worker.EnvLinkKey))
		if err != nil {
			return err
		}
		messages, err := worker.PreviewCampaign(ctx, st, payload, profile, signer, now)
		if err != nil {
			return fmt.Errorf("campaign %s: %w", camp.Name, err)
		}
		for _, m := range messages {
			_, _ = fmt.Fprintf(out, "Campaign %s, step %s, profile %s", camp.Name, m.Step, profile)
			if m.Variant != "" {
				_, _ = fmt.Fprintf(out, ", variant %s", m.Variant)
			}
			_, _ = fmt.Fprintln(out)
			switch {
			case m.Holdout:
				_, _ = fmt.Fprintln(out, "  holdout: this profile is sent nothing, to measure the campaign's lift")
			case m.Channel == "":
				_, _ = fmt.Fprintf(out, "  not sent: %s\n", m.Reason)
			default:
				_, _ = fmt.Fprintf(out, "  channel: %s (%s) to %s\n", m.Channel, m.ChannelType, m.To)
				for _, part := range []struct{ name, value string }{
					{"subject", m.Subject}, {"text", m.Text}, {"html", m.HTML}, {"payload", m.Payload},
				} {
					if part.value != "" {
						_, _ = fmt.Fprintf(out, "  %s:\n%s\n", part.name, indent(part.value, "    "))
					}
				}
				if m.Reason != "" {
					_, _ = fmt.Fprintf(out, "  error: %s\n", m.Reason)
				}
			}
		}
	}
	return nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
