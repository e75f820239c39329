// Grows its linear memory one 64 KiB page at a time up to argv[1] MiB (default 64) and prints where it stopped:
// "refused at N bytes" when memory.grow returned -1 (a memory limit), "reached N bytes" at the target. With argv[2]
// = S seconds it stays that long: while refused it retries every 100 ms (printing each new size, so a raised limit
// shows), and once at the target it sleeps the rest in the host.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long size(void) { return (unsigned long)__builtin_wasm_memory_size(0) * 65536UL; }

// 1 when memory.grow was refused before the target.
static int grow_to(unsigned long target) {
  while (size() < target) {
    if (__builtin_wasm_memory_grow(0, 1) == (unsigned long)-1)
      return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  unsigned long target = (argc > 1 ? strtoul(argv[1], 0, 10) : 64) << 20;
  long tenths = argc > 2 ? atol(argv[2]) * 10 : 0;
  unsigned long shown = 0;
  for (;;) {
    int refused = grow_to(target);
    if (size() != shown) {
      shown = size();
      printf("%s %lu bytes\n", refused ? "refused at" : "reached", shown);
      fflush(stdout);
    }
    if (!refused) {
      sleep((unsigned)(tenths / 10));
      return 0;
    }
    if (tenths-- <= 0)
      return 0;
    usleep(100000);
  }
}
