// Prints the file named by argv[1]; if it cannot be opened, says why on stderr and exits 1.
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "";
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "readfile: %s: %s\n", path, strerror(errno));
    return 1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    fwrite(buf, 1, n, stdout);
  }
  fclose(f);
  return 0;
}
