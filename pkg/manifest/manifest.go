// Package manifest reads Kizuna resources, Secrets and ConfigMaps from YAML files, for the local
// commands (`kizuna run`, `kizuna preview`) that run the workers' code without a cluster.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Set is what a set of manifests declares, by namespace and name.
type Set struct {
	DataSources         []Located[*cdpv1alpha1.DataSource]
	IdentityResolutions []Located[*cdpv1alpha1.IdentityResolution]
	Segments            []Located[*cdpv1alpha1.Segment]
	Channels            []Located[*cdpv1alpha1.Channel]
	DeliveryPolicies    []Located[*cdpv1alpha1.DeliveryPolicy]
	Campaigns           []Located[*cdpv1alpha1.Campaign]
	Secrets             map[string]map[string][]byte
	ConfigMaps          map[string]map[string][]byte
	// Skipped counts documents of kinds the local commands do not run yet, by kind.
	Skipped map[string]int
}

// Located is an object with the folder of the file it came from, against which relative file
// paths in its spec are resolved.
type Located[T any] struct {
	Object T
	Dir    string
	File   string
}

// Load reads every .yaml and .yml file under path (a file or a folder), giving objects without a
// namespace the namespace defaultNamespace. Secrets and ConfigMaps are keyed by name, since the
// local commands run one namespace at a time.
func Load(path, defaultNamespace string) (*Set, error) {
	files, err := yamlFiles(path)
	if err != nil {
		return nil, err
	}
	set := &Set{Secrets: map[string]map[string][]byte{}, ConfigMaps: map[string]map[string][]byte{}, Skipped: map[string]int{}}
	for _, f := range files {
		if err := set.loadFile(f, defaultNamespace); err != nil {
			return nil, err
		}
	}
	return set, nil
}

func yamlFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		if !d.IsDir() && (ext == ".yaml" || ext == ".yml") && filepath.Base(p) != "kustomization.yaml" {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func (s *Set) loadFile(file, defaultNamespace string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for doc := 1; ; doc++ {
		var u unstructured.Unstructured
		err := decoder.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s, document %d: %w", file, doc, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetNamespace() == "" {
			u.SetNamespace(defaultNamespace)
		}
		if err := s.add(&u, file); err != nil {
			return fmt.Errorf("%s, document %d (%s %s): %w", file, doc, u.GetKind(), u.GetName(), err)
		}
	}
}

func (s *Set) add(u *unstructured.Unstructured, file string) error {
	gvk := u.GroupVersionKind()
	switch {
	case gvk.Group == "" && gvk.Kind == "Secret":
		var secret corev1.Secret
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &secret); err != nil {
			return err
		}
		data := map[string][]byte{}
		for k, v := range secret.Data {
			data[k] = v
		}
		for k, v := range secret.StringData {
			data[k] = []byte(v)
		}
		s.Secrets[secret.Name] = data
	case gvk.Group == "" && gvk.Kind == "ConfigMap":
		var cm corev1.ConfigMap
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cm); err != nil {
			return err
		}
		data := map[string][]byte{}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		s.ConfigMaps[cm.Name] = data
	case gvk.Group == cdpv1alpha1.GroupVersion.Group && gvk.Kind == "DataSource":
		ds, err := decode[cdpv1alpha1.DataSource](u)
		if err != nil {
			return err
		}
		s.DataSources = append(s.DataSources, Located[*cdpv1alpha1.DataSource]{Object: ds, Dir: filepath.Dir(file), File: file})
	case gvk.Group == cdpv1alpha1.GroupVersion.Group && gvk.Kind == "IdentityResolution":
		idr, err := decode[cdpv1alpha1.IdentityResolution](u)
		if err != nil {
			return err
		}
		s.IdentityResolutions = append(s.IdentityResolutions, Located[*cdpv1alpha1.IdentityResolution]{Object: idr, Dir: filepath.Dir(file), File: file})
	case gvk.Group == cdpv1alpha1.GroupVersion.Group && gvk.Kind == "Segment":
		seg, err := decode[cdpv1alpha1.Segment](u)
		if err != nil {
			return err
		}
		s.Segments = append(s.Segments, Located[*cdpv1alpha1.Segment]{Object: seg, Dir: filepath.Dir(file), File: file})
	case gvk.Group == cdpv1alpha1.GroupVersion.Group && gvk.Kind == "Channel":
		ch, err := decode[cdpv1alpha1.Channel](u)
		if err != nil {
			return err
		}
		s.Channels = append(s.Channels, Located[*cdpv1alpha1.Channel]{Object: ch, Dir: filepath.Dir(file), File: file})
	case gvk.Group == cdpv1alpha1.GroupVersion.Group && gvk.Kind == "DeliveryPolicy":
		p, err := decode[cdpv1alpha1.DeliveryPolicy](u)
		if err != nil {
			return err
		}
		s.DeliveryPolicies = append(s.DeliveryPolicies, Located[*cdpv1alpha1.DeliveryPolicy]{Object: p, Dir: filepath.Dir(file), File: file})
	case gvk.Group == cdpv1alpha1.GroupVersion.Group && gvk.Kind == "Campaign":
		c, err := decode[cdpv1alpha1.Campaign](u)
		if err != nil {
			return err
		}
		s.Campaigns = append(s.Campaigns, Located[*cdpv1alpha1.Campaign]{Object: c, Dir: filepath.Dir(file), File: file})
	default:
		s.Skipped[gvk.Kind]++
	}
	return nil
}

// decode converts a Kizuna document to its type, refusing unknown fields and versions the
// binary does not serve.
func decode[T any](u *unstructured.Unstructured) (*T, error) {
	if v := u.GroupVersionKind().Version; v != cdpv1alpha1.GroupVersion.Version {
		return nil, fmt.Errorf("apiVersion %s is not served: use %s", u.GetAPIVersion(), cdpv1alpha1.GroupVersion)
	}
	var obj T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &obj, true); err != nil {
		return nil, err
	}
	return &obj, nil
}
