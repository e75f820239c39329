// Prints one known line and exits 0: the smallest thing a shim must run.
#include <stdio.h>

int main(void) {
  puts("hello from wasm");
  return 0;
}
