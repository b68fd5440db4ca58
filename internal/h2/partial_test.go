package h2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// TestPartialDecoder encodes random header sets with x/net's encoder (table size changes included) and starts a
// partial decoder at every block: each field it returns must be the true one, in order, a complete block must be
// exactly the truth. (How much it recovers depends on how often the encoder inserts: a field inserted before
// capture and reused ever after stays unknown.)
func TestPartialDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	names := []string{":method", ":path", ":status", "content-type", "mcp-session-id", "mcp-protocol-version", "x-a", "x-b", "accept"}
	values := []string{"POST", "GET", "/mcp", "200", "application/json", "text/event-stream", "2025-11-25", "s-1", "s-2", "v"}
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	var blocks [][]byte
	var truth [][]hpack.HeaderField
	for i := range 300 {
		if i == 150 {
			enc.SetMaxDynamicTableSize(1024)
		}
		buf.Reset()
		var fs []hpack.HeaderField
		for range 1 + rng.IntN(8) {
			f := hpack.HeaderField{Name: names[rng.IntN(len(names))], Value: values[rng.IntN(len(values))]}
			if rng.IntN(10) == 0 {
				f.Value = fmt.Sprint(rng.IntN(1000)) // a fresh literal
			}
			f.Sensitive = rng.IntN(20) == 0
			enc.WriteField(f)
			fs = append(fs, f)
		}
		blocks = append(blocks, bytes.Clone(buf.Bytes()))
		truth = append(truth, fs)
	}
	for start := 0; start < len(blocks); start += 7 {
		var d partialDecoder
		completes := 0
		for i := start; i < len(blocks); i++ {
			got, complete, err := d.decode(blocks[i])
			if err != nil {
				t.Fatalf("start %d block %d: %v", start, i, err)
			}
			if complete {
				completes++
				if !slices.Equal(got, truth[i]) {
					t.Fatalf("start %d block %d complete but\n got %v\nwant %v", start, i, got, truth[i])
				}
				continue
			}
			// Every decoded field is a true one, in order.
			j := 0
			for _, f := range got {
				for j < len(truth[i]) && truth[i][j] != f {
					j++
				}
				if j == len(truth[i]) {
					t.Fatalf("start %d block %d: invented %v; truth %v", start, i, f, truth[i])
				}
				j++
			}
		}
		if start == 0 && completes != len(blocks) {
			t.Errorf("from the start, only %d of %d blocks complete", completes, len(blocks))
		}
	}
}

func TestPartialDecoderMalformed(t *testing.T) {
	var d partialDecoder
	for _, b := range [][]byte{{0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, {0x40, 0x85, 'a'}, {0x7f}} {
		if _, _, err := d.decode(b); err == nil {
			t.Errorf("%x accepted", b)
		}
	}
}
