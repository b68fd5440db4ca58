package stream_test

import (
	"fmt"

	"github.com/mcpscope/mcpscope/internal/stream"
)

func Example() {
	r := stream.New(stream.Config{}, func(f stream.Frame) {
		// f.Data is only valid here: a consumer that keeps it must copy it.
		fmt.Printf("%v @%d %s truncated=%v lost=%d\n", f.Key, f.Offset, f.Data, f.Truncated, f.LostBytes)
	})
	k := stream.Key{Kind: stream.KindPipe, Ino: 4242}
	w := stream.Writer{Pid: 100, Tid: 100, Comm: "server"}

	// The second write of the stream arrives first; it is held until the first fills the gap.
	r.Push(stream.Chunk{Key: k, Gen: 1, Offset: 22, Data: []byte(`{"id":2,"result":{}}` + "\n"), Writer: w})
	r.Push(stream.Chunk{Key: k, Gen: 1, Offset: 0, Data: []byte(`{"id":1,"result":{}}` + "\r\n"), Writer: w})
	// 30 bytes went missing (LostTotal says so): the message they cut is truncated, the next one is whole.
	r.Push(stream.Chunk{Key: k, Gen: 1, Offset: 43, Data: []byte(`{"id":3,"res`), Writer: w})
	r.Push(stream.Chunk{Key: k, Gen: 1, Offset: 85, LostTotal: 30, Data: []byte(`{"id":4,"result":{}}` + "\n"), Writer: w})
	r.Close(k)
	fmt.Println(r.Stats().ReorderedChunks, "reordered,", r.Stats().LostBytes, "bytes lost")

	// Output:
	// pipe:4242 @0 {"id":1,"result":{}} truncated=false lost=0
	// pipe:4242 @22 {"id":2,"result":{}} truncated=false lost=0
	// pipe:4242 @43 {"id":3,"res truncated=true lost=30
	// pipe:4242 @85 {"id":4,"result":{}} truncated=false lost=0
	// 1 reordered, 30 bytes lost
}
