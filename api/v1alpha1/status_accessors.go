package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The accessors below let the controllers share one way of writing conditions.

// StatusConditions returns the conditions for in-place update.
func (in *DataSource) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *DataSource) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the conditions for in-place update.
func (in *IdentityResolution) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *IdentityResolution) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the conditions for in-place update.
func (in *Segment) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *Segment) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the conditions for in-place update.
func (in *Channel) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *Channel) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the conditions for in-place update.
func (in *DeliveryPolicy) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *DeliveryPolicy) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the conditions for in-place update.
func (in *Campaign) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *Campaign) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
