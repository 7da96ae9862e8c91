// Package wiredoc renders docs/wire.md, the wire on one page, from the
// registry of package bus ([bus.Wire]): every subject, stream, consumer,
// bucket, header, event type, API endpoint, error code, HTTP route and SSE
// event, with who writes and who reads it.
//
// The page is generated; do not edit it. After changing the wire in bus,
// run
//
//	go generate ./internal/wiredoc
//
// A test fails while docs/wire.md differs from what [Render] returns.
package wiredoc

//go:generate go run ./gen -out ../../docs/wire.md
