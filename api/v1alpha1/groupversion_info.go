// Package v1alpha1 contains the API types of the cdp.kizuna.dev group: the resources with which a
// marketing team declares where customer data comes from, how records are merged into profiles,
// who is in an audience and what is sent to them.
//
// +kubebuilder:object:generate=true
// +groupName=cdp.kizuna.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every Kizuna resource.
	GroupVersion = schema.GroupVersion{Group: "cdp.kizuna.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Go types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&DataSource{}, &DataSourceList{},
		&IdentityResolution{}, &IdentityResolutionList{},
		&Segment{}, &SegmentList{},
		&Channel{}, &ChannelList{},
		&DeliveryPolicy{}, &DeliveryPolicyList{},
		&Campaign{}, &CampaignList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
