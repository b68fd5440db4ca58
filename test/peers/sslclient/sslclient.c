// sslclient: a Streamable HTTP client on the OpenSSL API, built against BoringSSL (Debian's android-libboringssl:
// libssl.so.0) or OpenSSL 1.1 (libssl.so.1.1, which bookworm no longer ships) for the end-to-end tests. It POSTs
// initialize, then the tools/call in a file with the session id it got, each on a TLS connection of its own
// (HTTP/1.1, Connection: close, certificates not checked), and checks that the answer echoes: the traffic mcpscope
// must see through its SSL_write/SSL_read uprobes on those libraries. test/peers/README.md has the build commands.
//
//	sslclient 127.0.0.1 PORT /mcp INITIALIZE.json CALL.json
//
// Exit status 0 when the answer to the call contains "Echo: "; 1 with a message on stderr otherwise. With
// SSLCLIENT_WAIT_MS set it waits that long before its first request: a program exec'd by a watched process is
// probed some milliseconds after its exec (docs/kernel.md), and this client would otherwise be done by then.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "sslclient: %s\n", what);
	exit(1);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open a request file");
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc(size + 1);
	if (!b || fread(b, 1, size, f) != (size_t)size)
		die("cannot read a request file");
	fclose(f);
	b[size] = 0;
	*n = size;
	return b;
}

static void write_all(SSL *ssl, const char *p, size_t n)
{
	while (n > 0) {
		int w = SSL_write(ssl, p, n > 1 << 20 ? 1 << 20 : (int)n);
		if (w <= 0)
			die("SSL_write failed");
		p += w;
		n -= w;
	}
}

// post sends one request on a new TLS connection and returns the whole response (head and body), read until the
// server closes.
static char *post(const char *host, int port, const char *path, const char *sid, const char *body, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 || connect(fd, (struct sockaddr *)&a, sizeof a))
		die("cannot connect");
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		die("TLS handshake failed");
	char head[1024];
	int h = snprintf(head, sizeof head,
			 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
			 "Accept: application/json, text/event-stream\r\n%s%s%sContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 path, host, port, sid ? "Mcp-Session-Id: " : "", sid ? sid : "", sid ? "\r\n" : "", len);
	write_all(ssl, head, h);
	write_all(ssl, body, len);
	size_t cap = 1 << 16, got = 0;
	char *resp = malloc(cap);
	for (;;) {
		if (got + 16384 + 1 > cap) {
			cap *= 2;
			resp = realloc(resp, cap);
			if (!resp)
				die("out of memory");
		}
		int r = SSL_read(ssl, resp + got, 16384);
		if (r <= 0)
			break;
		got += r;
	}
	resp[got] = 0;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return resp;
}

int main(int argc, char **argv)
{
	if (argc != 6)
		die("usage: sslclient HOST PORT PATH INITIALIZE.json CALL.json");
	const char *wait = getenv("SSLCLIENT_WAIT_MS");
	if (wait)
		usleep(atoi(wait) * 1000);
	const char *host = argv[1], *path = argv[3];
	int port = atoi(argv[2]);
	size_t n;
	char *init = slurp(argv[4], &n);
	char *r = post(host, port, path, NULL, init, n);
	char *sid = strcasestr(r, "\r\nmcp-session-id:");
	if (!sid)
		die("no Mcp-Session-Id in the answer to initialize");
	sid += strlen("\r\nmcp-session-id:");
	sid += strspn(sid, " ");
	sid[strcspn(sid, "\r")] = 0;
	char *call = slurp(argv[5], &n);
	char *answer = post(host, port, path, sid, call, n);
	if (!strstr(answer, "Echo: "))
		die("the call was not answered with an echo");
	printf("ok\n");
	return 0;
}
