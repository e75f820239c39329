// Prints argv[1] on stdout and argv[2] on stderr (each as a line), then sleeps argv[3] seconds, then exits with
// argv[4]. Missing arguments: nothing printed, no sleep, exit 0.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc > 1) {
    puts(argv[1]);
    fflush(stdout);
  }
  if (argc > 2) {
    fprintf(stderr, "%s\n", argv[2]);
    fflush(stderr);
  }
  if (argc > 3) {
    sleep((unsigned)atoi(argv[3]));
  }
  return argc > 4 ? atoi(argv[4]) : 0;
}
