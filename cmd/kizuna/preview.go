package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/manifest"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

func newPreviewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show what a resource would do against a store, without changing what it publishes",
	}
	cmd.AddCommand(newPreviewSegmentCommand(), newPreviewCampaignCommand())
	return cmd
}

func newPreviewSegmentCommand() *cobra.Command {
	var opts struct {
		path, manifests, storeDSN, namespace string
		sample                               int
	}
	cmd := &cobra.Command{
		Use:   "segment -f SEGMENT.yaml --store DSN",
		Short: "Print a Segment's size, a sample of its members and its SQL",
		Long: `Evaluates the Segments in a file against a store's published profiles and prints each one's
size, a sample of members with the attributes its rule reads, and the SQL it compiles to.
Nothing about the segment is recorded: membership and history are left as they are. The
links from events to profiles are brought up to date, as an evaluation would.

The DataSources and IdentityResolution the segment reads are taken from --manifests, by default
the segment file's folder: they say which attributes and event properties exist.`,
		Example: `  kizuna preview segment -f examples/retail/segments.yaml --store sqlite:kizuna.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.manifests == "" {
				opts.manifests = filepath.Dir(opts.path)
			}
			return previewSegments(cmd, opts.path, opts.manifests, opts.storeDSN, opts.namespace, opts.sample)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.path, "filename", "f", "", "file of Segment manifests")
	f.StringVar(&opts.manifests, "manifests", "", "file or folder of the DataSources and IdentityResolutions (default: the segment file's folder)")
	f.StringVar(&opts.storeDSN, "store", "", "store connection string: sqlite:PATH or postgres://...")
	f.StringVarP(&opts.namespace, "namespace", "n", "default", "namespace of manifests that name none")
	f.IntVar(&opts.sample, "sample", 10, "members to show")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// previewInputs reads what a preview needs: the file of the resources to preview, which must
// declare at least one of kind (count says how many), the manifests they refer to, and the
// store, which the caller closes.
func previewInputs(ctx context.Context, path, manifests, dsn, namespace, kind string, count func(*manifest.Set) int) (
	file, set *manifest.Set, st store.Store, err error) {
	if file, err = manifest.Load(path, namespace); err != nil {
		return nil, nil, nil, err
	}
	if count(file) == 0 {
		return nil, nil, nil, fmt.Errorf("%s declares no %s", path, kind)
	}
	if set, err = manifest.Load(manifests, namespace); err != nil {
		return nil, nil, nil, err
	}
	if st, err = store.Open(ctx, dsn); err != nil {
		return nil, nil, nil, fmt.Errorf("open the store: %w", err)
	}
	return file, set, st, nil
}

func previewSegments(cmd *cobra.Command, path, manifests, dsn, namespace string, sample int) error {
	ctx := cmd.Context()
	segments, set, st, err := previewInputs(ctx, path, manifests, dsn, namespace, "Segment",
		func(s *manifest.Set) int { return len(s.Segments) })
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	for i, located := range segments.Segments {
		if i > 0 {
			_, _ = fmt.Fprintln(cmd.OutOrStdout())
		}
		if err := previewSegment(ctx, cmd, st, set, located.Object, sample); err != nil {
			return fmt.Errorf("segment %s: %w", located.Object.Name, err)
		}
	}
	return nil
}

func previewSegment(ctx context.Context, cmd *cobra.Command, st store.Store, set *manifest.Set, seg *cdpv1alpha1.Segment, sample int) error {
	idr, fields, err := segmentInputs(set, seg)
	if err != nil {
		return err
	}
	cfg, err := worker.ResolveConfig(idr)
	if err != nil {
		return err
	}
	state, err := st.ResolutionState(ctx, idr.Namespace, idr.Name)
	if err != nil {
		return err
	}
	if state.PublishedGeneration == 0 {
		return fmt.Errorf("IdentityResolution %s has published no profiles yet: run `kizuna run` first", idr.Name)
	}
	if err := worker.LinkEvents(ctx, st, cfg, state.PublishedGeneration); err != nil {
		return err
	}
	q, err := worker.CompileSegment(st, seg, fields, state.PublishedGeneration, time.Now())
	if err != nil {
		return err
	}
	var members []string
	size := 0
	err = st.QueryProfiles(ctx, q.SQL, q.Args, func(id string) error {
		size++
		if len(members) < sample {
			members = append(members, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	_, _ = fmt.Fprintf(out, "Segment %s: %d profiles of IdentityResolution %s (generation %d)\n",
		seg.Name, size, idr.Name, state.PublishedGeneration)
	table := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(table, strings.Join(append([]string{"PROFILE"}, upper(q.Reads)...), "\t"))
	for _, id := range members {
		p, err := st.LookupProfile(ctx, idr.Namespace, idr.Name, id)
		if err != nil {
			return err
		}
		row := []string{id}
		for _, path := range q.Reads {
			row = append(row, attributeText(p.Attributes, path))
		}
		_, _ = fmt.Fprintln(table, strings.Join(row, "\t"))
	}
	_ = table.Flush()
	_, _ = fmt.Fprintf(out, "SQL:\n%s\nArguments: %v\n", q.SQL, q.Args)
	return nil
}

// segmentInputs finds the IdentityResolution a Segment selects from and the fields its sources
// declare.
func segmentInputs(set *manifest.Set, seg *cdpv1alpha1.Segment) (*cdpv1alpha1.IdentityResolution, worker.Fields, error) {
	var idr *cdpv1alpha1.IdentityResolution
	for _, l := range set.IdentityResolutions {
		if l.Object.Name == seg.Spec.ResolutionRef.Name && l.Object.Namespace == seg.Namespace {
			idr = l.Object
		}
	}
	if idr == nil {
		return nil, worker.Fields{}, fmt.Errorf("IdentityResolution %q named in spec.resolutionRef is not among the manifests", seg.Spec.ResolutionRef.Name)
	}
	var sources []*cdpv1alpha1.DataSource
	for _, l := range set.DataSources {
		if l.Object.Namespace == seg.Namespace {
			sources = append(sources, l.Object)
		}
	}
	return idr, worker.DeclaredFields(idr, sources), nil
}

func upper(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToUpper(n)
	}
	return out
}

// attributeText renders an attribute for a table cell. Attribute names are the DataSources'
// names, dots included (address.city is one key).
func attributeText(attrs map[string]any, path string) string {
	switch v := attrs[path].(type) {
	case nil:
		return ""
	case time.Time:
		return v.Format(time.RFC3339)
	default:
		return fmt.Sprint(v)
	}
}
