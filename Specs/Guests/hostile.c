// A guest that misbehaves on purpose; argv[1] picks how:
//   env            prints its whole environment, one variable per line
//   escape         tries to read host files by every way out of the rootfs it knows; one line per attempt
//   flood N        N separate write(2) calls of one 8-byte line each ("%07d\n"), then the rate on stderr
//   tick MS        "tick N" every MS milliseconds, forever
//   grow           mallocs and touches 1 MiB after 1 MiB until refused, says how far it got, then aborts
//   say TEXT CODE  prints TEXT and exits with CODE (a well-behaved guest for load runs)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Reads the start of PATH: "PATH: denied (reason)" or "PATH: read <first line>".
static void attempt(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("%s: denied (%s)\n", path, strerror(errno));
    return;
  }
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) {
    printf("%s: denied (%s)\n", path, strerror(errno));
    return;
  }
  buf[n] = 0;
  buf[strcspn(buf, "\n")] = 0;
  printf("%s: read %s\n", path, buf);
}

static int escape(void) {
  const char *paths[] = {
      "/etc/passwd",                    // absolute: the image's own file, never the host's
      "../../../../../../etc/passwd",   // climbing out of the cwd
      "/../../../etc/passwd",           // climbing out of the root
      "/etc/../../../../etc/passwd",    // climbing out from below
      "/outlink/passwd",                // image symlink /outlink -> /etc (absolute target)
      "/uplink",                        // image symlink /uplink -> ../../../../../../etc/passwd
      "/proc/self/environ",             // the shim's environment, if /proc were the host's
      "/proc/1/root/etc/passwd",        // the host's root through procfs
  };
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    attempt(paths[i]);
  }
  // Links made at run time, pointing out of the rootfs.
  if (symlink("/etc/passwd", "/tmp/abs-link") == 0) {
    attempt("/tmp/abs-link");
  } else {
    printf("/tmp/abs-link: not created (%s)\n", strerror(errno));
  }
  if (symlink("../../../../../../../etc/passwd", "/tmp/rel-link") == 0) {
    attempt("/tmp/rel-link");
  } else {
    printf("/tmp/rel-link: not created (%s)\n", strerror(errno));
  }
  return 0;
}

static int flood(long count) {
  char line[16];
  long long start = now_ms();
  for (long i = 0; i < count; i++) {
    snprintf(line, sizeof line, "%07ld\n", i % 10000000);
    if (write(1, line, 8) != 8) {
      fprintf(stderr, "flood: write %ld failed: %s\n", i, strerror(errno));
      return 1;
    }
  }
  long long ms = now_ms() - start;
  fprintf(stderr, "flood: %ld writes in %lld ms\n", count, ms);
  return 0;
}

static int tick(long ms) {
  struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
  for (long i = 0;; i++) {
    printf("tick %ld\n", i);
    fflush(stdout);
    nanosleep(&pause, NULL);
  }
}

// Each block is chained to the last one: memory that is never read could otherwise be optimised away, malloc and all.
static void *volatile last_block;

static int grow(void) {
  long mebibytes = 0;
  for (;;) {
    char *block = malloc(1 << 20);
    if (block == NULL) {
      break;
    }
    memset(block, 0xA5, 1 << 20);
    *(void **)block = last_block;
    last_block = block;
    mebibytes++;
  }
  fprintf(stderr, "grow: refused after %ld MiB\n", mebibytes);
  abort();
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  long n = argc > 2 ? atol(argv[2]) : 0;
  if (strcmp(mode, "env") == 0) {
    for (char **e = environ; *e != NULL; e++) {
      puts(*e);
    }
    return 0;
  }
  if (strcmp(mode, "escape") == 0) {
    return escape();
  }
  if (strcmp(mode, "flood") == 0) {
    return flood(n);
  }
  if (strcmp(mode, "tick") == 0) {
    return tick(n > 0 ? n : 20);
  }
  if (strcmp(mode, "grow") == 0) {
    return grow();
  }
  if (strcmp(mode, "say") == 0 && argc > 3) {
    puts(argv[2]);
    return atoi(argv[3]);
  }
  fprintf(stderr, "hostile: unknown mode \"%s\"\n", mode);
  return 2;
}
