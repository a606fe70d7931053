/* apiprobe PATH: connect(2) to berth's API socket and speak the first bytes of HTTP/2 (gRPC's transport):
 * send the client preface and an empty SETTINGS frame, expect the server's SETTINGS frame back.
 * Static, so it runs in busybox containers. Exit 0: the API answered; 2: connect failed (errno printed);
 * 3: connected but no HTTP/2 answer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static const char *self_label(void) {
  static char buf[256];
  FILE *f = fopen("/proc/self/attr/current", "r");
  if (!f || !fgets(buf, sizeof buf, f)) { if (f) fclose(f); return "?"; }
  fclose(f);
  buf[strcspn(buf, "\n")] = 0;
  return buf;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/run/berth/api.sock";
  printf("[as %s] ", self_label());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) { printf("socket: %s\n", strerror(errno)); return 2; }
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { printf("connect %s: %s\n", path, strerror(errno)); return 2; }
  static const char pre[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static const unsigned char settings[9] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
  struct timeval tv = { .tv_sec = 5 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (write(fd, pre, sizeof pre - 1) < 0 || write(fd, settings, sizeof settings) < 0) { printf("write: %s\n", strerror(errno)); return 3; }
  unsigned char h[9];
  size_t got = 0;
  while (got < sizeof h) {
    ssize_t n = read(fd, h + got, sizeof h - got);
    if (n <= 0) { printf("connected to %s, but no HTTP/2 answer (%s)\n", path, n < 0 ? strerror(errno) : "EOF"); return 3; }
    got += (size_t)n;
  }
  if (h[3] != 4) { printf("connected to %s, first frame type %u (not SETTINGS)\n", path, h[3]); return 3; }
  printf("connected to %s; the API answered with an HTTP/2 SETTINGS frame\n", path);
  close(fd);
  return 0;
}
