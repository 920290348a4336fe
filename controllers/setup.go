// Package controllers holds one reconciler per Kizuna kind. Each is thin: it reads the resource and
// what it references, decides, and writes the resource's status once. The work on customer rows
// happens in Jobs running `kizuna worker`, never in the controllers.
package controllers

import (
	"fmt"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Options tune every controller.
type Options struct {
	// MaxConcurrentReconciles per controller.
	MaxConcurrentReconciles int
	// Clock tells the time; tests inject a fake one.
	Clock clock.PassiveClock
	// Store is read for the results of the work Jobs did; nil runs no Jobs.
	Store store.Store
	// Workers say how Jobs run.
	Workers WorkerOptions
}

// base is what every reconciler needs.
type base struct {
	client.Client
	// apiReader reads Secrets and ConfigMaps straight from the API server; the cache holds only
	// their metadata.
	apiReader client.Reader
	recorder  recorder.EventRecorder
	clock     clock.PassiveClock
}

func (b base) status() statusWriter { return statusWriter{client: b.Client, recorder: b.recorder} }

func (b base) resolver(namespace string) resolver {
	return resolver{reader: b.Client, namespace: namespace}
}

func (b base) secretResolver(namespace string) resolver {
	return resolver{reader: b.apiReader, namespace: namespace}
}

// SetupWithManager registers every Kizuna controller with the manager.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	newBase := func(name string) base {
		return base{
			Client:    mgr.GetClient(),
			apiReader: mgr.GetAPIReader(),
			recorder:  mgr.GetEventRecorder(name),
			clock:     opts.Clock,
		}
	}
	controllerOpts := controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}
	setups := []struct {
		name  string
		setup func(ctrl.Manager, base, controller.Options, Options) error
	}{
		{"datasource", setupDataSource},
		{"identityresolution", setupIdentityResolution},
		{"segment", setupSegment},
		{"channel", setupChannel},
		{"deliverypolicy", setupDeliveryPolicy},
		{"campaign", setupCampaign},
	}
	for _, s := range setups {
		if err := s.setup(mgr, newBase("kizuna-"+s.name+"-controller"), controllerOpts, opts); err != nil {
			return fmt.Errorf("set up the %s controller: %w", s.name, err)
		}
	}
	return nil
}
