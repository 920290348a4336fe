package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/controllers"
	"github.com/kizuna-dev/kizuna/pkg/delivery/linkserver"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/version"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

// managerOptions are the flags of `kizuna manager`.
type managerOptions struct {
	metricsAddr             string
	secureMetrics           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	maxConcurrentReconciles int
	storeDSN                string
	linksAddr               string
	workers                 controllers.WorkerOptions
	zap                     zap.Options
}

func newManagerCommand() *cobra.Command {
	opts := managerOptions{zap: zap.Options{Development: false}}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: the controllers of every Kizuna resource",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runManager(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.metricsAddr, "metrics-bind-address", ":8443",
		"address the metrics endpoint binds to; 0 disables it")
	f.BoolVar(&opts.secureMetrics, "metrics-secure", true,
		"serve metrics over HTTPS, authenticated and authorized through the API server")
	f.StringVar(&opts.probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	f.BoolVar(&opts.leaderElect, "leader-elect", false,
		"elect a leader, so that only one of several manager replicas reconciles at a time")
	f.StringVar(&opts.leaderElectionNamespace, "leader-election-namespace", "",
		"namespace of the leader-election lease; defaults to the manager's own namespace")
	f.IntVar(&opts.maxConcurrentReconciles, "max-concurrent-reconciles", 2,
		"reconciles each controller runs at once")
	f.StringVar(&opts.storeDSN, "store-dsn", os.Getenv(worker.EnvStoreDSN),
		"the store's connection string, sqlite:PATH or postgres://... (default $"+worker.EnvStoreDSN+")")
	f.StringVar(&opts.workers.Image, "worker-image", "ghcr.io/kizuna-dev/kizuna:"+imageTag(),
		"image of the kizuna binary that Jobs run")
	f.StringVar(&opts.workers.ServiceAccountName, "worker-service-account", "",
		"service account of the Jobs' Pods; empty uses each namespace's default")
	f.StringVar(&opts.workers.StoreSecret, "worker-store-secret", "",
		"Secret, in each namespace that runs Jobs, whose key \"dsn\" the Jobs read the store's connection string from; "+
			"required when the connection string has a password")
	f.Int32Var(&opts.workers.BackoffLimit, "job-backoff-limit", 2, "retries of a failed Job Pod")
	f.StringVar(&opts.workers.LinkBaseURL, "link-base-url", "",
		"public base URL of the unsubscribe and tracking links in messages, e.g. https://kizuna.example.jp")
	f.StringVar(&opts.linksAddr, "links-bind-address", "",
		"address the unsubscribe, click and open links are served on, e.g. :8090 (needs --link-base-url and --link-secret); empty serves none")
	f.StringVar(&opts.workers.LinkSecret, "link-secret", "",
		"Secret, in each namespace that sends, whose key \"key\" signs unsubscribe and tracking links")
	f.IntVar(&opts.workers.SuccessfulJobsHistoryLimit, "successful-jobs-history-limit", 3,
		"finished Jobs kept per resource after they succeeded")
	f.IntVar(&opts.workers.FailedJobsHistoryLimit, "failed-jobs-history-limit", 3,
		"finished Jobs kept per resource after they failed")
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	opts.zap.BindFlags(zapFlags)
	f.AddGoFlagSet(zapFlags)
	return cmd
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cdpv1alpha1.AddToScheme(scheme))
	return scheme
}

func runManager(cmd *cobra.Command, opts managerOptions) error {
	if opts.maxConcurrentReconciles < 1 {
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", opts.maxConcurrentReconciles)
	}
	if opts.storeDSN == "" {
		return fmt.Errorf("--store-dsn (or $%s) is required: the manager reads the results of Jobs from the store", worker.EnvStoreDSN)
	}
	opts.workers.StoreDSN = opts.storeDSN
	if err := opts.workers.Validate(); err != nil {
		return fmt.Errorf("worker settings: %w", err)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("manager")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the cluster to manage (set KUBECONFIG or run in a pod): %w", err)
	}
	st, err := store.Open(cmd.Context(), opts.storeDSN)
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	defer func() { _ = st.Close() }()
	mgr, err := ctrl.NewManager(cfg, managerOptionsFor(opts))
	if err != nil {
		return fmt.Errorf("create the manager: %w", err)
	}
	err = controllers.SetupWithManager(mgr, controllers.Options{
		MaxConcurrentReconciles: opts.maxConcurrentReconciles,
		Store:                   st,
		Workers:                 opts.workers,
	})
	if err != nil {
		return err
	}
	if opts.linksAddr != "" {
		if err := addLinkServer(mgr, st, opts); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add the readiness check: %w", err)
	}
	log.Info("starting the manager", "metrics", opts.metricsAddr, "probes", opts.probeAddr, "leaderElection", opts.leaderElect)
	if err := mgr.Start(cmd.Context()); err != nil {
		return fmt.Errorf("run the manager: %w", err)
	}
	return nil
}

// addLinkServer serves the links in messages beside the controllers. Each namespace's links are
// verified with the key in its link Secret, read from the API server (Secrets are not cached).
func addLinkServer(mgr ctrl.Manager, st store.Store, opts managerOptions) error {
	if opts.workers.LinkBaseURL == "" || opts.workers.LinkSecret == "" {
		return fmt.Errorf("--links-bind-address needs --link-base-url and --link-secret: the links served are those the workers sign")
	}
	reader := mgr.GetAPIReader()
	handler := &linkserver.Server{Store: st, BaseURL: opts.workers.LinkBaseURL, Log: ctrl.Log.WithName("links"),
		Key: func(ctx context.Context, namespace string) ([]byte, error) {
			var secret corev1.Secret
			if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: opts.workers.LinkSecret}, &secret); err != nil {
				return nil, err
			}
			key, ok := secret.Data[controllers.LinkSecretKey]
			if !ok {
				return nil, fmt.Errorf("secret %s/%s has no key %q", namespace, opts.workers.LinkSecret, controllers.LinkSecretKey)
			}
			return key, nil
		}}
	server := &http.Server{Addr: opts.linksAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	return mgr.Add(everyReplica(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = server.Shutdown(shutdown)
		}()
		if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve links on %s: %w", opts.linksAddr, err)
		}
		return nil
	}))
}

// everyReplica is a runnable that runs on every replica of the manager, not only on the leader:
// any replica behind the links' Service must answer them.
type everyReplica func(ctx context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (everyReplica) NeedLeaderElection() bool { return false }

var _ manager.LeaderElectionRunnable = everyReplica(nil)

// imageTag is the worker image's tag: the build's version, or latest for a development build.
func imageTag() string {
	if version.Version == "dev" {
		return "latest"
	}
	return version.Version
}

// managerOptionsFor turns the flags into the options of a controller-runtime manager.
func managerOptionsFor(opts managerOptions) ctrl.Options {
	metrics := metricsserver.Options{BindAddress: opts.metricsAddr, SecureServing: opts.secureMetrics}
	if opts.secureMetrics {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return ctrl.Options{
		Scheme:                        newScheme(),
		Metrics:                       metrics,
		HealthProbeBindAddress:        opts.probeAddr,
		LeaderElection:                opts.leaderElect,
		LeaderElectionID:              "kizuna-manager.cdp.kizuna.dev",
		LeaderElectionNamespace:       opts.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Client: client.Options{Cache: &client.CacheOptions{
			// Secrets and ConfigMaps are watched as metadata only and read on demand, so the
			// manager never holds every Secret of the cluster in memory.
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
	}
}
