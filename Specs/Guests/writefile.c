// Writes files: each argument PATH=TEXT creates or truncates PATH and writes TEXT to it, then prints "PATH: ok" or
// "PATH: " and the error on stdout. Exits 0 when every write worked, else 1; one run shows each path's fate.
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int write_one(const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == NULL) {
    printf("%s: not PATH=TEXT\n", arg);
    return 1;
  }
  char path[4096];
  size_t len = (size_t)(eq - arg);
  if (len >= sizeof path) {
    printf("%s: path too long\n", arg);
    return 1;
  }
  memcpy(path, arg, len);
  path[len] = '\0';
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    printf("%s: %s\n", path, strerror(errno));
    return 1;
  }
  int failed = fputs(eq + 1, f) < 0;
  failed |= fclose(f) != 0;
  printf("%s: %s\n", path, failed ? strerror(errno) : "ok");
  return failed;
}

int main(int argc, char **argv) {
  int failed = 0;
  for (int i = 1; i < argc; i++)
    failed |= write_one(argv[i]);
  return failed;
}
