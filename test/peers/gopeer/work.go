package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The work tool of gopeer's server: a known footprint, for the footprint tests. It starts `sh -c 'cat FILE
// >/dev/null; exit 7'`, opens and reads FILE itself, connects to 127.0.0.1:PORT, tries the GPU device files if asked,
// then burns UserMS milliseconds of
// user CPU and SysMS of kernel CPU on one locked thread, measured with getrusage(RUSAGE_THREAD), and reports what it
// measured so the test can compare.
type workIn struct {
	File   string `json:"file" jsonschema:"a file to open and read, and to have sh's cat read"`
	Port   int    `json:"port,omitempty" jsonschema:"a TCP port on 127.0.0.1 to connect to (0: none)"`
	UserMS int    `json:"user_ms" jsonschema:"milliseconds of user CPU to burn"`
	SysMS  int    `json:"sys_ms" jsonschema:"milliseconds of kernel CPU to burn"`
	Rel    string `json:"rel_file,omitempty" jsonschema:"a file to open by a path relative to the working directory"`
	GPU    bool   `json:"gpu,omitempty" jsonschema:"also try to open /dev/nvidia0 and /dev/dri/card0 (whether or not they exist)"`
}

type workOut struct {
	ShExit   int     `json:"sh_exit"`
	UserMS   float64 `json:"user_ms"` // measured on the burning thread
	SysMS    float64 `json:"sys_ms"`
	ReadSize int     `json:"read_size"`
}

func addWorkTool(server *mcp.Server) {
	mcp.AddTool(server, &mcp.Tool{Name: "work", Description: "Starts sh, reads a file, connects to a loopback port and burns CPU: a known footprint."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in workIn) (*mcp.CallToolResult, workOut, error) {
			var out workOut
			if in.UserMS < 0 || in.UserMS > 5000 || in.SysMS < 0 || in.SysMS > 5000 {
				return nil, out, errors.New("user_ms and sys_ms must be between 0 and 5000")
			}
			err := exec.CommandContext(ctx, "sh", "-c", `cat "$0" >/dev/null; exit 7`, in.File).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				return nil, out, fmt.Errorf("sh: %v, want exit status 7", err)
			}
			out.ShExit = ee.ExitCode()
			b, err := os.ReadFile(in.File)
			if err != nil {
				return nil, out, err
			}
			out.ReadSize = len(b)
			if in.Rel != "" {
				if _, err := os.ReadFile(in.Rel); err != nil {
					return nil, out, err
				}
			}
			if in.Port > 0 {
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", in.Port), 5*time.Second)
				if err != nil {
					return nil, out, err
				}
				c.Close()
			}
			if in.GPU {
				for _, dev := range []string{"/dev/nvidia0", "/dev/dri/card0"} {
					if f, err := os.Open(dev); err == nil {
						f.Close()
					}
				}
			}
			out.UserMS, out.SysMS = burn(time.Duration(in.UserMS)*time.Millisecond, time.Duration(in.SysMS)*time.Millisecond)
			return nil, out, nil
		})
}

// burn spends user, then kernel, CPU time on one thread and returns what getrusage measured of each.
func burn(user, sys time.Duration) (userMS, sysMS float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	usage := func() (u, s time.Duration) {
		var ru unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
	}
	u0, s0 := usage()
	x := uint64(1)
	for u, _ := usage(); u-u0 < user; u, _ = usage() {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	buf := make([]byte, 1<<20)
	zero, err := os.Open("/dev/zero")
	if err == nil {
		for _, s := usage(); s-s0 < sys; _, s = usage() {
			_, _ = zero.Read(buf) // the kernel clears 1 MiB: kernel time
		}
		zero.Close()
	}
	u1, s1 := usage()
	_ = x
	return float64(u1-u0) / 1e6, float64(s1-s0) / 1e6
}

// callWork calls the work tool with args (JSON, as given to -work) and puts what the server measured in d.
func callWork(ctx context.Context, cs *mcp.ClientSession, args string, d map[string]any) (string, error) {
	var in map[string]any
	if err := json.Unmarshal([]byte(args), &in); err != nil {
		return "", fmt.Errorf("-work: %w", err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "work", Arguments: in})
	if err != nil {
		return "", err
	}
	d["structured_content"] = res.StructuredContent
	if res.IsError {
		return "", fmt.Errorf("work: %s", textOf(res))
	}
	return "done", nil
}
