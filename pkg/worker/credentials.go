package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

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
// the Job's Pod gets through secretKeyRef, whole Secrets from the variables that start with
// SecretEnvPrefix, which it gets through envFrom, and ConfigMap content through a reader of the
// API.
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

// SecretData implements Credentials: the Job marks a Secret it passes whole with the variable
// SecretEnvMarker, so that a Secret that was not passed is told apart from one without keys.
func (c EnvCredentials) SecretData(_ context.Context, name string) (map[string]string, error) {
	prefix := SecretEnvPrefix(name)
	if _, ok := os.LookupEnv(SecretEnvMarker(name)); !ok {
		return nil, fmt.Errorf("secret %q was not passed to this Pod (environment variables %s...)", name, prefix)
	}
	data := map[string]string{}
	for _, variable := range os.Environ() {
		envName, value, _ := strings.Cut(variable, "=")
		if key, ok := strings.CutPrefix(envName, prefix); ok && key != "" {
			data[key] = value
		}
	}
	return data, nil
}

// SecretEnvPrefix is the prefix of the environment variables through which a Job's Pod receives
// every key of a Secret (envFrom with this prefix): the key follows it as the Secret spells it,
// so that key X-Api-Key is the variable KIZUNA_SECRETS_<16 hex digits>_X-Api-Key. Every Secret
// key ([-._a-zA-Z0-9]+) makes a valid variable name after it. The hash of the Secret's name
// keeps the prefixes of two Secrets from being prefixes of each other. The Job builder and the
// worker both call it, so the name is the contract between them.
func SecretEnvPrefix(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "KIZUNA_SECRETS_" + strings.ToUpper(hex.EncodeToString(sum[:8])) + "_"
}

// SecretEnvMarker is the variable, set to the Secret's name, by which a Job says that it passes
// the Secret whole; no key of the Secret can make this name.
func SecretEnvMarker(secret string) string {
	return strings.TrimSuffix(SecretEnvPrefix(secret), "_")
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

// SecretData implements Credentials.
func (c MapCredentials) SecretData(_ context.Context, name string) (map[string]string, error) {
	data, ok := c.Secrets[name]
	if !ok {
		return nil, fmt.Errorf("secret %q is not among the manifests", name)
	}
	out := make(map[string]string, len(data))
	for key, value := range data {
		out[key] = string(value)
	}
	return out, nil
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
