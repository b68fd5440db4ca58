"""pythreads: an MCP stdio server that runs each tools/call on a thread of its own, and a client that sends it two
calls at once. Python's standard library only; the end-to-end tests run it under `mcpscope watch` to check that the
footprints of concurrent calls are split by thread (TestFootprintConcurrentCallsByThread).

    python3 pythreads.py client FILE_A FILE_B    # starts `python3 pythreads.py server`, calls `touch` on each file
    python3 pythreads.py linger LATE FILE        # calls `linger` on LATE, waits, then `read` on FILE
    python3 pythreads.py server                   # the server, on stdin/stdout

The tool `touch` opens `file`, has `cat` read `child_file` (a child process started from the call's thread), waits
until the other call has done the same (both calls are in flight: their epochs overlap), sleeps `ms`, and answers
from its thread. The main thread only reads requests and starts threads.

The tool `linger` starts `sh -c 'sleep S; cat LATE'` and answers as soon as Popen returns: a child that outlives its
call and reads `late` after it. The tool `read` opens `file`. The linger client calls linger, waits until the child has read LATE
(S + 1 s), then calls read: a call that runs after the lingering child did its work, with no call in between
(TestFootprintChildOutlivesCall).
"""

import json
import os
import subprocess
import sys
import threading
import time

PROTOCOL = "2025-06-18"


def serve():
    lock = threading.Lock()
    # Both calls' threads work after both requests were read: their work is in epochs that both calls cover.
    both_running = threading.Barrier(2, timeout=30)

    def send(msg):
        data = (json.dumps(msg) + "\n").encode()
        with lock:
            os.write(1, data)

    def touch(req):
        args = req["params"]["arguments"]
        both_running.wait()
        with open(args["file"], "rb") as f:
            f.read()
        subprocess.run(["cat", args["child_file"]], stdout=subprocess.DEVNULL, check=True)
        both_running.wait()
        time.sleep(args.get("ms", 100) / 1000)
        send({"jsonrpc": "2.0", "id": req["id"],
              "result": {"content": [{"type": "text", "text": "touched " + args["file"]}]}})

    def linger(req):
        args = req["params"]["arguments"]
        # Not waited for: it runs on after the call's answer, reparented when the server exits. The answer is sent as
        # soon as Popen returns, which it does when exec closed the child's close-on-exec pipe, before the exec is
        # complete and reported by the kernel's exec tracepoint: the exec must still be the call's.
        subprocess.Popen(["sh", "-c", 'sleep "$1"; cat "$0" >/dev/null', args["late"], str(args["seconds"])])
        send({"jsonrpc": "2.0", "id": req["id"], "result": {"content": [{"type": "text", "text": "started"}]}})

    def read(req):
        with open(req["params"]["arguments"]["file"], "rb") as f:
            f.read()
        send({"jsonrpc": "2.0", "id": req["id"], "result": {"content": [{"type": "text", "text": "read"}]}})

    tools = {"touch": touch, "linger": linger, "read": read}
    for line in sys.stdin.buffer:
        req = json.loads(line)
        method = req.get("method")
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": req["id"], "result": {
                "protocolVersion": PROTOCOL, "capabilities": {"tools": {}},
                "serverInfo": {"name": "mcpscope-pythreads", "version": "1.0.0"}}})
        elif method == "tools/call":
            threading.Thread(target=tools[req["params"]["name"]], args=(req,)).start()
        elif "id" in req:
            send({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "method not found"}})


def connect():
    """Starts the server and initializes a session; returns the server and its send and receive functions."""
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "server"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def send(msg):
        server.stdin.write((json.dumps(msg) + "\n").encode())
        server.stdin.flush()

    def receive():
        line = server.stdout.readline()
        if not line:
            sys.exit("pythreads client: the server closed its stdout")
        return json.loads(line)

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "mcpscope-pythreads-client", "version": "1.0.0"}}})
    receive()
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return server, send, receive


def finish(server, answers):
    server.stdin.close()
    if server.wait(timeout=30) != 0:
        sys.exit("pythreads client: the server failed")
    for a in answers:
        if "result" not in a:
            sys.exit("pythreads client: call failed: %s" % a)
    print(json.dumps({"answers": sorted(a["id"] for a in answers)}))


def client(files):
    server, send, receive = connect()
    for i, f in enumerate(files):
        send({"jsonrpc": "2.0", "id": 2 + i, "method": "tools/call", "params": {
            "name": "touch", "arguments": {"file": f, "child_file": f + ".child", "ms": 100}}})
    finish(server, [receive() for _ in files])


def linger_client(late, file):
    server, send, receive = connect()
    seconds = 1
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "linger", "arguments": {"late": late, "seconds": seconds}}})
    answers = [receive()]
    time.sleep(seconds + 1)
    send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "read", "arguments": {"file": file}}})
    answers.append(receive())
    finish(server, answers)


if __name__ == "__main__":
    if sys.argv[1:2] == ["server"]:
        serve()
    elif sys.argv[1:2] == ["client"] and len(sys.argv) == 4:
        client(sys.argv[2:])
    elif sys.argv[1:2] == ["linger"] and len(sys.argv) == 4:
        linger_client(*sys.argv[2:])
    else:
        sys.exit(__doc__)
