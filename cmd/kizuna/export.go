package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

func newExportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write what the store holds as CSV",
	}
	cmd.AddCommand(newExportRecordsCommand(), newExportQuarantineCommand(), newExportIdentitiesCommand())
	return cmd
}

type exportFlags struct {
	storeDSN, namespace, source string
}

func (f *exportFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.storeDSN, "store", "", "store connection string: sqlite:PATH or postgres://...")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "default", "namespace of the DataSource")
	cmd.Flags().StringVar(&f.source, "source", "", "name of the DataSource")
	_ = cmd.MarkFlagRequired("store")
	_ = cmd.MarkFlagRequired("source")
}

func newExportRecordsCommand() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "records --store DSN --source NAME",
		Short: "Write a DataSource's records as CSV: key, deletedAt, identifiers, attributes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := store.Open(cmd.Context(), f.storeDSN)
			if err != nil {
				return fmt.Errorf("open the store: %w", err)
			}
			defer func() { _ = st.Close() }()
			return exportRecords(cmd.Context(), st, f.namespace, f.source, cmd.OutOrStdout())
		},
	}
	f.bind(cmd)
	return cmd
}

// exportRecords writes records as CSV. It reads the records twice, first for the column names,
// so that memory does not grow with the number of records.
func exportRecords(ctx context.Context, st store.Store, namespace, source string, out io.Writer) error {
	idCols, attrCols := map[string]bool{}, map[string]bool{}
	n := 0
	err := st.ScanRecords(ctx, namespace, source, func(r store.Record) error {
		n++
		for t := range r.Identifiers {
			idCols[t] = true
		}
		for a := range r.Attributes {
			attrCols[a] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("DataSource %s/%s has no records in the store", namespace, source)
	}
	ids, attrs := sortedSet(idCols), sortedSet(attrCols)
	w := csv.NewWriter(out)
	header := []string{"key", "deletedAt"}
	for _, id := range ids {
		header = append(header, "identifier."+id)
	}
	header = append(header, attrs...)
	if err := w.Write(header); err != nil {
		return err
	}
	err = st.ScanRecords(ctx, namespace, source, func(r store.Record) error {
		row := []string{r.Key, ""}
		if r.DeletedAt != nil {
			row[1] = r.DeletedAt.UTC().Format(time.RFC3339)
		}
		for _, id := range ids {
			row = append(row, strings.Join(r.Identifiers[id], ";"))
		}
		for _, a := range attrs {
			row = append(row, formatValue(r.Attributes[a]))
		}
		return w.Write(row)
	})
	if err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		if x.Equal(x.Truncate(24 * time.Hour)) {
			return x.UTC().Format("2006-01-02")
		}
		return x.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprint(x)
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newExportQuarantineCommand() *cobra.Command {
	var f exportFlags
	var runID string
	cmd := &cobra.Command{
		Use:   "quarantine --store DSN --source NAME [--run ID]",
		Short: "Write the rows a sync could not load, with their row numbers and reasons, as CSV",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := store.Open(ctx, f.storeDSN)
			if err != nil {
				return fmt.Errorf("open the store: %w", err)
			}
			defer func() { _ = st.Close() }()
			if runID == "" {
				runs, err := st.SyncRuns(ctx, f.namespace, f.source, 1)
				if err != nil {
					return err
				}
				if len(runs) == 0 {
					return fmt.Errorf("DataSource %s/%s has no sync runs", f.namespace, f.source)
				}
				runID = runs[0].RunID
			}
			rows, err := st.Quarantined(ctx, f.namespace, f.source, runID, store.MaxQuarantinedRowsPerRun)
			if err != nil {
				return err
			}
			w := csv.NewWriter(cmd.OutOrStdout())
			_ = w.Write([]string{"run", "row", "reason", "raw"})
			for _, q := range rows {
				_ = w.Write([]string{runID, fmt.Sprint(q.Row), q.Reason, q.Raw})
			}
			w.Flush()
			return w.Error()
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&runID, "run", "", "run ID (the sync Job's name); defaults to the latest run")
	return cmd
}

func newExportIdentitiesCommand() *cobra.Command {
	var storeDSN, namespace, resolution string
	cmd := &cobra.Command{
		Use:   "identities --store DSN [--resolution NAME]",
		Short: "Write which profile each source record belongs to as CSV: source, record_key, profile_id",
		Long: `Writes the published profile of every source record of an IdentityResolution. Without
--resolution, the namespace must hold exactly one published resolution.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := store.Open(cmd.Context(), storeDSN)
			if err != nil {
				return fmt.Errorf("open the store: %w", err)
			}
			defer func() { _ = st.Close() }()
			if resolution == "" {
				if resolution, err = onlyResolution(cmd.Context(), st, namespace); err != nil {
					return err
				}
			}
			return exportIdentities(cmd.Context(), st, namespace, resolution, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&storeDSN, "store", "", "store connection string: sqlite:PATH or postgres://...")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the IdentityResolution")
	cmd.Flags().StringVar(&resolution, "resolution", "", "name of the IdentityResolution")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// onlyResolution names the one published resolution of a namespace.
func onlyResolution(ctx context.Context, st store.Store, namespace string) (string, error) {
	names, err := st.Resolutions(ctx, namespace)
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("namespace %s has no published IdentityResolution: run one first", namespace)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("namespace %s has %d published IdentityResolutions (%s): choose one with --resolution",
		namespace, len(names), strings.Join(names, ", "))
}

func exportIdentities(ctx context.Context, st store.Store, namespace, resolution string, out io.Writer) error {
	state, err := st.ResolutionState(ctx, namespace, resolution)
	if err != nil {
		return err
	}
	if state.PublishedGeneration == 0 {
		return fmt.Errorf("IdentityResolution %s/%s has published no profiles yet", namespace, resolution)
	}
	w := csv.NewWriter(out)
	_ = w.Write([]string{"source", "record_key", "profile_id"})
	err = st.ScanMemberships(ctx, namespace, resolution, func(ref store.RecordRef, profileID string) error {
		return w.Write([]string{ref.Source, ref.Key, profileID})
	})
	if err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}
