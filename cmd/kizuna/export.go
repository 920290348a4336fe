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
	cmd.AddCommand(newExportRecordsCommand(), newExportQuarantineCommand())
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
