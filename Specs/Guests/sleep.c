// Prints "sleeping", then blocks in the host (poll_oneoff) for argv[1] seconds.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  puts("sleeping");
  fflush(stdout);
  sleep(argc > 1 ? (unsigned)atoi(argv[1]) : 1);
  return 0;
}
