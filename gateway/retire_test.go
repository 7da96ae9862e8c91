package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/daemon"
)

// TestRetireSilentDaemons: the sweeper removes the presence record and the
// work consumer of a daemon silent for longer than RetireAfter, and a work
// consumer left without a daemon; it keeps a live daemon (a real one whose
// heartbeat is slower than RetireAfter, so only its waiting pull shows it
// is alive) and a silent daemon that still has an assignment pinned to it.
func TestRetireSilentDaemons(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 60*time.Second)
	presence, err := bus.OpenPresence(ctx, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	silent := func(id string) {
		t.Helper()
		if err := presence.Put(ctx, &bus.DaemonInfo{ID: id, Name: id, Status: bus.DaemonOffline, Heartbeat: bus.Duration(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.JS.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig(id, env.Setup)); err != nil {
			t.Fatal(err)
		}
	}
	silent("gone")
	silent("pinned")
	if err := bus.Assign(ctx, env.JS, bus.NewID(), "pinned", 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig("orphan", env.Setup)); err != nil {
		t.Fatal(err)
	}

	const retireAfter = 2 * time.Second
	d, err := daemon.New(daemon.Config{NC: env.Connect(t, "viberd-live"), ID: "live", Workspace: t.TempDir(), Home: t.TempDir(),
		NoBuiltinSkills: true, Heartbeat: time.Minute, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(dctx) }()
	t.Cleanup(func() { dcancel(); <-done })

	eventually(t, 30*time.Second, "the live daemon online", func() (bool, string) {
		_, err := presence.Get(ctx, "live")
		return err == nil, fmt.Sprint(err)
	})
	g := startGateway(t, env, Config{RetireAfter: retireAfter, SweepInterval: 100 * time.Millisecond})

	hasConsumer := func(id string) bool {
		_, err := env.JS.Consumer(ctx, bus.WorkStream, bus.DaemonWorkConsumer(id))
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	hasPresence := func(id string) bool {
		_, err := presence.Get(ctx, id)
		if err != nil && !errors.Is(err, bus.ErrDaemonNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	state := func() string {
		s := ""
		for _, id := range []string{"gone", "pinned", "orphan", "live"} {
			s += fmt.Sprintf("%s: presence %v consumer %v; ", id, hasPresence(id), hasConsumer(id))
		}
		return s
	}
	eventually(t, 30*time.Second, "the silent daemon and the orphan consumer retired", func() (bool, string) {
		return !hasPresence("gone") && !hasConsumer("gone") && !hasConsumer("orphan"), state()
	})
	// The live daemon's record is older than RetireAfter by now too; a
	// sweep of our own keeps it and the pinned one.
	if info, err := presence.Get(ctx, "live"); err != nil || time.Since(info.LastSeen) < retireAfter {
		t.Fatalf("the live daemon's record should be older than %s: %+v, %v", retireAfter, info, err)
	}
	retired, err := g.RetireDaemons(ctx)
	if err != nil || len(retired) > 0 {
		t.Errorf("a sweep after the retirements retired %v (error %v), want nothing", retired, err)
	}
	if !hasPresence("live") || !hasConsumer("live") {
		t.Errorf("a live daemon was retired: %s", state())
	}
	if !hasPresence("pinned") || !hasConsumer("pinned") {
		t.Errorf("a daemon with a pinned assignment was retired: %s", state())
	}
}
