// Command mcpscope watches Model Context Protocol traffic on a Linux host with eBPF. See README.md.
package main

import (
	"os"

	"github.com/mcpscope/mcpscope/internal/app"
)

func main() {
	os.Exit(app.Main())
}
