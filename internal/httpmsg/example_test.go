package httpmsg_test

import (
	"fmt"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
)

func ExampleRedact() {
	h := httpmsg.Headers{{Name: "Authorization", Value: "Bearer t"}, {Name: "Accept", Value: "text/event-stream"}}
	fmt.Println(httpmsg.Redact(h))
	// Output: [{Authorization [redacted]} {Accept text/event-stream}]
}
