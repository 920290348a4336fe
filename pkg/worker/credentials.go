package worker

import (
	"context"
	"fmt"
	"os"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Environment variables of a worker Job's Pod: the contract between the Job builders in the
// controllers and `kizuna worker sync` and `kizuna worker resolve`.
const (
	// EnvDataSource holds the DataSource (name, namespace, generation and spec) as JSON, so the
	// worker syncs exactly the spec its Job was made for and needs no API access to read it.
	EnvDataSource = "KIZUNA_DATASOURCE"
	// EnvResolution holds the IdentityResolution (name, namespace, generation and spec) as JSON,
	// the same way.
	EnvResolution = "KIZUNA_RESOLUTION"
	// EnvRunID is the run's ID: the Job's name.
	EnvRunID = "KIZUNA_RUN_ID"
	// EnvStoreDSN is the store's connection string.
	EnvStoreDSN = "KIZUNA_STORE_DSN"
)

// EnvCredentials reads Secret values from the environment variables named by SecretEnvName, which
// the Job's Pod gets through secretKeyRef, and ConfigMap content through a reader of the API.
type EnvCredentials struct {
	// ConfigMaps reads a ConfigMap key; nil when the worker has no API access.
	ConfigMaps func(ctx context.Context, name, key string) ([]byte, error)
}

// SecretValue implements Credentials.
func (c EnvCredentials) SecretValue(_ context.Context, name, key string) (string, error) {
	v, ok := os.LookupEnv(SecretEnvName(name, key))
	if !ok {
		return "", fmt.Errorf("key %q of Secret %q was not passed to this Pod (environment variable %s)", key, name, SecretEnvName(name, key))
	}
	return v, nil
}

// ConfigMapValue implements Credentials.
func (c EnvCredentials) ConfigMapValue(ctx context.Context, name, key string) ([]byte, error) {
	if c.ConfigMaps == nil {
		return nil, fmt.Errorf("ConfigMap %q cannot be read: the worker has no access to the API server", name)
	}
	return c.ConfigMaps(ctx, name, key)
}

// MapCredentials serves Secrets and ConfigMaps held in memory: those found among the manifests
// given to `kizuna run`.
type MapCredentials struct {
	Secrets    map[string]map[string][]byte
	ConfigMaps map[string]map[string][]byte
}

// SecretValue implements Credentials.
func (c MapCredentials) SecretValue(_ context.Context, name, key string) (string, error) {
	data, ok := c.Secrets[name]
	if !ok {
		return "", fmt.Errorf("secret %q is not among the manifests", name)
	}
	v, ok := data[key]
	if !ok {
		return "", fmt.Errorf("secret %q has no key %q", name, key)
	}
	return string(v), nil
}

// ConfigMapValue implements Credentials.
func (c MapCredentials) ConfigMapValue(_ context.Context, name, key string) ([]byte, error) {
	data, ok := c.ConfigMaps[name]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %q is not among the manifests", name)
	}
	v, ok := data[key]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %q has no key %q", name, key)
	}
	return v, nil
}

// SecretKey names one key of a Secret.
type SecretKey struct{ Name, Key string }

// SecretKeys lists the Secret keys a DataSource's sync needs, in a stable order: the keys its Pod
// receives as environment variables.
func SecretKeys(spec *cdpv1alpha1.DataSourceSpec) []SecretKey {
	var keys []SecretKey
	src := spec.Source
	if src.HTTP != nil && src.HTTP.AuthorizationSecretRef != nil {
		keys = append(keys, SecretKey{src.HTTP.AuthorizationSecretRef.Name, src.HTTP.AuthorizationSecretRef.Key})
	}
	if src.S3 != nil && src.S3.CredentialsSecretRef != nil {
		keys = append(keys,
			SecretKey{src.S3.CredentialsSecretRef.Name, S3AccessKeyIDKey},
			SecretKey{src.S3.CredentialsSecretRef.Name, S3SecretAccessKeyKey})
	}
	if src.Postgres != nil {
		keys = append(keys, SecretKey{src.Postgres.ConnectionSecretRef.Name, src.Postgres.ConnectionSecretRef.Key})
	}
	return keys
}
