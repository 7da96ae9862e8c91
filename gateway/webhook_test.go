package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// receiver is a webhook endpoint that fails the first fails requests with
// 500 and records every request.
type receiver struct {
	mu     sync.Mutex
	fails  int
	calls  int
	good   map[string]int // event id → 2xx answers
	bodies [][]byte
	sigs   []string
	ids    []string
	srv    *httptest.Server
}

func newReceiver(t *testing.T, fails int) *receiver {
	r := &receiver{fails: fails, good: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		r.bodies = append(r.bodies, body)
		r.sigs = append(r.sigs, req.Header.Get(bus.HeaderWebhookSignature))
		r.ids = append(r.ids, req.Header.Get(bus.HeaderIdempotencyKey))
		if r.calls <= r.fails {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		r.good[req.Header.Get(bus.HeaderWebhookEventID)]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) snapshot() (calls int, good map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	good = map[string]int{}
	for k, v := range r.good {
		good[k] = v
	}
	return r.calls, good
}

func TestWebhookDeliveredOnceAfterFailure(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	secret := "s3cret"
	g := startGateway(t, env, Config{WebhookSecret: secret, WebhookAllowPrivate: true, WebhookRetry: 100 * time.Millisecond})
	ctx := bustest.Context(t, 60*time.Second)
	rcv := newReceiver(t, 1)

	sum, err := g.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "tell me when done", Notify: rcv.srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Notify != rcv.srv.URL+"/hook" {
		t.Fatalf("summary notify %q", sum.Notify)
	}
	// No daemon: cancelling the pending task ends it at once, with a
	// terminal event written by the gateway.
	if _, err := g.CancelTask(ctx, &bus.CancelTaskRequest{ID: sum.ID, Reason: "enough"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the delivery recorded as delivered", func() (bool, string) {
		resp, err := g.Webhooks(ctx, sum.ID)
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Deliveries) != 1 {
			return false, fmt.Sprintf("%d deliveries", len(resp.Deliveries))
		}
		d := resp.Deliveries[0]
		return d.State == bus.WebhookDelivered, fmt.Sprintf("%+v", d)
	})
	resp, _ := g.Webhooks(ctx, sum.ID)
	d := resp.Deliveries[0]
	if d.Attempts != 2 || d.LastStatus != http.StatusNoContent || d.Type != bus.TypeCancelled || d.DeliveredAt == nil {
		t.Fatalf("delivery: %+v; want delivered on attempt 2 with 204", d)
	}
	calls, good := rcv.snapshot()
	if calls != 2 || len(good) != 1 || good[d.EventID] != 1 {
		t.Fatalf("receiver saw %d calls, successes %v; want 2 calls and one success for %s", calls, good, d.EventID)
	}
	rcv.mu.Lock()
	for i, body := range rcv.bodies {
		if !bus.VerifyWebhook([]byte(secret), body, rcv.sigs[i]) {
			t.Errorf("request %d: signature %q does not verify", i+1, rcv.sigs[i])
		}
		if bus.VerifyWebhook([]byte("other"), body, rcv.sigs[i]) {
			t.Errorf("request %d: signature verifies under the wrong secret", i+1)
		}
		if rcv.ids[i] != d.EventID {
			t.Errorf("request %d: idempotency key %q, want %s", i+1, rcv.ids[i], d.EventID)
		}
		ev, err := bus.ParseEvent(body)
		if err != nil || ev.ID != d.EventID || ev.Type != bus.TypeCancelled || ev.Subject != sum.ID {
			t.Errorf("request %d: body is not the terminal event: %v %+v", i+1, err, ev)
		}
	}
	rcv.mu.Unlock()
	// The consumer holds nothing more: no second delivery is coming.
	eventually(t, 10*time.Second, "the webhook consumer drained", func() (bool, string) {
		c, err := env.JS.Consumer(ctx, bus.TaskStream, bus.WebhookConsumer)
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.NumAckPending == 0 && info.NumPending == 0, fmt.Sprintf("ack pending %d pending %d", info.NumAckPending, info.NumPending)
	})
	if calls, _ := rcv.snapshot(); calls != 2 {
		t.Fatalf("receiver saw %d calls, want 2", calls)
	}
}

func TestWebhookPrivateNetworkRefused(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{WebhookSecret: "x", WebhookRetry: 100 * time.Millisecond})
	ctx := bustest.Context(t, 30*time.Second)
	rcv := newReceiver(t, 0)
	for _, u := range []string{rcv.srv.URL, "http://10.1.2.3/hook", "http://[::1]:9/x"} {
		if _, err := g.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "g", Notify: u}); !errors.Is(err, bus.ErrMalformed) {
			t.Errorf("notify %s: %v, want refused as malformed", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/x", "https://user:pw@example.com/", "not a url"} {
		if _, err := g.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "g", Notify: u}); !errors.Is(err, bus.ErrMalformed) {
			t.Errorf("notify %s: %v, want malformed", u, err)
		}
	}
	// A name that resolves to loopback passes the request check and is
	// refused at delivery, without retries, and the refusal is recorded.
	_, port, _ := net.SplitHostPort(rcv.srv.Listener.Addr().String())
	sum, err := g.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "g", Notify: "http://localhost:" + port + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.CancelTask(ctx, &bus.CancelTaskRequest{ID: sum.ID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the delivery recorded as refused", func() (bool, string) {
		resp, err := g.Webhooks(ctx, sum.ID)
		if err != nil || len(resp.Deliveries) != 1 {
			return false, fmt.Sprint(resp, err)
		}
		return resp.Deliveries[0].State == bus.WebhookRefused, fmt.Sprintf("%+v", resp.Deliveries[0])
	})
	if calls, _ := rcv.snapshot(); calls != 0 {
		t.Fatalf("the receiver on loopback was called %d times", calls)
	}
}

