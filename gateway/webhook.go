package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/internal/netguard"
)

// Webhook delivery defaults.
const (
	// DefaultWebhookRetry is the first delay before a failed delivery is
	// tried again; each retry doubles it, up to maxWebhookDelay.
	DefaultWebhookRetry = time.Second
	// DefaultWebhookAttempts is how many times a delivery is tried before
	// it is given up (about a day and a half with the default delays).
	DefaultWebhookAttempts = 400
	maxWebhookDelay        = 5 * time.Minute
	webhookTimeout         = 30 * time.Second
	webhookWorkers         = 16
)

// checkNotify refuses a notify URL the gateway could never deliver to.
// Private addresses are checked at delivery, after name resolution.
func (g *Gateway) checkNotify(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: notify URL %q: want an http or https URL", bus.ErrMalformed, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: notify URL %s: no user or password in the URL (it is stored in the task log; the signature authenticates the gateway)", bus.ErrMalformed, u.Redacted())
	}
	if g.cfg.WebhookSecret == "" {
		return fmt.Errorf("this gateway has no webhook secret to sign notifications with; start it with --webhook-secret (or VIBER_WEBHOOK_SECRET): %w", bus.ErrUnsupported)
	}
	if !g.cfg.WebhookAllowPrivate {
		if ap, err := netip.ParseAddr(u.Hostname()); err == nil {
			if why := netguard.NonPublic(ap); why != "" {
				return fmt.Errorf("%w: notify URL %s: %s is a %s address (allow private networks in the gateway's config to use it)", bus.ErrMalformed, u.Redacted(), ap, why)
			}
		}
	}
	return nil
}

// setupWebhooks creates the delivery consumer and bucket and the HTTP
// client that refuses private networks unless the config allows them.
func (g *Gateway) setupWebhooks(ctx context.Context) error {
	if err := bus.SetupWebhooks(ctx, g.js, g.cfg.Setup); err != nil {
		return err
	}
	var err error
	if g.webhooks, err = bus.OpenWebhooks(ctx, g.js); err != nil {
		return err
	}
	if g.taskStream, err = g.js.Stream(ctx, bus.TaskStream); err != nil {
		return fmt.Errorf("open stream %s: %w", bus.TaskStream, err)
	}
	allow := g.cfg.WebhookAllowPrivate
	dialer := netguard.Dialer(10*time.Second, func(ap netip.AddrPort) error { return netguard.Check(ap, allow) })
	g.hookClient = &http.Client{
		Timeout: webhookTimeout,
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would resolve names itself and defeat the address check
			DialContext:         dialer.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        16,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		// A redirect is not a delivery: the receiver must answer 2xx itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// startWebhooks consumes terminal events until the gateway stops. A
// gateway without a webhook secret does not: it could sign nothing, tasks
// cannot ask it for notifications, and a gateway with a secret (another
// one now, or this one restarted with it) delivers what is pending. So a
// gateway without webhooks costs no delivery and ack per task.
func (g *Gateway) startWebhooks(ctx context.Context) error {
	if g.cfg.WebhookSecret == "" {
		return nil
	}
	var cons jetstream.Consumer
	err := g.retry(ctx, "open the webhook consumer", func(ctx context.Context) (err error) {
		cons, err = g.js.Consumer(ctx, bus.TaskStream, bus.WebhookConsumer)
		return err
	})
	if err != nil {
		return fmt.Errorf("open consumer %s: %w", bus.WebhookConsumer, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	sem := make(chan struct{}, webhookWorkers)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case sem <- struct{}{}:
		case <-wctx.Done():
			return
		}
		// Add only while the consumer is not stopping: a WaitGroup must not
		// be added to while it is waited on.
		g.hookMu.Lock()
		if wctx.Err() != nil {
			g.hookMu.Unlock()
			<-sem
			return
		}
		g.hookWG.Add(1)
		g.hookMu.Unlock()
		go func() {
			defer func() { <-sem; g.hookWG.Done() }()
			g.handleTerminal(wctx, m)
		}()
	}, jetstream.PullMaxMessages(webhookWorkers), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if wctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			g.log.Debug().Err(err).Msg("webhook consumer")
		}
	}))
	if err != nil {
		cancel()
		return fmt.Errorf("consume terminal events: %w", err)
	}
	g.stopWebhooks = func() {
		g.hookMu.Lock()
		cancel()
		g.hookMu.Unlock()
		cc.Stop()
		g.hookWG.Wait()
	}
	return nil
}

