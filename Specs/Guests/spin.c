// Prints "spinning", then burns CPU forever without calling the host: only an interrupt can stop it.
#include <stdio.h>

int main(void) {
  puts("spinning");
  fflush(stdout);
  volatile unsigned long counter = 0;
  for (;;) {
    counter++;
  }
}
