// Writes argv[1] MiB to stdout; byte at offset i is i % 251, so a reader can check every byte.
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  static unsigned char buf[65536];
  unsigned long long total = (unsigned long long)(argc > 1 ? atoi(argv[1]) : 1) << 20;
  for (unsigned long long offset = 0; offset < total; offset += sizeof buf) {
    for (size_t j = 0; j < sizeof buf; j++) {
      buf[j] = (unsigned char)((offset + j) % 251);
    }
    for (size_t done = 0; done < sizeof buf;) {
      ssize_t w = write(1, buf + done, sizeof buf - done);
      if (w < 0) {
        return 1;
      }
      done += (size_t)w;
    }
  }
  return 0;
}