// handleTerminal delivers one terminal event if its task asked for it.
func (g *Gateway) handleTerminal(ctx context.Context, m jetstream.Msg) {
	taskID, _, _, ok := bus.TaskSubjectParts(m.Subject())
	if !ok {
		_ = m.Ack()
		return
	}
	ev, err := bus.ParseEvent(m.Data())
	if err != nil || ev.Subject != taskID {
		_ = m.Ack() // readers reject it; nothing to tell anyone
		return
	}
	log := g.log.With().Str("task", taskID).Str("event", ev.ID).Logger()
	notify, err := g.notifyURL(ctx, taskID)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("webhook: reading the task failed; retrying")
			_ = m.NakWithDelay(DefaultWebhookRetry)
		}
		return
	}
	if notify == "" {
		_ = m.Ack()
		return
	}
	// Deliver only events the task's fold accepts: a forged terminal
	// event (from a writer that does not hold the task) is not news.
	v, err := g.tasks.Load(ctx, taskID, 0)
	if err != nil {
		if ctx.Err() == nil {
			_ = m.NakWithDelay(DefaultWebhookRetry)
		}
		return
	}
	accepted := false
	for _, e := range v.Events {
		if e.ID == ev.ID {
			accepted = true
			break
		}
	}
	if !accepted {
		log.Warn().Msg("webhook: the terminal event does not fit its task; not delivered")
		_ = m.Ack()
		return
	}
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	attempt := int(md.NumDelivered)
	d := &bus.WebhookDelivery{Task: taskID, EventID: ev.ID, Type: ev.Type, URL: redact(notify), State: bus.WebhookPending, Attempts: attempt, UpdatedAt: time.Now().UTC()}
	status, err := g.post(ctx, notify, m.Data(), ev, attempt)
	d.LastStatus = status
	switch {
	case err == nil:
		now := time.Now().UTC()
		d.State, d.DeliveredAt = bus.WebhookDelivered, &now
		log.Info().Int("status", status).Int("attempt", attempt).Msg("webhook delivered")
		g.recordDelivery(ctx, d)
		_ = m.DoubleAck(ctx)
	case errors.Is(err, netguard.ErrBlockedAddress) || errors.Is(err, errBadURL):
		d.State, d.LastError = bus.WebhookRefused, err.Error()
		log.Error().Err(err).Msg("webhook refused; not retried")
		g.recordDelivery(ctx, d)
		_ = m.Term()
	case ctx.Err() != nil:
		// The gateway is stopping; the event is delivered again later.
	case attempt >= g.cfg.WebhookAttempts:
		d.State, d.LastError = bus.WebhookGaveUp, err.Error()
		log.Error().Err(err).Int("attempts", attempt).Msg("webhook given up")
		g.recordDelivery(ctx, d)
		_ = m.Term()
	default:
		delay := backoff(g.cfg.WebhookRetry, attempt)
		next := time.Now().Add(delay).UTC()
		d.LastError, d.NextAttempt = err.Error(), &next
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).Msg("webhook delivery failed")
		g.recordDelivery(ctx, d)
		_ = m.NakWithDelay(delay)
	}
}

// notifyURL reads a task's notify URL from its created event (one direct
// get).
func (g *Gateway) notifyURL(ctx context.Context, taskID string) (string, error) {
	if url, ok := g.notifyOf.get(taskID); ok {
		return url, nil
	}
	raw, err := g.taskStream.GetLastMsgForSubject(ctx, bus.CreatedSubject(taskID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	ev, err := bus.ParseEvent(raw.Data)
	if err != nil {
		return "", nil
	}
	c, err := bus.DecodeAs[bus.Created](ev)
	if err != nil {
		return "", nil
	}
	return c.Notify, nil
}

var errBadURL = errors.New("bad notify URL")

// post makes one delivery attempt; a nil error means a 2xx answer.
func (g *Gateway) post(ctx context.Context, target string, body []byte, ev *bus.Event, attempt int) (int, error) {
	if g.cfg.WebhookSecret == "" {
		return 0, errors.New("no webhook secret configured (--webhook-secret or VIBER_WEBHOOK_SECRET)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errBadURL, err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return 0, fmt.Errorf("%w: scheme %q", errBadURL, req.URL.Scheme)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "viber-gateway/"+g.cfg.Version)
	req.Header.Set(bus.HeaderWebhookSignature, bus.SignWebhook([]byte(g.cfg.WebhookSecret), body))
	req.Header.Set(bus.HeaderWebhookEventID, ev.ID)
	req.Header.Set(bus.HeaderIdempotencyKey, ev.ID)
	req.Header.Set(bus.HeaderEventType, string(ev.Type))
	req.Header.Set(bus.HeaderWebhookAttempt, strconv.Itoa(attempt))
	resp, err := g.hookClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

func (g *Gateway) recordDelivery(ctx context.Context, d *bus.WebhookDelivery) {
	if err := g.webhooks.Put(context.WithoutCancel(ctx), d); err != nil {
		g.log.Warn().Err(err).Str("task", d.Task).Msg("recording a webhook delivery failed")
	}
}

// Webhooks returns the webhook deliveries of a task.
func (g *Gateway) Webhooks(ctx context.Context, taskID string) (*bus.WebhooksResponse, error) {
	list, err := g.webhooks.ForTask(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []*bus.WebhookDelivery{}
	}
	return &bus.WebhooksResponse{Deliveries: list}, nil
}

// backoff is base doubled for every attempt after the first, capped.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxWebhookDelay; i++ {
		d *= 2
	}
	return min(d, maxWebhookDelay)
}

// redact hides a URL's query (it may hold a token) in what is shown.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.Redacted()
}

// notifyCache remembers the notify URL ("" for none) of the tasks this
// gateway created, so that delivering their terminal events need not read
// their created event back: it never changes once stored. A task created
// elsewhere, or forgotten (the cache is bounded), is read as before.
type notifyCache struct {
	mu sync.Mutex
	m  map[string]string
}

// maxNotifyCache bounds notifyCache; it starts over when full.
const maxNotifyCache = 16384

func (c *notifyCache) put(taskID, url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxNotifyCache {
		c.m = map[string]string{}
	}
	c.m[taskID] = url
}

func (c *notifyCache) get(taskID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	url, ok := c.m[taskID]
	return url, ok
}
