// The demo image's program: a greeting, its arguments, and a line from a file inside its image.
#include <stdio.h>

int main(int argc, char **argv) {
  printf("Hello from WebAssembly, run by WasmKata!\n");
  for (int i = 0; i < argc; i++) {
    printf("argv[%d] = %s\n", i, argv[i]);
  }
  FILE *f = fopen("/etc/motd", "r");
  char line[256];
  if (f == NULL || fgets(line, sizeof line, f) == NULL) {
    perror("cannot read /etc/motd from the image");
    return 1;
  }
  fclose(f);
  printf("/etc/motd says: %s", line);
  return 0;
}
