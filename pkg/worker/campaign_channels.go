package worker

import (
	"context"
	"crypto/tls"
	"fmt"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/line"
	"github.com/kizuna-dev/kizuna/pkg/delivery/push"
	"github.com/kizuna-dev/kizuna/pkg/delivery/sms"
	"github.com/kizuna-dev/kizuna/pkg/delivery/smtp"
	"github.com/kizuna-dev/kizuna/pkg/delivery/webhook"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// ChannelOptions are the parts of a channel's sender that come from where it runs.
type ChannelOptions struct {
	// SMTPTLSConfig overrides the TLS settings of SMTP channels (a test server's certificate).
	SMTPTLSConfig *tls.Config
	// HTTPConcurrency is how many requests an HTTP channel has in flight from one worker when its
	// rate limit sets no maxConcurrency. Defaults to 32.
	HTTPConcurrency int
}

// ChannelSecrets lists the Secret keys a Channel reads, so that a Job passes exactly those to
// its Pod.
func ChannelSecrets(ch *cdpv1alpha1.Channel) []cdpv1alpha1.SecretKeySelector {
	spec := ch.Spec
	switch {
	case spec.SMTP != nil && spec.SMTP.AuthSecretRef != nil:
		name := spec.SMTP.AuthSecretRef.Name
		return []cdpv1alpha1.SecretKeySelector{{Name: name, Key: "username"}, {Name: name, Key: "password"}}
	case spec.Webhook != nil:
		return []cdpv1alpha1.SecretKeySelector{spec.Webhook.SigningSecretRef}
	case spec.SMS != nil:
		name := spec.SMS.CredentialsSecretRef.Name
		if spec.SMS.Provider == "Vonage" {
			return []cdpv1alpha1.SecretKeySelector{{Name: name, Key: "apiKey"}, {Name: name, Key: "apiSecret"}}
		}
		return []cdpv1alpha1.SecretKeySelector{{Name: name, Key: "accountID"}, {Name: name, Key: "authToken"}}
	case spec.LINE != nil:
		return []cdpv1alpha1.SecretKeySelector{spec.LINE.ChannelAccessTokenSecretRef}
	case spec.Push != nil:
		return []cdpv1alpha1.SecretKeySelector{spec.Push.ServiceAccountSecretRef}
	}
	return nil
}

// ChannelWholeSecrets lists the Secrets a Channel reads every key of (a webhook's headers), so
// that a Job passes each whole, by reference: their keys are not in the spec.
func ChannelWholeSecrets(ch *cdpv1alpha1.Channel) []string {
	if w := ch.Spec.Webhook; w != nil && w.HeadersSecretRef != nil {
		return []string{w.HeadersSecretRef.Name}
	}
	return nil
}

// NewChannelSender builds the sender of a Channel, its credentials read through creds, and its
// pacing shared with every other worker through the store.
func NewChannelSender(ctx context.Context, st store.Store, ch *cdpv1alpha1.Channel, creds Credentials, opts ChannelOptions) (*ChannelSender, error) {
	secret := func(sel cdpv1alpha1.SecretKeySelector) (string, error) {
		v, err := creds.SecretValue(ctx, sel.Name, sel.Key)
		if err != nil {
			return "", fmt.Errorf("channel %s: %w", ch.Name, err)
		}
		return v, nil
	}
	concurrency := opts.HTTPConcurrency
	if concurrency <= 0 {
		concurrency = 32
	}
	var sender delivery.Sender
	var err error
	spec := ch.Spec
	switch spec.Type {
	case cdpv1alpha1.ChannelSMTP:
		cfg := smtp.Config{
			Host: spec.SMTP.Host, Port: int(spec.SMTP.Port), TLS: smtp.TLSMode(spec.SMTP.TLS),
			From:           smtp.Address{Address: spec.SMTP.From.Address, Name: spec.SMTP.From.Name},
			MaxConnections: int(spec.SMTP.MaxConnections), TLSConfig: opts.SMTPTLSConfig,
		}
		if spec.SMTP.ReplyTo != nil {
			cfg.ReplyTo = smtp.Address{Address: spec.SMTP.ReplyTo.Address, Name: spec.SMTP.ReplyTo.Name}
		}
		if ref := spec.SMTP.AuthSecretRef; ref != nil {
			if cfg.Username, err = secret(cdpv1alpha1.SecretKeySelector{Name: ref.Name, Key: "username"}); err != nil {
				return nil, err
			}
			if cfg.Password, err = secret(cdpv1alpha1.SecretKeySelector{Name: ref.Name, Key: "password"}); err != nil {
				return nil, err
			}
		}
		concurrency = cfg.MaxConnections
		if concurrency <= 0 {
			concurrency = smtp.DefaultMaxConnections
		}
		sender, err = smtp.New(cfg)
	case cdpv1alpha1.ChannelWebhook:
		key, err := secret(spec.Webhook.SigningSecretRef)
		if err != nil {
			return nil, err
		}
		cfg := webhook.Config{URL: spec.Webhook.URL, SigningKey: []byte(key)}
		if ref := spec.Webhook.HeadersSecretRef; ref != nil {
			if cfg.Headers, err = creds.SecretData(ctx, ref.Name); err != nil {
				return nil, fmt.Errorf("channel %s: headersSecretRef: %w", ch.Name, err)
			}
		}
		if spec.Webhook.Timeout != nil {
			cfg.Timeout = spec.Webhook.Timeout.Duration
		}
		sender, err = webhook.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", ch.Name, err)
		}
	case cdpv1alpha1.ChannelSMS:
		cfg := sms.Config{Provider: sms.Provider(spec.SMS.Provider), From: spec.SMS.From, Endpoint: spec.SMS.Endpoint}
		keys := ChannelSecrets(ch)
		first, err := secret(keys[0])
		if err != nil {
			return nil, err
		}
		second, err := secret(keys[1])
		if err != nil {
			return nil, err
		}
		if cfg.Provider == sms.Vonage {
			cfg.APIKey, cfg.APISecret = first, second
		} else {
			cfg.AccountID, cfg.AuthToken = first, second
		}
		sender, err = sms.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", ch.Name, err)
		}
	case cdpv1alpha1.ChannelLINE:
		token, err := secret(spec.LINE.ChannelAccessTokenSecretRef)
		if err != nil {
			return nil, err
		}
		sender, err = line.New(line.Config{ChannelAccessToken: token, Endpoint: spec.LINE.Endpoint})
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", ch.Name, err)
		}
	case cdpv1alpha1.ChannelPush:
		key, err := secret(spec.Push.ServiceAccountSecretRef)
		if err != nil {
			return nil, err
		}
		sender, err = push.New(push.Config{ProjectID: spec.Push.ProjectID, ServiceAccountKey: []byte(key), Endpoint: spec.Push.Endpoint})
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", ch.Name, err)
		}
	default:
		return nil, fmt.Errorf("channel %s: type %q is not one Kizuna sends through", ch.Name, spec.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", ch.Name, err)
	}
	if rl := spec.RateLimit; rl != nil && rl.MaxConcurrency != nil {
		concurrency = min(concurrency, int(*rl.MaxConcurrency))
	}
	cs := &ChannelSender{Name: ch.Name, Type: spec.Type, Sender: sender, Concurrency: max(concurrency, 1),
		Deduplicates: spec.Type == cdpv1alpha1.ChannelWebhook || spec.Type == cdpv1alpha1.ChannelLINE}
	if limiter := NewStoreLimiter(st, ch.Namespace, ch.Name, spec.RateLimit); limiter != nil {
		cs.Limiter = limiter
	}
	return cs, nil
}
