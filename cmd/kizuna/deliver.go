package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/delivery/linkserver"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/pkg/worker"
)

func newWorkerDeliverCommand() *cobra.Command {
	return workerStep("deliver", "Deliver one shard of a campaign run: the Pod's Job completion index is the shard", runWorkerDeliver)
}

func runWorkerDeliver(ctx context.Context, cmd *cobra.Command) error {
	var p worker.CampaignPayload
	if err := json.Unmarshal([]byte(os.Getenv(worker.EnvCampaign)), &p); err != nil {
		return fmt.Errorf("read %s: %w", worker.EnvCampaign, err)
	}
	if p.Campaign == nil {
		return fmt.Errorf("%s names no campaign", worker.EnvCampaign)
	}
	shard := 0
	if index := os.Getenv("JOB_COMPLETION_INDEX"); index != "" {
		n, err := strconv.Atoi(index)
		if err != nil {
			return fmt.Errorf("JOB_COMPLETION_INDEX %q is not a number", index)
		}
		shard = n
	}
	st, err := store.Open(ctx, os.Getenv(worker.EnvStoreDSN))
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	defer func() { _ = st.Close() }()
	signer, err := linkSigner(os.Getenv(worker.EnvLinkBaseURL), p.Campaign.Namespace, os.Getenv(worker.EnvLinkKey))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	summary, err := worker.DeliverRun(ctx, st, &p, worker.EnvCredentials{}, worker.DeliveryOptions{
		Shard: shard, Worker: fmt.Sprintf("%s/%d", host, os.Getpid()), Links: signer,
		Log: ctrl.Log.WithName("deliver"),
	})
	out, _ := json.Marshal(map[string]any{
		"campaign": p.Campaign.Name, "run": p.Run.Run, "shard": shard, "read": summary.Read, "sent": summary.Sent,
		"failed": summary.Failed, "retried": summary.Retried, "suppressed": summary.Suppressed, "capped": summary.Capped,
		"deferred": summary.Deferred,
	})
	_, _ = fmt.Fprintln(cmd.OutOrStdout(), string(out))
	if takenOver(err) {
		// A Pod that replaced this one sends the shard now: this one's part is done, and a
		// failure would have the Job start yet another Pod that takes the shard back.
		ctrl.Log.WithName("deliver").Info("another worker took the shard over; stopping", "shard", shard, "reason", err.Error())
		return nil
	}
	return err
}

// takenOver says whether err says only that another worker took the shard over: errors joined
// with it (a refused credential, a database down) still fail the worker.
func takenOver(err error) bool {
	if err == nil {
		return false
	}
	// The wrapping is walked by hand: errors.Is would say yes if any joined error is the takeover.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		for _, inner := range errs {
			if !takenOver(inner) {
				return false
			}
		}
		return len(errs) > 0
	}
	if inner := errors.Unwrap(err); inner != nil {
		return takenOver(inner)
	}
	return errors.Is(err, store.ErrNotShardOwner) // a leaf: nothing else in it
}

// linkSigner returns the signer of a namespace's unsubscribe and tracking links, or nil when no
// base URL is configured: messages then carry no such links.
func linkSigner(baseURL, namespace, key string) (*links.Signer, error) {
	if baseURL == "" {
		return nil, nil
	}
	if key == "" {
		return nil, fmt.Errorf("links are configured (%s=%s) but %s is empty: give the manager a link signing Secret", worker.EnvLinkBaseURL, baseURL, worker.EnvLinkKey)
	}
	signer, err := links.NewSigner(linkserver.NamespaceBaseURL(baseURL, namespace), []byte(key))
	if err != nil {
		return nil, fmt.Errorf("link signer: %w", err)
	}
	return signer, nil
}
