package daemon

import (
	"context"
	"testing"
	"time"
)

func TestSlotSet(t *testing.T) {
	t.Parallel()
	s := newSlotSet(1)
	ctx := context.Background()
	if err := s.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 2)
	go func() {
		if s.acquire(ctx, false) == nil {
			got <- "puller"
		}
	}()
	time.Sleep(20 * time.Millisecond) // let the puller wait first
	go func() {
		if s.acquire(ctx, true) == nil {
			got <- "urgent"
		}
	}()
	select {
	case w := <-got:
		t.Fatalf("%s took a slot while none was free", w)
	case <-time.After(50 * time.Millisecond):
	}
	s.release()
	if w := <-got; w != "urgent" {
		t.Fatalf("the first freed slot went to the %s, want the task taking its slot back", w)
	}
	s.release()
	if w := <-got; w != "puller" {
		t.Fatalf("then %s, want the puller", w)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.acquire(cctx, true); err == nil {
		t.Fatal("acquired beyond the capacity")
	}
	s.take() // over the capacity, balanced by a release
	s.release()
	s.release()
	if err := s.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// A waiter that gives a slot back and asks again at once goes behind the
// others already waiting.
func TestSlotSetIsFair(t *testing.T) {
	t.Parallel()
	s := newSlotSet(1)
	ctx := context.Background()
	if err := s.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	other := make(chan struct{})
	go func() {
		if s.acquire(ctx, false) == nil {
			close(other)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	s.release()
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.acquire(cctx, false); err == nil {
		t.Fatal("the releaser took the slot back before the waiter")
	}
	select {
	case <-other:
	case <-time.After(time.Second):
		t.Fatal("the waiter never got the slot")
	}
}
