package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/ingest"
	"github.com/kizuna-dev/kizuna/pkg/manifest"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

func newRunCommand() *cobra.Command {
	var opts struct {
		path, storeDSN, namespace, linkBaseURL string
		send                                   bool
	}
	cmd := &cobra.Command{
		Use:   "run -f FILE_OR_DIR --store DSN",
		Short: "Run the pipeline declared in manifests once, locally, without a cluster",
		Long: `Reads Kizuna manifests (and the Secrets and ConfigMaps they refer to) from a file or a folder
and runs their work once against a store, with the same code the operator's Jobs run:
DataSources are synced, IdentityResolutions resolve their records into profiles, then Segments
are evaluated (a segment after those it refers to) and record who entered and who left, and
Campaigns are planned: each says whom a run now would reach. With --send, each Campaign runs
once, now: its ledger is written and its messages go out through its Channels, under its
DeliveryPolicy, and the outcomes are counted. File paths in a DataSource are relative to its
manifest's folder.

Unsubscribe and tracking links are signed when --link-base-url is set, with the key in the
environment variable ` + worker.EnvLinkKey + ` (at least 32 bytes).

The store is sqlite:PATH (a file, created when missing) or a postgres:// connection string.`,
		Example: `  kizuna run -f examples/retail --store sqlite:kizuna.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLocal(cmd, opts.path, opts.storeDSN, opts.namespace, opts.send, opts.linkBaseURL)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.path, "filename", "f", "", "manifest file or folder")
	f.StringVar(&opts.storeDSN, "store", "", "store connection string: sqlite:PATH or postgres://...")
	f.StringVarP(&opts.namespace, "namespace", "n", "default", "namespace of manifests that name none")
	f.BoolVar(&opts.send, "send", false, "deliver the Campaigns' messages (without it, campaigns are only planned)")
	f.StringVar(&opts.linkBaseURL, "link-base-url", "", "public base URL of unsubscribe and tracking links, e.g. https://kizuna.example.jp")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

func runLocal(cmd *cobra.Command, path, dsn, namespace string, send bool, linkBaseURL string) error {
	ctx := cmd.Context()
	set, err := manifest.Load(path, namespace)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	defer func() { _ = st.Close() }()

	creds := worker.MapCredentials{Secrets: set.Secrets, ConfigMaps: set.ConfigMaps}
	runID := "local-" + time.Now().UTC().Format("20060102T150405.000000000")
	table := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(table, "DATASOURCE\tSTATUS\tREAD\tLOADED\tQUARANTINED\tDELETED\tMESSAGE")
	failed := 0
	for _, located := range set.DataSources {
		ds := located.Object
		if ds.Spec.Source.Collector != nil {
			continue // events arrive through `kizuna serve`
		}
		run, err := syncLocal(ctx, st, creds, located, runID)
		if err != nil {
			failed++
			_, _ = fmt.Fprintf(table, "%s\tError\t\t\t\t\t%v\n", ds.Name, err)
			continue
		}
		if run.Status == store.SyncFailed {
			failed++
		}
		_, _ = fmt.Fprintf(table, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", ds.Name, run.Status, run.RowsRead, run.RowsLoaded,
			run.RowsQuarantined, run.RecordsDeleted, run.Message)
	}
	_ = table.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d DataSources did not sync", failed, len(set.DataSources))
	}
	if err := resolveLocal(cmd, st, set, runID); err != nil {
		return err
	}
	if err := segmentLocal(cmd, st, set); err != nil {
		return err
	}
	if err := campaignLocal(cmd, st, set, send, linkBaseURL); err != nil {
		return err
	}
	if len(set.Skipped) > 0 {
		kinds := make([]string, 0, len(set.Skipped))
		for kind, n := range set.Skipped {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, kind))
		}
		sort.Strings(kinds)
		_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "not run locally yet: %s\n", strings.Join(kinds, ", "))
	}
	return nil
}

// resolveLocal runs every IdentityResolution of the set, in the order the manifests declare them.
func resolveLocal(cmd *cobra.Command, st store.Store, set *manifest.Set, runID string) error {
	if len(set.IdentityResolutions) == 0 {
		return nil
	}
	table := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(table, "\nIDENTITYRESOLUTION\tSTATUS\tRECORDS\tPROFILES\tNEW\tMERGES\tSPLITS\tIGNORED\tGENERATION")
	failed := 0
	for _, located := range set.IdentityResolutions {
		idr := located.Object
		cfg, err := worker.ResolveConfig(idr)
		var run store.ResolutionRun
		if err == nil {
			run, _, err = worker.Resolve(cmd.Context(), st, cfg, worker.ResolveOptions{RunID: runID, DryRun: idr.Spec.DryRun})
		}
		if err != nil {
			failed++
			_, _ = fmt.Fprintf(table, "%s\tError: %v\n", idr.Name, err)
			continue
		}
		status := string(run.Status)
		if run.DryRun {
			status += " (dry run)"
		}
		_, _ = fmt.Fprintf(table, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", idr.Name, status, run.Records, run.Profiles,
			run.NewProfiles, run.Merges, run.Splits, len(run.Ignored), run.Generation)
	}
	_ = table.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d IdentityResolutions did not resolve", failed, len(set.IdentityResolutions))
	}
	return nil
}

func syncLocal(ctx context.Context, st store.Store, creds worker.Credentials, located manifest.Located[*cdpv1alpha1.DataSource], runID string) (store.SyncRun, error) {
	ds := located.Object
	cfg, err := worker.SyncConfig(ctx, ds, creds, worker.SyncOptions{
		Namespace: ds.Namespace, RunID: runID, BaseDir: located.Dir, TempDir: os.TempDir(),
	})
	if err != nil {
		return store.SyncRun{}, err
	}
	return ingest.Sync(ctx, st, cfg)
}

// segmentLocal evaluates every Segment of the set, each after the segments its rule refers to.
func segmentLocal(cmd *cobra.Command, st store.Store, set *manifest.Set) error {
	if len(set.Segments) == 0 {
		return nil
	}
	order, err := segmentOrder(set.Segments)
	if err != nil {
		return err
	}
	table := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(table, "\nSEGMENT\tSIZE\tENTERED\tEXITED\tEVALUATION\tDURATION")
	failed := 0
	for _, seg := range order {
		res, err := evaluateLocal(cmd.Context(), st, set, seg)
		if err != nil {
			failed++
			_, _ = fmt.Fprintf(table, "%s\tError: %v\n", seg.Name, err)
			continue
		}
		_, _ = fmt.Fprintf(table, "%s\t%d\t%d\t%d\t%d\t%s\n", seg.Name, res.Size, res.Entered, res.Exited, res.Evaluation,
			res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond))
	}
	_ = table.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d Segments did not evaluate", failed, len(set.Segments))
	}
	return nil
}

func evaluateLocal(ctx context.Context, st store.Store, set *manifest.Set, seg *cdpv1alpha1.Segment) (store.SegmentEvaluationResult, error) {
	idr, fields, err := segmentInputs(set, seg)
	if err != nil {
		return store.SegmentEvaluationResult{}, err
	}
	cfg, err := worker.ResolveConfig(idr)
	if err != nil {
		return store.SegmentEvaluationResult{}, err
	}
	return worker.EvaluateSegment(ctx, st, seg, cfg, fields, worker.SegmentOptions{})
}

// segmentOrder orders segments so that each comes after the segments it refers to; a cycle, or
// a reference to a segment not in the set, is an error.
func segmentOrder(located []manifest.Located[*cdpv1alpha1.Segment]) ([]*cdpv1alpha1.Segment, error) {
	byName := map[string]*cdpv1alpha1.Segment{}
	for _, l := range located {
		byName[l.Object.Namespace+"/"+l.Object.Name] = l.Object
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []*cdpv1alpha1.Segment
	var visit func(seg *cdpv1alpha1.Segment, path []string) error
	visit = func(seg *cdpv1alpha1.Segment, path []string) error {
		key := seg.Namespace + "/" + seg.Name
		path = append(path, seg.Name)
		switch state[key] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("segments refer to each other in a cycle (%s): remove one of the segment conditions", strings.Join(path, " -> "))
		}
		state[key] = visiting
		for _, name := range seg.Spec.Rule.ReferencedSegments() {
			next, ok := byName[seg.Namespace+"/"+name]
			if !ok {
				return fmt.Errorf("segment %s refers to segment %q, which is not among the manifests", seg.Name, name)
			}
			if err := visit(next, path); err != nil {
				return err
			}
		}
		state[key] = done
		order = append(order, seg)
		return nil
	}
	for _, l := range located {
		if err := visit(l.Object, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
