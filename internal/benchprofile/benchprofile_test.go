package benchprofile

import (
	"bytes"
	"errors"
	"testing"
)

// Only a loopback IP literal with a port is served: no wildcard, no host name (which could
// resolve elsewhere), no missing port.
func TestStartRefusesAddressesThatAreNotLoopback(t *testing.T) {
	for _, addr := range []string{"", ":0", "0.0.0.0:0", "[::]:0", "localhost:0", "10.0.0.1:0", "192.168.1.2:6061", "127.0.0.1"} {
		_, stop, err := Start(addr)
		if err == nil {
			_ = stop()
			t.Errorf("Start(%q) served", addr)
			continue
		}
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Start(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
}

// gzipMagic starts every profile runtime/pprof writes (gzip-compressed protocol buffers).
var gzipMagic = []byte{0x1f, 0x8b}

// The bench's sequence: heap, start, stop, heap; a second start while one runs and a stop with
// none running are refused rather than mixing two phases' samples.
func TestProfilesRoundTrip(t *testing.T) {
	addr, stop, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	c := NewClient(addr)
	t.Cleanup(c.Close)
	ctx := t.Context()

	var heap bytes.Buffer
	if err := c.Heap(ctx, &heap); err != nil || !bytes.HasPrefix(heap.Bytes(), gzipMagic) {
		t.Fatalf("Heap: %v, %d bytes", err, heap.Len())
	}
	if err := c.StopCPU(ctx, &bytes.Buffer{}); err == nil {
		t.Error("StopCPU without a running profile succeeded")
	}
	if err := c.StartCPU(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StartCPU(ctx); err == nil {
		t.Error("a second StartCPU succeeded")
	}
	var cpu bytes.Buffer
	if err := c.StopCPU(ctx, &cpu); err != nil || !bytes.HasPrefix(cpu.Bytes(), gzipMagic) {
		t.Fatalf("StopCPU: %v, %d bytes", err, cpu.Len())
	}
	// The endpoint is reusable: the bench profiles each phase in turn.
	if err := c.StartCPU(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StopCPU(ctx, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}
