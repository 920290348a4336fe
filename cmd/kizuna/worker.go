package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/ingest"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

func newWorkerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use: "worker",
		PersistentPreRun: func(*cobra.Command, []string) {
			worker.ApplyMemoryLimit()
		},
		Short: "Run one step of Kizuna's work; the operator's Jobs run this",
		Long: `Runs one step of work in a Job's Pod. The step's input comes from environment variables
that the operator sets on the Job (` + worker.EnvDataSource + ` or ` + worker.EnvResolution + `, ` + worker.EnvRunID + `, ` + worker.EnvStoreDSN + `, and one variable per
Secret key), so the Pod needs no access to the API server to read its resource.`,
	}
	cmd.AddCommand(newWorkerSyncCommand(), newWorkerResolveCommand(), newWorkerDeliverCommand())
	return cmd
}

func newWorkerSyncCommand() *cobra.Command {
	return workerStep("sync", "Sync one DataSource into the store", runWorkerSync)
}

// workerStep is the command of one worker step.
func workerStep(use, short string, run func(context.Context, *cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), cmd)
		},
	}
}

// workerDataSource is what the operator passes in worker.EnvDataSource.
type workerDataSource struct {
	Name       string                     `json:"name"`
	Namespace  string                     `json:"namespace"`
	Generation int64                      `json:"generation"`
	Spec       cdpv1alpha1.DataSourceSpec `json:"spec"`
}

// workerInput reads what every worker step gets from its Job: the resource, from the JSON in
// the variable payloadEnv, the run ID, and the store, which the caller closes.
func workerInput(ctx context.Context, payloadEnv string, resource any) (runID string, st store.Store, err error) {
	if err := json.Unmarshal([]byte(os.Getenv(payloadEnv)), resource); err != nil {
		return "", nil, fmt.Errorf("read %s: %w", payloadEnv, err)
	}
	if runID = os.Getenv(worker.EnvRunID); runID == "" {
		return "", nil, fmt.Errorf("%s is not set", worker.EnvRunID)
	}
	if st, err = store.Open(ctx, os.Getenv(worker.EnvStoreDSN)); err != nil {
		return "", nil, fmt.Errorf("open the store: %w", err)
	}
	return runID, st, nil
}

func runWorkerSync(ctx context.Context, cmd *cobra.Command) error {
	var in workerDataSource
	runID, st, err := workerInput(ctx, worker.EnvDataSource, &in)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	creds := worker.EnvCredentials{}
	if in.Spec.Source.ConfigMap != nil {
		creds.ConfigMaps = configMapReader(in.Namespace)
	}
	ds := &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: in.Namespace, Generation: in.Generation}, Spec: in.Spec}
	cfg, err := worker.SyncConfig(ctx, ds, creds, worker.SyncOptions{Namespace: in.Namespace, RunID: runID, TempDir: os.TempDir()})
	if err != nil {
		return err
	}
	run, err := ingest.Sync(ctx, st, cfg)
	printRun(cmd, run)
	return err
}

// configMapReader reads ConfigMap keys through the API with the Pod's service account.
func configMapReader(namespace string) func(ctx context.Context, name, key string) ([]byte, error) {
	return func(ctx context.Context, name, key string) ([]byte, error) {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("reach the API server to read ConfigMap %s: %w", name, err)
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read ConfigMap %s: %w", name, err)
		}
		if v, ok := cm.Data[key]; ok {
			return []byte(v), nil
		}
		if v, ok := cm.BinaryData[key]; ok {
			return v, nil
		}
		return nil, errors.New("ConfigMap " + name + " has no key " + key)
	}
}

// printRun writes a run's outcome as one JSON line, for the Pod's log.
func printRun(cmd *cobra.Command, run store.SyncRun) {
	out, _ := json.Marshal(map[string]any{
		"source": run.Source, "run": run.RunID, "status": run.Status, "message": run.Message,
		"rowsRead": run.RowsRead, "rowsLoaded": run.RowsLoaded, "rowsQuarantined": run.RowsQuarantined,
		"inserted": run.Inserted, "updated": run.Updated, "unchanged": run.Unchanged, "recordsDeleted": run.RecordsDeleted,
	})
	_, _ = fmt.Fprintln(cmd.OutOrStdout(), string(out))
}

func newWorkerResolveCommand() *cobra.Command {
	return workerStep("resolve", "Resolve one IdentityResolution's records into profiles and publish them", runWorkerResolve)
}

// workerResolution is what the operator passes in worker.EnvResolution.
type workerResolution struct {
	Name       string                             `json:"name"`
	Namespace  string                             `json:"namespace"`
	Generation int64                              `json:"generation"`
	Spec       cdpv1alpha1.IdentityResolutionSpec `json:"spec"`
}

func runWorkerResolve(ctx context.Context, cmd *cobra.Command) error {
	var in workerResolution
	runID, st, err := workerInput(ctx, worker.EnvResolution, &in)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	idr := &cdpv1alpha1.IdentityResolution{
		ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: in.Namespace, Generation: in.Generation}, Spec: in.Spec,
	}
	cfg, err := worker.ResolveConfig(idr)
	if err != nil {
		return err
	}
	run, _, err := worker.Resolve(ctx, st, cfg, worker.ResolveOptions{
		RunID: runID, DryRun: in.Spec.DryRun,
		Phase: func(name string, took time.Duration) {
			_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "resolution %s/%s: %s took %s\n", in.Namespace, in.Name, name, took.Round(time.Millisecond))
		},
	})
	printResolutionRun(cmd, run)
	return err
}

// printResolutionRun writes a resolution run's outcome as one JSON line, for the Pod's log.
func printResolutionRun(cmd *cobra.Command, run store.ResolutionRun) {
	out, _ := json.Marshal(map[string]any{
		"resolution": run.Resolution, "run": run.RunID, "status": run.Status, "dryRun": run.DryRun,
		"generation": run.Generation, "records": run.Records, "profiles": run.Profiles, "merges": run.Merges,
		"splits": run.Splits, "newProfiles": run.NewProfiles, "ignoredValues": len(run.Ignored), "message": run.Message,
	})
	_, _ = fmt.Fprintln(cmd.OutOrStdout(), string(out))
}
