// Command logproxy is the intrusive alternative to mcpscope measured by the benchmarks: a stdio MCP proxy that
// spawns the server, copies its own stdin to the server's stdin and the server's stdout to its own stdout, line by
// line, and appends every line to a log file (one write per line, as a simple logging proxy does).
//
//	logproxy -log FILE -- SERVER ARGS...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

func main() {
	logPath := flag.String("log", "proxy.log", "file that receives every line, prefixed with its direction")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: logproxy -log FILE -- SERVER ARGS...")
		os.Exit(2)
	}
	logf, err := os.Create(*logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "logproxy:", err)
		os.Exit(1)
	}
	defer logf.Close()
	var logMu sync.Mutex
	logLine := func(prefix string, line []byte) {
		logMu.Lock()
		defer logMu.Unlock()
		buf := make([]byte, 0, len(prefix)+len(line)+1)
		buf = append(append(buf, prefix...), line...)
		if len(line) == 0 || line[len(line)-1] != '\n' {
			buf = append(buf, '\n')
		}
		_, _ = logf.Write(buf)
	}

	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stderr = os.Stderr
	sin, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "logproxy:", err)
		os.Exit(1)
	}
	sout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "logproxy:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "logproxy:", err)
		os.Exit(1)
	}
	pump := func(dst io.Writer, src io.Reader, prefix string) {
		r := bufio.NewReaderSize(src, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				logLine(prefix, line)
				if _, werr := dst.Write(line); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	done := make(chan struct{})
	go func() {
		pump(sin, os.Stdin, "c>s ")
		sin.Close()
	}()
	go func() {
		pump(os.Stdout, sout, "s>c ")
		close(done)
	}()
	<-done
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		os.Exit(1)
	}
}