// TestWebhookLeftToAGatewayWithASecret: a gateway without a webhook secret
// takes no terminal event from the webhook consumer (it could sign
// nothing, and used to give such deliveries up after its attempts), so a
// notification waits for a gateway that has one and is delivered once.
func TestWebhookLeftToAGatewayWithASecret(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 60*time.Second)
	plain := startGateway(t, env, Config{})
	rcv := newReceiver(t, 0)
	// A task that asked for a notification (created with a secret-bearing
	// gateway's rules; written here as that gateway would).
	id := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, id, bus.GatewaySource("gw-signing"), &bus.Created{Goal: "tell me", Notify: rcv.srv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.CancelTask(ctx, &bus.CancelTaskRequest{ID: id, Reason: "enough"}); err != nil {
		t.Fatal(err)
	}
	pending := func() (uint64, int, error) {
		c, err := env.JS.Consumer(ctx, bus.TaskStream, bus.WebhookConsumer)
		if err != nil {
			return 0, 0, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		return info.NumPending, info.NumAckPending, nil
	}
	eventually(t, 10*time.Second, "the terminal event pending on the webhook consumer, taken by nobody", func() (bool, string) {
		n, acks, err := pending()
		if err != nil {
			return false, err.Error()
		}
		return n == 1 && acks == 0, fmt.Sprintf("pending %d, ack pending %d", n, acks)
	})
	if calls, _ := rcv.snapshot(); calls != 0 {
		t.Fatalf("the gateway without a secret made %d deliveries", calls)
	}
	signing := startGateway(t, env, Config{WebhookSecret: "s3cret", WebhookAllowPrivate: true})
	eventually(t, 20*time.Second, "delivered by the gateway with the secret", func() (bool, string) {
		resp, err := signing.Webhooks(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Deliveries) != 1 {
			return false, fmt.Sprintf("%d deliveries", len(resp.Deliveries))
		}
		return resp.Deliveries[0].State == bus.WebhookDelivered, fmt.Sprintf("%+v", resp.Deliveries[0])
	})
	if calls, good := rcv.snapshot(); calls != 1 || len(good) != 1 {
		t.Fatalf("receiver saw %d calls, successes %v; want one delivery", calls, good)
	}
}
