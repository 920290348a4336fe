// Package v1alpha1 contains the API types of the cdp.kizuna.dev group: the resources with which a
// marketing team declares where customer data comes from, how records are merged into profiles,
// who is in an audience and what is sent to them.
//
// +kubebuilder:object:generate=true
// +groupName=cdp.kizuna.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Kizuna resource.
	GroupVersion = schema.GroupVersion{Group: "cdp.kizuna.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Go types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
