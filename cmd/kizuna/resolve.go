package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/manifest"
	"github.com/kizuna-dev/kizuna/pkg/resolve"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// resolutionFlags select an IdentityResolution from manifests and the store it resolves against.
type resolutionFlags struct {
	path, storeDSN, namespace, name string
}

func (f *resolutionFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "filename", "f", "", "manifest file or folder holding the IdentityResolution (kubectl get idr NAME -o yaml)")
	cmd.Flags().StringVar(&f.storeDSN, "store", "", "store connection string: sqlite:PATH or postgres://...")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "default", "namespace of manifests that name none")
	cmd.Flags().StringVar(&f.name, "resolution", "", "name of the IdentityResolution, when the manifests hold several")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagRequired("store")
}

// load finds the IdentityResolution and opens the store.
func (f *resolutionFlags) load(ctx context.Context) (*cdpv1alpha1.IdentityResolution, store.Store, error) {
	set, err := manifest.Load(f.path, f.namespace)
	if err != nil {
		return nil, nil, err
	}
	var found []*cdpv1alpha1.IdentityResolution
	var names []string
	for _, l := range set.IdentityResolutions {
		names = append(names, l.Object.Name)
		if f.name == "" || l.Object.Name == f.name {
			found = append(found, l.Object)
		}
	}
	switch {
	case len(found) == 0 && f.name != "":
		return nil, nil, fmt.Errorf("%s holds no IdentityResolution %s (it holds: %s)", f.path, f.name, strings.Join(names, ", "))
	case len(found) == 0:
		return nil, nil, fmt.Errorf("%s holds no IdentityResolution", f.path)
	case len(found) > 1:
		return nil, nil, fmt.Errorf("%s holds %d IdentityResolutions (%s): choose one with --resolution", f.path, len(found), strings.Join(names, ", "))
	}
	st, err := store.Open(ctx, f.storeDSN)
	if err != nil {
		return nil, nil, fmt.Errorf("open the store: %w", err)
	}
	return found[0], st, nil
}

func newResolveCommand() *cobra.Command {
	var f resolutionFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "resolve -f FILE --store DSN [--dry-run]",
		Short: "Resolve the records already in the store into profiles, or show what a rule change would do",
		Long: `Runs one IdentityResolution against the records the store holds now, without syncing its
DataSources. With --dry-run nothing is published: the command reports what the rules would change
against the published profiles (profiles merged, split, minted, unchanged), so that a new or
changed rule set can be judged before it is applied.`,
		Example: `  kubectl get idr customers -o yaml > customers.yaml   # edit the rules, then:
  kizuna resolve -f customers.yaml --store sqlite:kizuna.db --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			idr, st, err := f.load(cmd.Context())
			if err != nil {
				return err
			}
			defer func() { _ = st.Close() }()
			cfg, err := worker.ResolveConfig(idr)
			if err != nil {
				return err
			}
			runID := "local-" + time.Now().UTC().Format("20060102T150405.000000000")
			run, res, err := worker.Resolve(cmd.Context(), st, cfg, worker.ResolveOptions{RunID: runID, DryRun: dryRun || idr.Spec.DryRun})
			if err != nil {
				return err
			}
			printResolution(cmd.OutOrStdout(), run, res)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would change without publishing")
	return cmd
}

func printResolution(out io.Writer, run store.ResolutionRun, res *resolve.Result) {
	verb := "published as generation " + fmt.Sprint(run.Generation)
	if run.DryRun {
		verb = "not published (dry run), compared with generation " + fmt.Sprint(run.Generation)
	}
	_, _ = fmt.Fprintf(out, "IdentityResolution %s: %s\n", run.Resolution, verb)
	_, _ = fmt.Fprintf(out, "  records      %d\n  profiles     %d\n", run.Records, run.Profiles)
	if res != nil {
		s := res.Stats
		_, _ = fmt.Fprintf(out, "  new          %d\n  merged       %d (profiles that absorbed others)\n  split        %d (published profiles now divided)\n  unchanged    %d\n",
			s.NewProfiles, s.Merges, s.Splits, s.Unchanged)
		_, _ = fmt.Fprintf(out, "  links        %d deterministic, %d probabilistic (of %d candidate pairs)\n", s.DeterministicLinks, s.ProbabilisticLinks, s.CandidatePairs)
	}
	for _, v := range run.Ignored {
		_, _ = fmt.Fprintf(out, "  ignored      %s %s: shared by %d records\n", v.Type, v.Value, v.Records)
	}
}

func newExplainCommand() *cobra.Command {
	var f resolutionFlags
	cmd := &cobra.Command{
		Use:   "explain -f FILE --store DSN SOURCE/KEY SOURCE/KEY",
		Short: "Explain why two records share a profile, or why they do not",
		Long: `Resolves the store's current records with the IdentityResolution's rules, in memory, and tells
for two records which deterministic rule links them (or why not: a missing identifier, different
values, a value shared by too many records) and, with probabilistic matching, each comparison's
level and match weight, the total weight and the match probability.`,
		Example: `  kizuna explain -f examples/jp --store sqlite:kizuna.db crm/crm-000001 meishi/meishi-000007`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var refs [2]store.RecordRef
			for i, a := range args {
				source, key, ok := strings.Cut(a, "/")
				if !ok || source == "" || key == "" {
					return fmt.Errorf("%q is not SOURCE/KEY: name a record by its DataSource and its record key", a)
				}
				refs[i] = store.RecordRef{Source: source, Key: key}
			}
			idr, st, err := f.load(cmd.Context())
			if err != nil {
				return err
			}
			defer func() { _ = st.Close() }()
			cfg, err := worker.ResolveConfig(idr)
			if err != nil {
				return err
			}
			res, err := worker.ResolveInMemory(cmd.Context(), st, cfg)
			if err != nil {
				return err
			}
			e, err := res.Explain(refs[0], refs[1])
			if err != nil {
				return err
			}
			printExplanation(cmd.OutOrStdout(), e)
			return nil
		},
	}
	f.bind(cmd)
	return cmd
}

func printExplanation(out io.Writer, e resolve.Explanation) {
	_, _ = fmt.Fprintf(out, "%s/%s -> profile %s\n%s/%s -> profile %s\n\n%s\n", e.A.Source, e.A.Key, e.ProfileA, e.B.Source, e.B.Key, e.ProfileB, e.Summary)
	if len(e.Rules) > 0 {
		_, _ = fmt.Fprintln(out, "\nDeterministic rules:")
		for _, r := range e.Rules {
			mark := "  no "
			if r.Linked {
				mark = "  YES"
			}
			_, _ = fmt.Fprintf(out, "%s  %-24s %s\n", mark, r.Rule, r.Reason)
		}
	}
	if p := e.Probabilistic; p != nil {
		// The table names the records by their positions in the run; the header above names them
		// by source and key, so the table's own first line gives way to the blocking verdict.
		_, table, _ := strings.Cut(p.String(), "\n")
		_, _ = fmt.Fprintf(out, "\nProbabilistic matching: %s\n%s\n", p.Blocking, table)
	}
}
