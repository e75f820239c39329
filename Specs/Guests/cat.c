// Copies stdin to stdout until end of file.
#include <unistd.h>

int main(void) {
  static char buf[65536];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) > 0) {
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(1, buf + done, (size_t)(n - done));
      if (w < 0) {
        return 1;
      }
      done += w;
    }
  }
  return n < 0 ? 1 : 0;
}
